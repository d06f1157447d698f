/* Integration tests that run real programs (python3, perl, git, bash, sort, gcc) plain, under LD_PRELOAD and under `leakwatch run`, and require the same output and exit status. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

/* "@DIR@" in an argument is replaced by a fresh temporary directory prepared by `setup`. */
typedef struct {
    const char *name;
    const char *const *candidates; /* the executable: first existing */
    const char *args[8];           /* arguments after argv[0] */
    const char *stdin_text;
    int setup;                     /* SETUP_* */
} program_t;

enum { SETUP_NONE, SETUP_GIT_REPO, SETUP_C_FILE };

static const char *const python[] = { "/usr/bin/python3", "python3", NULL };
static const char *const perl[] = { "/usr/bin/perl", "perl", NULL };
static const char *const git[] = { "/usr/bin/git", "git", NULL };
static const char *const bash[] = { "/bin/bash", "bash", NULL };
static const char *const sort[] = { "/usr/bin/sort", "sort", NULL };
static const char *const gcc[] = { "/usr/bin/gcc", "gcc", "cc", NULL };

static const program_t programs[] = {
    { "python3", python,
      { "-c",
        "import json, collections\n"
        "d = collections.Counter(w for w in 'the quick brown fox jumps over the lazy dog the end'.split())\n"
        "print(json.dumps(d, sort_keys=True))\n"
        "print(sum(i * i for i in range(100000)))\n"
        "raise SystemExit(3)\n" },
      NULL, SETUP_NONE },
    { "perl", perl,
      { "-e",
        "my %h = map { $_ => $_ * 2 } 1 .. 5000; my @k = sort { $a <=> $b } keys %h;"
        " print scalar(@k), ' ', $h{4321}, ' ', join(',', @k[0 .. 4]), \"\\n\"; exit 5;" },
      NULL, SETUP_NONE },
    { "git --version", git, { "--version" }, NULL, SETUP_NONE },
    { "git status", git, { "-C", "@DIR@", "status" }, NULL, SETUP_GIT_REPO },
    { "bash", bash,
      { "-c",
        "declare -A sq; for i in $(seq 1 200); do sq[$i]=$((i * i)); done; s=$(echo sub shell); "
        "echo \"${sq[17]} ${#sq[@]} $s\"; f() { local x=$1; echo \"f:$x\"; }; f arg; exit 4" },
      NULL, SETUP_NONE },
    { "sort", sort, { "-t", ",", "-k2,2n", "-k1,1" },
      "pear,3\napple,10\nfig,3\nbanana,1\ncherry,10\ndate,2\nelder,3\n", SETUP_NONE },
    { "gcc --version", gcc, { "--version" }, NULL, SETUP_NONE },
    { "gcc compile", gcc, { "-O1", "-c", "@DIR@/unit.c", "-o", "@DIR@/unit.o" }, NULL, SETUP_C_FILE },
};
#define N_PROGRAMS ((int)(sizeof programs / sizeof programs[0]))

static void run_or_fail(const char *const *argv, const char *cwd)
{
    lwt_opts_t o = { .cwd = cwd };
    lwt_result_t *r = lwt_exec(argv, &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "setup failed%s", lwt_describe(r));
    lwt_free(r);
}

static void prepare(const program_t *p, const char *dir)
{
    char path[4096];
    if (p->setup == SETUP_GIT_REPO) {
        const char *g = lwt_which(git);
        run_or_fail(LWT_ARGV(g, "init", "-q", dir), NULL);
        snprintf(path, sizeof path, "%s/tracked.txt", dir);
        ck_assert(lwt_write_file(path, "tracked\n") == 0);
        run_or_fail(LWT_ARGV(g, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "tracked.txt"), dir);
        run_or_fail(LWT_ARGV(g, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"),
                    dir);
        ck_assert(lwt_write_file(path, "tracked\nchanged\n") == 0);
        snprintf(path, sizeof path, "%s/untracked.txt", dir);
        ck_assert(lwt_write_file(path, "new\n") == 0);
    } else if (p->setup == SETUP_C_FILE) {
        snprintf(path, sizeof path, "%s/unit.c", dir);
        ck_assert(lwt_write_file(path, "#include <stdio.h>\n#include <stdlib.h>\n"
                                       "struct node { int v; struct node *next; };\n"
                                       "int sum(const struct node *n) { int s = 0; for (; n; n = n->next) s += n->v;"
                                       " return s; }\n"
                                       "int main(void) { printf(\"%d\\n\", sum(NULL)); return 0; }\n") == 0);
    }
}

/* argv for program p with @DIR@ replaced; the strings live in `store`. */
static const char **build_argv(const program_t *p, const char *dir, char store[8][4096])
{
    static const char *argv[10];
    const char *exe = lwt_which(p->candidates);
    ck_assert_msg(exe != NULL, "%s is not installed", p->name);
    int k = 0;
    argv[k++] = exe;
    for (int i = 0; i < 8 && p->args[i]; i++) {
        const char *a = p->args[i], *at = strstr(a, "@DIR@");
        if (at) {
            snprintf(store[i], 4096, "%.*s%s%s", (int)(at - a), a, dir, at + 5);
            a = store[i];
        }
        argv[k++] = a;
    }
    argv[k] = NULL;
    return argv;
}

/* Prepares `dir` for the program, runs it plain (it must finish), and prepares `dir` again for the next run where
 * the run changed it. */
static lwt_result_t *run_plain(const program_t *p, const char *dir, const char **argv, const lwt_opts_t *o)
{
    prepare(p, dir);
    lwt_result_t *plain = lwt_exec(argv, o);
    ck_assert_msg(plain->exited && !plain->timed_out, "%s runs plain%s", p->name, lwt_describe(plain));
    if (p->setup == SETUP_C_FILE)
        prepare(p, dir);
    return plain;
}

/* Same stdout and exit status with the library preloaded (no report) as without it. */
START_TEST(test_preload_transparent)
{
    LWT_REQUIRE_BUILT();
    const program_t *p = &programs[_i];
    char *dir = lwt_mkdtemp();
    static char store[8][4096];
    const char **argv = build_argv(p, dir, store);
    lwt_opts_t o = { .stdin_text = p->stdin_text, .timeout_s = 240 };
    lwt_result_t *plain = run_plain(p, dir, argv, &o);
    lwt_result_t *pre = lwt_exec_preload(argv, &o);
    ck_assert_msg(lwt_same_outcome(plain, pre),
                  "%s: exit status or stdout differ under LD_PRELOAD; plain: status %d, stdout %.500s%s", p->name,
                  plain->exit_code, plain->out, lwt_describe(pre));
    ck_assert_msg(strstr(pre->err, "leakwatch:") == NULL, "%s: the library warned%s", p->name, lwt_describe(pre));
    lwt_free(plain);
    lwt_free(pre);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* Under `leakwatch run` (gate out of the way) the run completes, the program's stdout passes through, and the exit
 * status is the program's. */
START_TEST(test_leakwatch_run)
{
    LWT_REQUIRE_BUILT();
    const program_t *p = &programs[_i];
    char *dir = lwt_mkdtemp();
    static char store[8][4096];
    const char **argv = build_argv(p, dir, store);
    lwt_opts_t o = { .stdin_text = p->stdin_text, .timeout_s = 400 };
    lwt_result_t *plain = run_plain(p, dir, argv, &o);
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--max-leaks", "1000000000"), argv, &o);
    LWT_ASSERT_RUN(r, plain->exit_code);
    ck_assert_msg(strstr(r->out, plain->out) != NULL, "%s: the program's stdout passes through; plain: %.500s%s",
                  p->name, plain->out, lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) >= 1, "%s: at least one process reported%s", p->name,
                  lwt_describe(r));
    ck_assert_msg(lwt_total_count(r->report, NULL) >= 0, "%s: totals present%s", p->name, lwt_describe(r));
    lwt_free(plain);
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("real_programs");
    TCase *tc = tcase_create("LD_PRELOAD");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_preload_transparent, 0, N_PROGRAMS);
    suite_add_tcase(s, tc);
    tc = tcase_create("leakwatch run");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_leakwatch_run, 0, N_PROGRAMS);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}

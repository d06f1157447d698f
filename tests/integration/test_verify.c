/* The stack cache, proven: with LEAKWATCH_VERIFY=1 every cache hit (and every walk by learned rules) is checked
 * against a full unwind, and fixtures, the benchmark workload and real programs must show hits and zero
 * differences. The frame-pointer walk must leave programs built without frame pointers unharmed. */
#include "lwtest.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    long long hits, walks, misses, verified, mismatches, stacks;
    int dumps;
} stats_t;

/* Adds up the stack_cache members of every dump in dir, then empties it. */
static stats_t collect(const char *dir)
{
    stats_t st = { 0, 0, 0, 0, 0, 0, 0 };
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "leakwatch.", 10) != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t err;
        json_t *j = json_load_file(path, 0, &err);
        ck_assert_msg(j != NULL, "%s: %s", path, err.text);
        json_t *sc = json_object_get(j, "stack_cache");
        ck_assert_msg(json_is_object(sc), "%s has no stack_cache", path);
        st.hits += json_integer_value(json_object_get(sc, "hits"));
        st.walks += json_integer_value(json_object_get(sc, "walks"));
        st.misses += json_integer_value(json_object_get(sc, "misses"));
        st.stacks += json_integer_value(json_object_get(sc, "stacks"));
        st.verified += json_integer_value(json_object_get(sc, "verified"));
        st.mismatches += json_integer_value(json_object_get(sc, "mismatches"));
        st.dumps++;
        json_decref(j);
        unlink(path);
    }
    closedir(d);
    return st;
}

/* Runs argv under the library without a report, with `setting` and `also` (NAME=VALUE, `also` may be NULL) in its
 * environment and its dumps in the fresh directory made from the mkdtemp template `dir`. `opts` gives stdin and
 * the deadline. */
static lwt_result_t *run_dumping2(const char *const *argv, char *dir, const char *setting, const char *also,
                                  lwt_opts_t opts)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char preload[1100], dumpdir[64];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lwt_lib());
    snprintf(dumpdir, sizeof dumpdir, "LEAKWATCH_DUMP_DIR=%s", dir);
    const char *env[] = { preload, dumpdir, "LEAKWATCH_REPORT=none", setting, also, NULL };
    opts.env = env;
    return lwt_exec(argv, &opts);
}

static lwt_result_t *run_dumping(const char *const *argv, char *dir, const char *setting, lwt_opts_t opts)
{
    return run_dumping2(argv, dir, setting, NULL, opts);
}

/* Runs argv under the library in verification mode (with `also` in its environment unless NULL), checks the dumps
 * it wrote and returns their statistics. */
static stats_t verify_with(const char *const *argv, const char *stdin_text, const char *also)
{
    char dir[] = "/tmp/lwverify.XXXXXX";
    lwt_result_t *r = run_dumping2(argv, dir, "LEAKWATCH_VERIFY=1", also, (lwt_opts_t){ .stdin_text = stdin_text });
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    stats_t st = collect(dir);
    rmdir(dir);
    ck_assert_msg(st.dumps >= 1, "%s wrote no dump", argv[0]);
    ck_assert_msg(st.hits > 0 && st.verified == st.hits, "%s: %lld hits, %lld verified", argv[0], st.hits, st.verified);
    ck_assert_msg(st.mismatches == 0, "%s: %lld of %lld cache hits differ from a full unwind", argv[0], st.mismatches,
                  st.verified);
    lwt_free(r);
    return st;
}

static void verify_program(const char *const *argv, const char *stdin_text)
{
    verify_with(argv, stdin_text, NULL);
}

START_TEST(test_verify_hard_cases)
{
    verify_program(LWT_ARGV(lwt_fixture("verify_cases")), NULL);
}
END_TEST

START_TEST(test_verify_fixtures)
{
    verify_program(LWT_ARGV(lwt_fixture("heap_threads")), NULL);
    verify_program(LWT_ARGV(lwt_fixture("heap_sites")), NULL);
    verify_program(LWT_ARGV(lwt_fixture("heap_fork")), NULL);
}
END_TEST

/* The benchmark's workload, built by make check, in path (of cap bytes). */
static const char *workload(char *path, size_t cap)
{
    snprintf(path, cap, "%s/bench/workload", lwt_build());
    ck_assert_msg(access(path, X_OK) == 0, "%s is missing: run make tests-build", path);
    return path;
}

START_TEST(test_verify_workload)
{
    char path[1024];
    verify_program(LWT_ARGV(workload(path, sizeof path), "-n", "200000"), NULL);
}
END_TEST

/* 2048 call paths give thousands of distinct stacks over a few dozen return addresses: once libunwind has walked
 * each return address's frame, the rest are walked by the rules it taught (counted as hits and verified like
 * them). A return address never seen is learned with one libunwind step from its frame, in the middle of such a
 * walk, instead of a full unwind: the workload's stacks (no signal frames, no realigned stacks) take none at all
 * after the first, or a couple where a thread starts, and every one of them still agrees with a full unwind. */
START_TEST(test_new_frames_learned_by_one_step)
{
    char path[1024];
    stats_t st = verify_with(LWT_ARGV(workload(path, sizeof path), "-p", "2048", "-n", "100000"), NULL, NULL);
    ck_assert_msg(st.misses <= 3, "%lld full unwinds for %lld stacks taken", st.misses, st.hits + st.misses);
    /* the dump's counts add up: every distinct stack was taken the slow way once (a walk or a full unwind), and
     * walks are a part of the hits */
    ck_assert_msg(st.stacks >= 2000 && st.walks + st.misses >= st.stacks && st.walks <= st.hits,
                  "%lld distinct stacks, %lld walks, %lld misses, %lld hits", st.stacks, st.walks, st.misses, st.hits);
}
END_TEST

/* Frame-pointer mode keeps the same cache: its hits re-read the words the walk found, and each is checked against a
 * fresh frame-pointer walk (the fixtures are built with frame pointers). */
START_TEST(test_verify_fp_mode)
{
    verify_with(LWT_ARGV(lwt_fixture("verify_cases")), NULL, "LEAKWATCH_UNWIND=fp");
    verify_with(LWT_ARGV(lwt_fixture("heap_threads")), NULL, "LEAKWATCH_UNWIND=fp");
}
END_TEST

static const char *python(void)
{
    return lwt_which(LWT_ARGV("/usr/bin/python3", "python3"));
}

START_TEST(test_verify_real_programs)
{
    verify_program(LWT_ARGV(python(), "-c", "import json, re; print(len(json.dumps([re.sub('a', 'b', str(i)) for i in range(5000)])))"), NULL);
    verify_program(LWT_ARGV("perl", "-e", "my %h; $h{$_} = [$_] for 1..5000; print scalar(keys %h), qq(\\n)"), NULL);
    verify_program(LWT_ARGV("git", "--version"), NULL);
    verify_program(LWT_ARGV("gcc", "--version"), NULL);
    verify_program(LWT_ARGV("bash", "-c", "for i in 1 2 3; do x=$(echo $i); done; echo $x"), NULL);
    verify_program(LWT_ARGV("sqlite3", ":memory:"), "create table t(a); insert into t values (1), (2); select sum(a) from t;\n");
}
END_TEST

/* python3, perl and git are built without frame pointers: the walk must end where the chain breaks, and the
 * programs must print and exit as they do without leakwatch. */
START_TEST(test_fp_mode_unharmed)
{
    const char *const *cmds[] = {
        LWT_ARGV(python(), "-c", "print(sum(range(1000)))"),
        LWT_ARGV("perl", "-e", "print join(',', map { $_ * 2 } 1..10), qq(\\n)"),
        LWT_ARGV("git", "--version"),
        LWT_ARGV("bash", "-c", "echo $((6 * 7))"),
    };
    const char *env[] = { "LEAKWATCH_UNWIND=fp", NULL };
    lwt_opts_t opts = { .env = env };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        lwt_result_t *plain = lwt_exec(cmds[i], NULL);
        lwt_result_t *traced = lwt_exec_preload(cmds[i], &opts);
        ck_assert_msg(lwt_same_outcome(plain, traced), "plain:\n%s", lwt_describe(plain));
        lwt_free(plain);
        lwt_free(traced);
    }
}
END_TEST

/* Fork while another thread unwinds and dumps are written: no child may hang on a lock a vanished thread held. */
START_TEST(test_fork_under_load)
{
    char dir[] = "/tmp/lwfork.XXXXXX";
    lwt_result_t *r = run_dumping(LWT_ARGV(lwt_fixture("fork_stress"), "300"), dir, "LEAKWATCH_DUMP_SIGNAL=USR2",
                                  (lwt_opts_t){ .timeout_s = 60 });
    ck_assert_msg(!r->timed_out, "fork_stress hung%s", lwt_describe(r));
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    stats_t st = collect(dir); /* parses every dump */
    rmdir(dir);
    ck_assert_int_ge(st.dumps, 301); /* every child's exit dump, and the parent's */
    lwt_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("stack cache");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_verify_hard_cases);
    tcase_add_test(tc, test_verify_fixtures);
    tcase_add_test(tc, test_verify_workload);
    tcase_add_test(tc, test_verify_real_programs);
    tcase_add_test(tc, test_new_frames_learned_by_one_step);
    tcase_add_test(tc, test_verify_fp_mode);
    tcase_add_test(tc, test_fp_mode_unharmed);
    tcase_add_test(tc, test_fork_under_load);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}

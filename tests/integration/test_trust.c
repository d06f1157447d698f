/* Integration tests of what belongs to the program and not to leakwatch: an LD_PRELOAD the program removes stays
 * removed in what it execs (a cleared environment still gets leakwatch back), a signal the program needs is never
 * taken for dumps, a shell's descriptor on its own script is no leak, and closing numbers that were never open
 * (the daemon idiom) is no warning. */
#include "lwtest.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *str_value(const lwt_result_t *r, const char *name, char *buf, size_t cap)
{
    const char *p = r->out ? r->out : "";
    size_t n = strlen(name);
    buf[0] = '\0';
    for (const char *q = p; (q = strstr(q, name)) != NULL; q++) {
        if ((q == p || q[-1] == '\n') && q[n] == '=') {
            const char *v = q + n + 1, *e = strchr(v, '\n');
            size_t len = e ? (size_t)(e - v) : strlen(v);
            snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), v);
            return buf;
        }
    }
    return NULL;
}

/* ---- LD_PRELOAD across exec ------------------------------------------------------------------------------ */

/* Runs env_exec MODE under the library; returns whether the image it exec'd had leakwatch loaded. */
static long long loaded_after(const char *mode, lwt_result_t **out)
{
    lwt_opts_t o = { .timeout_s = 60 };
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("env_exec"), mode), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "env_exec %s ran%s", mode, lwt_describe(r));
    *out = r;
    return lwt_out_value(r, "loaded", -1);
}

START_TEST(test_removed_preload_stays_removed)
{
    LWT_REQUIRE_BUILT();
    static const char *const modes[] = { "unsetenv", "putenv", "replace" };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        lwt_result_t *r;
        ck_assert_msg(loaded_after(modes[i], &r) == 0, "%s: leakwatch not put back%s", modes[i], lwt_describe(r));
        char buf[4096];
        const char *p = str_value(r, "preload", buf, sizeof buf);
        ck_assert_msg(p && (strcmp(modes[i], "replace") == 0 ? strstr(p, "/libnoop.so") && !strstr(p, "libleakwatch")
                                                              : strcmp(p, "-") == 0),
                      "%s: LD_PRELOAD as the program left it%s", modes[i], lwt_describe(r));
        lwt_free(r);
    }
}
END_TEST

START_TEST(test_cleared_environment_keeps_leakwatch)
{
    LWT_REQUIRE_BUILT();
    static const char *const modes[] = { "clearenv", "noenv", "add" };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        lwt_result_t *r;
        ck_assert_msg(loaded_after(modes[i], &r) == 1, "%s: leakwatch put back%s", modes[i], lwt_describe(r));
        char buf[4096];
        ck_assert_msg(strcmp(modes[i], "add") != 0 || strstr(str_value(r, "preload", buf, sizeof buf), "/libnoop.so:"),
                      "add: the program's library stays in front%s", lwt_describe(r));
        ck_assert_msg(strcmp(modes[i], "add") == 0 || strstr(r->out, "kept=yes"),
                      "%s: the program's own variable is still there%s", modes[i], lwt_describe(r));
        lwt_free(r);
    }
}
END_TEST

/* A program that re-execs itself until LD_PRELOAD is gone ends after one round, with the status it has plain. */
START_TEST(test_reexec_until_preload_gone)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .timeout_s = 60 };
    lwt_result_t *plain = lwt_exec(LWT_ARGV(lwt_fixture("env_exec"), "loop", "0"), &o);
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("env_exec"), "loop", "0"), &o);
    ck_assert_msg(plain->exited && plain->exit_code == 0 && lwt_out_value(plain, "rounds", -1) == 0, "plain%s",
                  lwt_describe(plain));
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 0 && lwt_out_value(r, "rounds", -1) == 1,
                  "one re-exec and done%s", lwt_describe(r));
    lwt_free(plain);
    lwt_free(r);
}
END_TEST

/* The same through env(1) and shells, the way scripts do it. */
START_TEST(test_env_and_shell_removal)
{
    LWT_REQUIRE_BUILT();
    const char *fx = lwt_fixture("env_exec");
    char script[4096];
    snprintf(script, sizeof script, "unset LD_PRELOAD; exec %s report", fx);
    struct {
        const char *const *argv;
        int loaded;
    } cases[] = {
        { LWT_ARGV("env", "-u", "LD_PRELOAD", fx, "report"), 0 },
        { LWT_ARGV("/bin/sh", "-c", script), 0 },
        { LWT_ARGV("bash", "-c", script), 0 },
        { LWT_ARGV("env", "-i", "X=1", fx, "report"), 1 },
        { LWT_ARGV("env", "-i", fx, "report"), 1 },
    };
    lwt_opts_t o = { .timeout_s = 60 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lwt_result_t *r = lwt_exec_preload(cases[i].argv, &o);
        ck_assert_msg(r->exited && r->exit_code == 0 && lwt_out_value(r, "loaded", -1) == cases[i].loaded,
                      "case %zu: leakwatch %s%s", i, cases[i].loaded ? "put back" : "left out", lwt_describe(r));
        lwt_free(r);
    }
}
END_TEST

/* ---- shell scripts ---------------------------------------------------------------------------------------- */

/* Writes an executable script `#!SHELL` + body into dir and runs it under `leakwatch run` by its path, the way a
 * test suite runs one. */
static lwt_result_t *run_script(const char *dir, const char *name, const char *shell, const char *body)
{
    char path[4096], text[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(text, sizeof text, "#!%s\n%s", shell, body);
    ck_assert_int_eq(lwt_write_file(path, text), 0);
    ck_assert_int_eq(chmod(path, 0755), 0);
    return lwt_leakwatch(NULL, LWT_ARGV(path), NULL);
}

static const char *bash_path(void)
{
    const char *b = lwt_which(LWT_ARGV("/bin/bash", "/usr/bin/bash"));
    ck_assert_msg(b != NULL, "bash is needed (scripts/install-deps installs it)");
    return b;
}

/* A script that leaks nothing passes the gate, with dash and with bash. */
START_TEST(test_clean_scripts_pass)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    const char *shells[] = { "/bin/sh", bash_path() };
    for (size_t i = 0; i < 2; i++) {
        lwt_result_t *r = run_script(dir, "clean.sh", shells[i], "x=$(echo hi)\necho \"$x\"\n");
        LWT_ASSERT_RUN(r, 0);
        ck_assert_msg(strcmp(r->out, "hi\n") == 0, "%s: output%s", shells[i], lwt_describe(r));
        LWT_ASSERT_TOTALS(r, NULL, 0, 0, "the shell's descriptor on its script is not a leak");
        lwt_free(r);
    }
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* A script whose child leaks fails with the child's count; a descriptor the script itself leaves open still
 * counts. */
START_TEST(test_leaking_scripts_fail)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp(), body[4096];
    const char *shells[] = { "/bin/sh", bash_path() };
    snprintf(body, sizeof body, "%s 3 0\necho done\n", lwt_fixture("gate_leaker"));
    for (size_t i = 0; i < 2; i++) {
        lwt_result_t *r = run_script(dir, "leaky.sh", shells[i], body);
        LWT_ASSERT_RUN(r, 23);
        LWT_ASSERT_TOTALS(r, "heap", 3, 96, "the child's three blocks");
        LWT_ASSERT_TOTALS(r, "fd", 0, 0, "no descriptor");
        lwt_free(r);
        r = run_script(dir, "fd.sh", shells[i], "exec 7</dev/null\necho hi\n");
        LWT_ASSERT_RUN(r, 23);
        LWT_ASSERT_TOTALS(r, "fd", 1, 0, "the descriptor the script opened");
        LWT_ASSERT_TOTALS(r, NULL, 1, 0, "only that one");
        lwt_free(r);
    }
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- LEAKWATCH_DUMP_SIGNAL ------------------------------------------------------------------------------- */

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

/* A program that segfaults under LEAKWATCH_DUMP_SIGNAL=11 (or SEGV) dies of SIGSEGV at once, writes no dump, and
 * gets one warning about the setting. */
START_TEST(test_segv_not_taken_for_dumps)
{
    LWT_REQUIRE_BUILT();
    static const char *const values[] = { "LEAKWATCH_DUMP_SIGNAL=11", "LEAKWATCH_DUMP_SIGNAL=SIGSEGV" };
    for (size_t i = 0; i < 2; i++) {
        lwt_opts_t o = { .env = (const char *const[]){ values[i], NULL }, .timeout_s = 30 };
        lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("die"), "SEGV"), &o);
        ck_assert_msg(!r->timed_out && r->term_sig == SIGSEGV && strstr(r->out, "dying by SEGV"), "%s: died of SIGSEGV%s",
                      values[i], lwt_describe(r));
        char dumps[4096];
        snprintf(dumps, sizeof dumps, "%s/dumps", r->tmpdir);
        ck_assert_msg(count_files(dumps) == 0, "%s: no dumps%s", values[i], lwt_describe(r));
        const char *w = strstr(r->err, "LEAKWATCH_DUMP_SIGNAL=");
        ck_assert_msg(w && !strstr(w + 1, "LEAKWATCH_DUMP_SIGNAL=") && strstr(w, "needs for itself"),
                      "%s: one warning%s", values[i], lwt_describe(r));
        lwt_free(r);
    }
}
END_TEST

/* ---- closes of numbers never open ----------------------------------------------------------------------- */

static json_t *warnings(const lwt_result_t *r)
{
    return json_object_get(r->report, "warnings");
}

static int frames_have(json_t *w, const char *member, const char *func)
{
    json_t *fs = json_object_get(w, member);
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const char *f = json_string_value(json_object_get(json_array_get(fs, i), "function"));
        if (f && strcmp(f, func) == 0)
            return 1;
    }
    return 0;
}

/* A clean daemon that closes 3..1023 gets no warning at all, and a report of one line. */
START_TEST(test_daemon_idiom_quiet)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("daemon_close")), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(json_array_size(warnings(r)) == 0 && !strstr(r->err, "warning"), "no warnings%s", lwt_describe(r));
    int lines = 0;
    for (const char *p = r->err; *p; p++)
        lines += *p == '\n';
    ck_assert_msg(lines == 1 && strstr(r->err, "leakwatch: no leaks"), "one line%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Closing again a descriptor the loop closed is a double close, with the stacks of both closes. */
START_TEST(test_daemon_double_close_warns)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("daemon_close"), "double"), NULL);
    LWT_ASSERT_RUN(r, 0);
    json_t *w = json_array_get(warnings(r), 0);
    ck_assert_msg(json_array_size(warnings(r)) == 1
                      && strcmp(json_string_value(json_object_get(w, "type")), "double-close") == 0
                      && frames_have(w, "frames", "close_again") && frames_have(w, "other_frames", "close_inherited"),
                  "one double close with both stacks%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A descriptor inherited at start was open once: closed behind leakwatch's back, then by the loop, it is a bad
 * close, and the only warning of the new image. */
START_TEST(test_inherited_then_lost_warns)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("daemon_close"), "inherit"), NULL);
    LWT_ASSERT_RUN(r, 0);
    char fd[24];
    snprintf(fd, sizeof fd, "%lld", lwt_out_value(r, "inherited", -1));
    int bad = 0, other = 0;
    for (size_t i = 0; i < json_array_size(warnings(r)); i++) {
        json_t *w = json_array_get(warnings(r), i);
        const char *type = json_string_value(json_object_get(w, "type"));
        if (strcmp(type, "bad-close") == 0 && strcmp(json_string_value(json_object_get(w, "handle")), fd) == 0
            && frames_have(w, "frames", "close_inherited"))
            bad++;
        else if (strcmp(type, "fd-into-exec") != 0) /* the exec'ing image's descriptor without close-on-exec */
            other++;
    }
    ck_assert_msg(bad == 1 && other == 0, "one bad close of the inherited descriptor%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A `warning:` line hides the double close and says so in `suppressed`; a line for another type hides nothing. */
START_TEST(test_warning_suppressed)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp(), path[4096];
    snprintf(path, sizeof path, "%s/w.supp", dir);
    ck_assert_int_eq(lwt_write_file(path, "warning:bad-close\nwarning:double-close:close_again\n"), 0);
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--suppressions", path), LWT_ARGV(lwt_fixture("daemon_close"), "double"),
                                    NULL);
    LWT_ASSERT_RUN(r, 0);
    json_t *used = json_object_get(r->report, "suppressed"), *u = NULL;
    for (size_t i = 0; i < json_array_size(used); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(used, i), "kind")), "warning") == 0)
            u = json_array_get(used, i);
    ck_assert_msg(json_array_size(warnings(r)) == 0 && !strstr(r->err, "warning: double-close"), "hidden%s",
                  lwt_describe(r));
    ck_assert_msg(u && strcmp(json_string_value(json_object_get(u, "pattern")), "double-close:close_again") == 0
                      && lwt_int(u, "count") == 1 && lwt_int(u, "line") == 2,
                  "in suppressed%s", lwt_describe(r));
    json_t *unused = json_array_get(json_object_get(r->report, "unused_suppressions"), 0);
    ck_assert_msg(unused && strcmp(json_string_value(json_object_get(unused, "pattern")), "bad-close") == 0,
                  "the bad-close line matched nothing%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "warning:double-close:close_again (") && strstr(r->err, "): 1 warning"),
                  "text report%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* The library never reaches one of its own wrappers: no call through its PLT names a symbol it exports (its own
 * system calls, threads, handlers and descriptors go through tracker/sys.c and the real functions). */
START_TEST(test_no_call_into_own_wrappers)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *nm = lwt_exec(LWT_ARGV("nm", "-D", "--defined-only", lwt_lib()), NULL);
    lwt_result_t *od = lwt_exec(LWT_ARGV("objdump", "-d", "--no-show-raw-insn", lwt_lib()), NULL);
    ck_assert_msg(nm->exited && nm->exit_code == 0 && nm->out_len > 0, "nm runs%s", lwt_describe(nm));
    ck_assert_msg(od->exited && od->exit_code == 0 && od->out_len > 0, "objdump runs%s", lwt_describe(od));
    /* the exported names, one per line of `nm -D`: "ADDRESS TYPE NAME[@VERSION]" */
    size_t nexported = 0, ncalls = 0;
    char bad[1024] = "";
    for (char *line = nm->out; line && *line;) {
        char *end = strchr(line, '\n'), name[256], plt[300];
        if (end)
            *end = '\0';
        if (sscanf(line, "%*s %*s %255[^@ ]", name) == 1) {
            nexported++;
            snprintf(plt, sizeof plt, "<%s@plt>", name);
            for (const char *p = od->out; (p = strstr(p, plt)) != NULL; p += strlen(plt)) {
                const char *bol = p;
                while (bol > od->out && bol[-1] != '\n')
                    bol--;
                if (strstr(bol, "call") && strstr(bol, "call") < p && strlen(bad) + strlen(name) + 2 < sizeof bad) {
                    strcat(bad, " ");
                    strcat(bad, name);
                    ncalls++;
                    break;
                }
            }
        }
        line = end ? end + 1 : NULL;
    }
    ck_assert_msg(nexported > 100, "nm lists the exported wrappers (%zu)", nexported);
    ck_assert_msg(ncalls == 0, "the library calls its own wrappers through the PLT:%s", bad);
    lwt_free(od);
    lwt_free(nm);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("trust");
    TCase *tc = tcase_create("exec environment");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_removed_preload_stays_removed);
    tcase_add_test(tc, test_cleared_environment_keeps_leakwatch);
    tcase_add_test(tc, test_reexec_until_preload_gone);
    tcase_add_test(tc, test_env_and_shell_removal);
    suite_add_tcase(s, tc);
    tc = tcase_create("shell scripts");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_clean_scripts_pass);
    tcase_add_test(tc, test_leaking_scripts_fail);
    suite_add_tcase(s, tc);
    tc = tcase_create("closes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_daemon_idiom_quiet);
    tcase_add_test(tc, test_daemon_double_close_warns);
    tcase_add_test(tc, test_inherited_then_lost_warns);
    tcase_add_test(tc, test_warning_suppressed);
    suite_add_tcase(s, tc);
    tc = tcase_create("dump signal");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_segv_not_taken_for_dumps);
    suite_add_tcase(s, tc);
    tc = tcase_create("layers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_no_call_into_own_wrappers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}

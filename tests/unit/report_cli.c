/* Unit tests of the command layer: the exit-status rule, argument helpers, dump directories, and `leakwatch run`
 * and `leakwatch report` driven end to end with stand-in commands that write dumps the way the library does. */
#include "cli.h"
#include "parallel.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXITED(code) ((code) << 8)          /* a wait status of a normal exit */
#define KILLED(sig) (sig)                   /* a wait status of a death by signal */

START_TEST(exit_status_rule)
{
    ck_assert(WIFEXITED(EXITED(3)) && WEXITSTATUS(EXITED(3)) == 3);
    ck_assert(WIFSIGNALED(KILLED(SIGKILL)));
    /* At most max_leaks: the command's own status. */
    ck_assert_int_eq(lwr_run_exit_status(EXITED(0), 0, 0, 23), 0);
    ck_assert_int_eq(lwr_run_exit_status(EXITED(7), 0, 0, 23), 7);
    ck_assert_int_eq(lwr_run_exit_status(EXITED(7), 5, 5, 23), 7);
    /* More: the leak exit code, whatever the command's status. */
    ck_assert_int_eq(lwr_run_exit_status(EXITED(0), 1, 0, 23), 23);
    ck_assert_int_eq(lwr_run_exit_status(EXITED(7), 6, 5, 23), 23);
    ck_assert_int_eq(lwr_run_exit_status(EXITED(0), 6, 5, 99), 99);
    ck_assert_int_eq(lwr_run_exit_status(EXITED(0), 6, 5, 0), 0);
    /* Killed: 128 + signal, leaks or not. */
    ck_assert_int_eq(lwr_run_exit_status(KILLED(SIGKILL), 0, 0, 23), 128 + SIGKILL);
    ck_assert_int_eq(lwr_run_exit_status(KILLED(SIGSEGV), 9, 0, 23), 128 + SIGSEGV);
}
END_TEST

START_TEST(numbers_and_options)
{
    uint64_t v = 77;
    ck_assert_int_eq(lwr_parse_uint("0", 10, &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(lwr_parse_uint("255", 255, &v), 0);
    ck_assert_uint_eq(v, 255);
    v = 77;
    ck_assert_int_eq(lwr_parse_uint("256", 255, &v), -1);
    ck_assert_int_eq(lwr_parse_uint("-1", 255, &v), -1);
    ck_assert_int_eq(lwr_parse_uint("+1", 255, &v), -1);
    ck_assert_int_eq(lwr_parse_uint(" 1", 255, &v), -1);
    ck_assert_int_eq(lwr_parse_uint("1x", 255, &v), -1);
    ck_assert_int_eq(lwr_parse_uint("", 255, &v), -1);
    ck_assert_int_eq(lwr_parse_uint("99999999999999999999999", UINT64_MAX, &v), -1);
    ck_assert_uint_eq(v, 77);

    char *argv[] = { "run", "--json", "a.json", "--json=b.json", "--jsonx", "--json", NULL };
    int argc = 6, i = 1;
    const char *val = NULL;
    ck_assert_int_eq(lwr_take_option("run", argc, argv, &i, "--json", &val), 1);
    ck_assert_str_eq(val, "a.json");
    ck_assert_int_eq(i, 3);
    ck_assert_int_eq(lwr_take_option("run", argc, argv, &i, "--json", &val), 1);
    ck_assert_str_eq(val, "b.json");
    ck_assert_int_eq(i, 4);
    ck_assert_int_eq(lwr_take_option("run", argc, argv, &i, "--json", &val), 0);
    ck_assert_int_eq(i, 4);
    i = 5;
    ck_assert_int_eq(lwr_take_option("run", argc, argv, &i, "--json", &val), -1);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

static char *make_dir(void)
{
    char tmpl[] = "/tmp/lwr_cli_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void dump_file(const char *dir, long pid, long seq, int heap)
{
    char path[512], text[1024];
    snprintf(path, sizeof path, "%s/leakwatch.%ld.%ld.json", dir, pid, seq);
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": %ld, \"seq\": %ld, \"modules\": [], \"sites\": [],"
             " \"totals\": {\"heap\": {\"count\": %d, \"bytes\": %d}}}",
             pid, seq, heap, heap * 8);
    write_file(path, text);
}

START_TEST(directory_gives_the_newest_dump_of_each_process)
{
    char *dir = make_dir();
    dump_file(dir, 10, 1, 1);
    dump_file(dir, 10, 12, 5);  /* newest of pid 10: 12 > 2 numerically */
    dump_file(dir, 10, 2, 2);
    dump_file(dir, 9, 1, 3);
    char path[512];
    snprintf(path, sizeof path, "%s/.leakwatch.11.1.json.tmp", dir);
    write_file(path, "{");   /* an unfinished dump: not a dump name, never read */
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_file(path, "x");
    lwr_dumplist_t list = { NULL, 0, 0 };
    ck_assert_int_eq(lwr_collect_dir(dir, &list), 0);
    ck_assert_uint_eq(list.n, 2);
    ck_assert_int_eq(list.v[0]->pid, 9);
    ck_assert_int_eq(list.v[1]->pid, 10);
    ck_assert_int_eq(list.v[1]->seq, 12);
    ck_assert_uint_eq(list.v[1]->totals[LWR_HEAP].count, 5);
    lwr_dumplist_free(&list);

    /* A broken dump is counted and skipped; the others are still read. */
    snprintf(path, sizeof path, "%s/leakwatch.12.1.json", dir);
    write_file(path, "{\"leakwatch_dump\": 1, \"pid\": ");
    ck_assert_int_eq(lwr_collect_dir(dir, &list), 1);
    ck_assert_uint_eq(list.n, 2);
    lwr_dumplist_free(&list);

    ck_assert_int_eq(lwr_remove_dir(dir), 0);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_eq(lwr_collect_dir(dir, &list), -1);
    free(dir);
}
END_TEST

/* The dumps of a directory are read side by side (lwr_parallel_for): the list still comes in pid order with the
 * newest dump of each, an older "exec" dump kept, and every unreadable newest dump counted once. */
START_TEST(many_dumps_read_side_by_side)
{
    char *dir = make_dir();
    for (long pid = 100; pid < 400; pid++) {
        dump_file(dir, pid, 2, (int)pid);
        if (pid % 3 == 0)
            dump_file(dir, pid, 1, 1); /* older, not an exec dump: left out */
    }
    char path[512];
    for (long pid = 400; pid < 410; pid++) {
        snprintf(path, sizeof path, "%s/leakwatch.%ld.1.json", dir, pid);
        write_file(path, "{\"leakwatch_dump\": 1, \"pid\": "); /* truncated */
    }
    snprintf(path, sizeof path, "%s/leakwatch.50.1.json", dir);
    write_file(path, "{\"leakwatch_dump\": 1, \"pid\": 50, \"seq\": 1, \"reason\": \"exec\", \"modules\": [],"
                     " \"sites\": []}");
    dump_file(dir, 50, 2, 7);
    lwr_dumplist_t list = { NULL, 0, 0 };
    ck_assert_int_eq(lwr_collect_dir(dir, &list), 10);
    ck_assert_uint_eq(list.n, 302);
    ck_assert_int_eq(list.v[0]->pid, 50);
    ck_assert_str_eq(list.v[0]->reason, "exec");
    ck_assert_int_eq(list.v[1]->pid, 50);
    ck_assert_int_eq(list.v[1]->seq, 2);
    for (size_t i = 2; i < list.n; i++) {
        ck_assert_int_eq(list.v[i]->pid, (long)(98 + i));
        ck_assert_int_eq(list.v[i]->seq, 2);
        ck_assert_uint_eq(list.v[i]->totals[LWR_HEAP].count, (uint64_t)(98 + i));
    }
    lwr_dumplist_free(&list);
    ck_assert_int_eq(lwr_remove_dir(dir), 0);
    free(dir);
}
END_TEST

static void count_call(size_t i, void *arg)
{
    atomic_uint *calls = arg;
    atomic_fetch_add(&calls[i], 1);
}

/* Every index is called exactly once, for no work, one item and many. */
START_TEST(parallel_for_calls_each_index_once)
{
    static atomic_uint calls[5000];
    size_t sizes[] = { 0, 1, 2, 5000 };
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        for (size_t i = 0; i < 5000; i++)
            atomic_store(&calls[i], 0);
        lwr_parallel_for(sizes[k], count_call, calls);
        for (size_t i = 0; i < 5000; i++)
            ck_assert_uint_eq(atomic_load(&calls[i]), i < sizes[k] ? 1 : 0);
    }
}
END_TEST

/* Runs `leakwatch run ARGS...` in-process with stderr captured into *err (malloc'd). Returns the exit status. */
static int run_cmd(const lwr_command_t *cmd, char **args, char **err)
{
    char path[] = "/tmp/lwr_cli_err_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    close(fd);
    int argc = 0;
    while (args[argc])
        argc++;
    int rc = cmd->main(argc, args);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    *err = read_file(path);
    unlink(path);
    return rc;
}

/* A stand-in for the library: a shell command that writes a dump with `heap` leaked blocks and `fd` leaked
 * descriptors into LEAKWATCH_DUMP_DIR, records LD_PRELOAD and LEAKWATCH_REPORT, and exits with `code`. */
static char script[2048];
static const char *fake(const char *envlog, int heap, int fd, int code)
{
    snprintf(script, sizeof script,
             "printf '%%s|%%s|%%s\\n' \"$LD_PRELOAD\" \"$LEAKWATCH_REPORT\" \"$LEAKWATCH_KINDS\" > %s;"
             "printf '{\"leakwatch_dump\": 1, \"pid\": %%d, \"seq\": 1, \"exit_status\": %d, \"modules\": [],"
             " \"sites\": [{\"kind\": \"heap\", \"count\": %d, \"bytes\": %d, \"frames\": [\"0x1234\"]},"
             " {\"kind\": \"fd\", \"count\": %d, \"bytes\": 0, \"frames\": [\"0x99\"]}],"
             " \"totals\": {\"heap\": {\"count\": %d, \"bytes\": %d}, \"fd\": {\"count\": %d, \"bytes\": 0}}}'"
             " $$ > \"$LEAKWATCH_DUMP_DIR/leakwatch.$$.1.json\"; exit %d",
             envlog, code, heap, heap * 16, fd, heap, heap * 16, fd, code);
    return script;
}

START_TEST(run_gates_on_the_dumps_of_the_command)
{
    char *dir = make_dir();
    char envlog[512], json[512];
    snprintf(envlog, sizeof envlog, "%s/env", dir);
    snprintf(json, sizeof json, "%s/report.json", dir);
    /* Any loadable library stands in for libleakwatch.so: what matters is where it is put. */
    const char *lib = access("/lib/x86_64-linux-gnu/libm.so.6", R_OK) == 0 ? "/lib/x86_64-linux-gnu/libm.so.6"
                                                                             : "/dev/null";
    setenv("LEAKWATCH_LIB", lib, 1);
    setenv("LD_PRELOAD", "", 1);
    unsetenv("LEAKWATCH_KINDS");
    char *err;

    /* No leaks: the command's own status, one line. */
    char *a1[] = { "run", "--", "sh", "-c", (char *)fake(envlog, 0, 0, 7), NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, a1, &err), 7);
    ck_assert_msg(strstr(err, "leakwatch: no leaks (1 process)\n"), "%s", err);
    free(err);
    char *env = read_file(envlog);
    char want[600], *real = realpath(lib, NULL);
    ck_assert_ptr_nonnull(real);
    snprintf(want, sizeof want, "%s|none|\n", real);
    ck_assert_str_eq(env, want);
    free(env);

    /* Leaks over the limit: 23 and the JSON report with its gate. */
    setenv("LD_PRELOAD", "/usr/lib/other.so", 1);
    setenv("LEAKWATCH_KINDS", "heap", 1);
    char *a2[] = { "run", "--json", json, "--", "sh", "-c", (char *)fake(envlog, 2, 1, 0), NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, a2, &err), 23);
    ck_assert_msg(strstr(err, "leakwatch: 3 leaks at 2 sites in 1 process: heap 2 blocks (32 bytes), fd 1\n"), "%s",
                  err);
    ck_assert_msg(strstr(err, "more than --max-leaks 0; exit status 23"), "%s", err);
    free(err);
    env = read_file(envlog);
    snprintf(want, sizeof want, "%s:/usr/lib/other.so|none|heap\n", real);
    free(real);
    setenv("LD_PRELOAD", "", 1);
    ck_assert_str_eq(env, want);   /* library first, the user's preload kept after it, LEAKWATCH_KINDS untouched */
    free(env);
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    json_t *gate = json_object_get(root, "gate");
    ck_assert_int_eq(json_integer_value(json_object_get(gate, "leaks")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(gate, "max_leaks")), 0);
    ck_assert(json_is_true(json_object_get(gate, "failed")));
    ck_assert_uint_eq(json_array_size(json_object_get(gate, "kinds")), 5);
    ck_assert_uint_eq(json_array_size(json_object_get(root, "processes")), 1);
    json_decref(root);

    /* --max-leaks allows them; --kinds gates only on fd; --exit-code changes the failure status. */
    char *a3[] = { "run", "--max-leaks", "3", "--", "sh", "-c", (char *)fake(envlog, 2, 1, 4), NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, a3, &err), 4);
    free(err);
    char *a4[] = { "run", "--kinds", "fd", "--json", json, "--", "sh", "-c", (char *)fake(envlog, 2, 0, 0), NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, a4, &err), 0);
    free(err);
    root = json_load_file(json, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    gate = json_object_get(root, "gate");
    ck_assert_int_eq(json_integer_value(json_object_get(gate, "leaks")), 0);
    ck_assert(json_is_false(json_object_get(gate, "failed")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(gate, "kinds"), 0)), "fd");
    json_decref(root);
    char *a5[] = { "run", "--kinds=heap,fd", "--exit-code", "42", "--", "sh", "-c", (char *)fake(envlog, 0, 1, 0),
                   NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, a5, &err), 42);
    free(err);

    /* Several processes of one tree are all read and added up. */
    char tree[256];
    char *inner = strdup(fake(envlog, 1, 0, 0));
    snprintf(tree, sizeof tree, "sh -c \"$1\"; sh -c \"$1\"; exit 0");
    char *a6[] = { "run", "--", "sh", "-c", tree, "sh", inner, NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, a6, &err), 23);
    ck_assert_msg(strstr(err, "leakwatch: 2 leaks at 1 site in 2 processes: heap 2 blocks (32 bytes)\n"), "%s", err);
    free(err);
    free(inner);

    unlink(envlog);
    unlink(json);
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(run_reports_exec_failures_signals_and_usage_like_a_shell)
{
    setenv("LEAKWATCH_LIB", "/dev/null", 1);
    char *err;
    char *nf[] = { "run", "--", "lwr-no-such-command-xyz", NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, nf, &err), 127);
    ck_assert_msg(strstr(err, "lwr-no-such-command-xyz: command not found"), "%s", err);
    free(err);
    char plain[] = "/tmp/lwr_cli_plain_XXXXXX";
    int fd = mkstemp(plain);   /* mode 0600: not executable */
    ck_assert_int_ge(fd, 0);
    close(fd);
    char *ne[] = { "run", "--", plain, NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, ne, &err), 126);
    ck_assert_msg(strstr(err, ": Permission denied") && strstr(err, plain), "%s", err);
    free(err);
    unlink(plain);
    char *missing[] = { "run", "--", "/nonexistent/dir/cmd", NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, missing, &err), 127);
    ck_assert_msg(strstr(err, "/nonexistent/dir/cmd: No such file or directory"), "%s", err);
    free(err);
    char *sig[] = { "run", "--", "sh", "-c", "kill -TERM $$", NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, sig, &err), 128 + SIGTERM);
    ck_assert_msg(strstr(err, "killed by signal 15"), "%s", err);
    free(err);

    static char *usage[][8] = {
        { "run", NULL },
        { "run", "true", NULL },
        { "run", "--", NULL },
        { "run", "--bogus", "--", "true", NULL },
        { "run", "--max-leaks", "-1", "--", "true", NULL },
        { "run", "--max-leaks", "many", "--", "true", NULL },
        { "run", "--exit-code", "256", "--", "true", NULL },
        { "run", "--kinds", "heap,gpu", "--", "true", NULL },
        { "run", "--json", NULL },
    };
    static const char *const said[] = { "missing '--'", "missing '--'", "no command after '--'",
                                        "unknown option '--bogus'", "not a count", "not a count",
                                        "not a number from 0 to 255", "unknown kind 'gpu'", "needs a value" };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        ck_assert_int_eq(run_cmd(&lwr_cmd_run, usage[i], &err), 2);
        ck_assert_msg(strstr(err, said[i]) && strstr(err, "Try 'leakwatch run --help'"), "case %zu: %s", i, err);
        free(err);
    }

    setenv("LEAKWATCH_LIB", "/nonexistent/libleakwatch.so", 1);
    char *nolib[] = { "run", "--", "true", NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_run, nolib, &err), 125);
    ck_assert_msg(strstr(err, "LEAKWATCH_LIB=/nonexistent/libleakwatch.so"), "%s", err);
    free(err);
}
END_TEST

START_TEST(run_survives_a_closed_stderr)
{
    /* Whoever reads our stderr went away: the JSON report, the cleanup and the status must not be lost. */
    char *dir = make_dir();
    char envlog[512], json[512];
    snprintf(envlog, sizeof envlog, "%s/env", dir);
    snprintf(json, sizeof json, "%s/report.json", dir);
    /* A real library: ld.so's complaint about a bad one would go to the closed pipe and kill the command. */
    setenv("LEAKWATCH_LIB", "/lib/x86_64-linux-gnu/libm.so.6", 1);
    setenv("LD_PRELOAD", "", 1);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    fflush(stderr);
    int saved = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    char *args[] = { "run", "--json", json, "--", "sh", "-c", (char *)fake(envlog, 2, 0, 0), NULL };
    int rc = lwr_cmd_run.main(7, args);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_eq(rc, 23);
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "gate"), "leaks")), 2);
    json_decref(root);
    ck_assert_int_eq(lwr_remove_dir(dir), 0);
    free(dir);
}
END_TEST

START_TEST(report_renders_files_and_directories)
{
    char *dir = make_dir();
    dump_file(dir, 5, 1, 2);
    dump_file(dir, 6, 1, 1);
    char out[512], one[512], bad[512];
    snprintf(out, sizeof out, "%s/out.json", dir);
    snprintf(one, sizeof one, "%s/leakwatch.5.1.json", dir);
    snprintf(bad, sizeof bad, "%s/broken.json", dir);
    char *err;
    char *a1[] = { "report", "--format", "json", "--output", out, dir, NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_report, a1, &err), 0);
    free(err);
    json_error_t jerr;
    json_t *root = json_load_file(out, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "leakwatch_report")), 1);
    ck_assert_uint_eq(json_array_size(json_object_get(root, "processes")), 2);
    ck_assert_ptr_null(json_object_get(root, "gate"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(root, "totals"), "heap"),
                                                        "count")),
                     3);
    json_decref(root);

    /* An unreadable dump: named on stderr, exit 1, and the readable one still rendered. */
    write_file(bad, "{\"leakwatch_dump\": 1,");
    char *a2[] = { "report", "--output", out, one, bad, NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_report, a2, &err), 1);
    ck_assert_msg(strstr(err, bad) && strstr(err, "line 1"), "%s", err);
    free(err);
    char *text = read_file(out);
    ck_assert_msg(strcmp(text, "leakwatch: 2 leaks at 0 sites in 1 process: heap 2 blocks (16 bytes)\n"
                               "\nSUMMARY: leakwatch: 16 bytes leaked in 2 allocations\n") == 0, "%s", text);
    free(text);

    char *a3[] = { "report", "--format", "xml", one, NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_report, a3, &err), 2);
    free(err);
    char *a4[] = { "report", NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_report, a4, &err), 2);
    free(err);
    char *a5[] = { "report", bad, NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_report, a5, &err), 1);
    ck_assert_msg(strstr(err, "no dump could be read"), "%s", err);
    free(err);
    /* a directory without a dump says there is none, not that one could not be read */
    char empty[4200];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    ck_assert_int_eq(mkdir(empty, 0700), 0);
    char *a6[] = { "report", empty, NULL };
    ck_assert_int_eq(run_cmd(&lwr_cmd_report, a6, &err), 1);
    ck_assert_msg(strcmp(err, "leakwatch: no dumps (leakwatch.PID.N.json) in what was given\n") == 0, "%s", err);
    free(err);
    ck_assert_int_eq(rmdir(empty), 0);
    ck_assert_int_eq(lwr_remove_dir(dir), 0);
    free(dir);
}
END_TEST

/* Every command's help lines its options up alike: an option at column 2, its description at column 23 (or two
 * blanks after an option too long for that), and the description's further lines at column 23. */
START_TEST(every_help_lines_its_options_up_alike)
{
    const lwr_command_t *cmds[] = { &lwr_cmd_run, &lwr_cmd_report, &lwr_cmd_diff, &lwr_cmd_trend,
                                    &lwr_cmd_triage, &lwr_cmd_baseline, &lwr_cmd_dump, &lwr_cmd_attach };
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        const char *p = cmds[c]->usage;
        bool in_options = false;
        unsigned lineno = 0;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            char line[256];
            ck_assert_uint_lt(len, sizeof line);
            memcpy(line, p, len);
            line[len] = '\0';
            lineno++;
            size_t lead = strspn(line, " ");
            if (lead == 2 && line[2] == '-') {
                in_options = true;
                const char *gap = strstr(line + 2, "  ");
                ck_assert_msg(gap != NULL, "%s help, line %u: no description: '%s'", cmds[c]->name, lineno, line);
                size_t desc = (size_t)(gap - line) + strspn(gap, " ");
                ck_assert_msg(desc == 23 || (gap - line > 21 && desc == (size_t)(gap - line) + 2),
                              "%s help, line %u: the description starts at column %zu, not 23: '%s'", cmds[c]->name,
                              lineno, desc, line);
            } else if (len == 0 || lead == 0) {
                in_options = false;
            } else if (in_options) {
                ck_assert_msg(lead == 23, "%s help, line %u: a continued description at column %zu, not 23: '%s'",
                              cmds[c]->name, lineno, lead, line);
            }
            p += len + (nl != NULL);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exit_status_rule);
    tcase_add_test(tc, numbers_and_options);
    tcase_add_test(tc, directory_gives_the_newest_dump_of_each_process);
    tcase_add_test(tc, many_dumps_read_side_by_side);
    tcase_add_test(tc, parallel_for_calls_each_index_once);
    tcase_add_test(tc, run_gates_on_the_dumps_of_the_command);
    tcase_add_test(tc, run_reports_exec_failures_signals_and_usage_like_a_shell);
    tcase_add_test(tc, run_survives_a_closed_stderr);
    tcase_add_test(tc, report_renders_files_and_directories);
    tcase_add_test(tc, every_help_lines_its_options_up_alike);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

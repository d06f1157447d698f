/* Unit tests of the tracker's rules for what is the program's own: the signals a dump may take over, the
 * environment an exec'd program gets (an LD_PRELOAD removed on purpose stays removed, a cleared environment gets
 * leakwatch back), closes of numbers never open, and the descriptor a shell holds on its script. */
#include "testing.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* ---- LEAKWATCH_DUMP_SIGNAL ------------------------------------------------------------------------------ */

START_TEST(dump_signal_names_and_numbers_refused_alike)
{
    static const char *const unsafe[] = { "SEGV", "BUS", "FPE", "ILL", "ABRT", "TRAP", "SYS", "CHLD", "KILL",
                                          "STOP", "CONT", "TSTP", "TTIN", "TTOU", "INT", "TERM", "PIPE", "ALRM" };
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        char sig[16], num[16];
        snprintf(sig, sizeof sig, "SIG%s", unsafe[i]);
        int n = -1;
        for (int s = 1; s < 32; s++)
            if (sigabbrev_np(s) && strcmp(sigabbrev_np(s), unsafe[i]) == 0)
                n = s;
        ck_assert_int_gt(n, 0);
        snprintf(num, sizeof num, "%d", n);
        ck_assert_msg(lw_parse_signal(unsafe[i]) == -2, "%s refused by name", unsafe[i]);
        ck_assert_msg(lw_parse_signal(sig) == -2, "%s refused by name", sig);
        ck_assert_msg(lw_parse_signal(num) == -2, "%s refused by number (%s)", unsafe[i], num);
    }
    ck_assert_int_eq(lw_parse_signal("11"), -2);
    ck_assert_int_eq(lw_parse_signal("32"), -2); /* glibc's own real-time signals, below SIGRTMIN */
    ck_assert_int_eq(lw_parse_signal("USR2"), SIGUSR2);
    ck_assert_int_eq(lw_parse_signal("sigusr1"), SIGUSR1);
    char num[16];
    snprintf(num, sizeof num, "%d", SIGUSR1);
    ck_assert_int_eq(lw_parse_signal(num), SIGUSR1);
    ck_assert_int_eq(lw_parse_signal("RTMIN"), SIGRTMIN);
    ck_assert_int_eq(lw_parse_signal("SIGRTMIN+3"), SIGRTMIN + 3);
    ck_assert_int_eq(lw_parse_signal("RTMAX-1"), SIGRTMAX - 1);
    ck_assert_int_eq(lw_parse_signal("RTMAX"), SIGRTMAX);
    snprintf(num, sizeof num, "%d", SIGRTMIN + 3);
    ck_assert_int_eq(lw_parse_signal(num), SIGRTMIN + 3);
    ck_assert_int_eq(lw_parse_signal("RTMIN+99"), -1);
    ck_assert_int_eq(lw_parse_signal("NOPE"), -1);
    ck_assert_int_eq(lw_parse_signal("0"), -1);
    ck_assert_int_eq(lw_parse_signal("65"), -1);
    ck_assert_int_eq(lw_parse_signal(""), -1);
}
END_TEST

START_TEST(dump_signal_refused_keeps_none)
{
    lw_config.dump_signal = 0;
    setenv("LEAKWATCH_DUMP_SIGNAL", "11", 1);
    lw_config_load();
    ck_assert_int_eq(lw_config.dump_signal, 0);
    setenv("LEAKWATCH_DUMP_SIGNAL", "SIGSEGV", 1);
    lw_config_load();
    ck_assert_int_eq(lw_config.dump_signal, 0);
    setenv("LEAKWATCH_DUMP_SIGNAL", "RTMIN+1", 1);
    lw_config_load();
    ck_assert_int_eq(lw_config.dump_signal, SIGRTMIN + 1);
    unsetenv("LEAKWATCH_DUMP_SIGNAL");
    lw_config.dump_signal = 0;
}
END_TEST

/* ---- the environment of an exec'd program --------------------------------------------------------------- */

#define LIB "LD_PRELOAD=/opt/lw/lib/leakwatch/libleakwatch.so"

/* Loads the configuration as a process started with A..D, LD_PRELOAD and LEAKWATCH_REPORT would. */
static void start_with(char **env)
{
    char **saved = environ;
    environ = env;
    lw_config_load();
    environ = saved;
}

static char *start_env[] = { "A=1", "B=2", "C=3", "D=4", LIB, "LEAKWATCH_REPORT=none", NULL };
static char *start_plain[] = { "A=1", "B=2", "C=3", "D=4", LIB, NULL };

static int count_of(char *const *env)
{
    int n = 0;
    while (env && env[n])
        n++;
    return n;
}

static int has(char *const *env, const char *entry)
{
    for (; env && *env; env++)
        if (strcmp(*env, entry) == 0)
            return 1;
    return 0;
}

/* What lw_exec_env makes of envp, in a buffer of the size lw_exec_env_size asks for. */
static char *const *exec_env(char *const *envp, char **buf, size_t cap)
{
    ck_assert_uint_le(lw_exec_env_size(envp), cap);
    return lw_exec_env(envp, buf, lw_exec_env_size(envp));
}

START_TEST(exec_env_removed_on_purpose_stays_removed)
{
    char *buf[32];
    start_with(start_env);
    /* unsetenv("LD_PRELOAD"), `env -u LD_PRELOAD`: the rest of the environment is there */
    char *unset[] = { "A=1", "B=2", "C=3", "D=4", "LEAKWATCH_REPORT=none", NULL };
    ck_assert_ptr_eq(exec_env(unset, buf, 32), unset);
    /* a LEAKWATCH_* setting alone says the environment was edited, not rebuilt */
    char *lw_only[] = { "X=1", "LEAKWATCH_REPORT=none", NULL };
    ck_assert_ptr_eq(exec_env(lw_only, buf, 32), lw_only);
    /* LEAKWATCH_* removed too (a program that strips LD_* and leakwatch's settings): most variables stay */
    start_with(start_plain);
    char *most[] = { "A=1", "B=changed", "C=3", "E=new", NULL };
    ck_assert_ptr_eq(exec_env(most, buf, 32), most);
}
END_TEST

START_TEST(exec_env_cleared_gets_leakwatch_back)
{
    char *buf[32];
    start_with(start_env);
    char *empty[] = { NULL };
    char *const *e = exec_env(empty, buf, 32);
    ck_assert_int_eq(count_of(e), 2);
    ck_assert(has(e, LIB) && has(e, "LEAKWATCH_REPORT=none"));
    /* env -i X=1, clearenv then setenv: nothing of the start */
    char *fresh[] = { "X=1", NULL };
    e = exec_env(fresh, buf, 32);
    ck_assert_int_eq(count_of(e), 3);
    ck_assert(has(e, "X=1") && has(e, LIB) && has(e, "LEAKWATCH_REPORT=none"));
    /* an environment of its own that shares half the names or fewer was built, not edited */
    char *half[] = { "A=1", "B=2", "Z=9", NULL };
    e = exec_env(half, buf, 32);
    ck_assert(has(e, LIB) && count_of(e) == 5);
    /* a name given twice counts once */
    char *twice[] = { "A=1", "A=1", "A=1", NULL };
    e = exec_env(twice, buf, 32);
    ck_assert(has(e, LIB));
}
END_TEST

START_TEST(exec_env_preload_lists)
{
    char *buf[32];
    start_with(start_env);
    /* the program's own list without leakwatch: its choice */
    char *other[] = { "A=1", "LD_PRELOAD=/usr/lib/libother.so", NULL };
    ck_assert_ptr_eq(exec_env(other, buf, 32), other);
    char *none[] = { "LD_PRELOAD=", NULL };
    ck_assert_ptr_eq(exec_env(none, buf, 32), none);
    /* another library added before or after leakwatch, by colon or blank: leakwatch's settings follow */
    char *added[] = { "LD_PRELOAD=/usr/lib/libother.so:/opt/lw/lib/leakwatch/libleakwatch.so", NULL };
    char *const *e = exec_env(added, buf, 32);
    ck_assert(count_of(e) == 2 && has(e, "LEAKWATCH_REPORT=none") && has(e, added[0]));
    char *blank[] = { "LD_PRELOAD=libleakwatch.so libother.so", "LEAKWATCH_REPORT=none", NULL };
    ck_assert_ptr_eq(exec_env(blank, buf, 32), blank); /* nothing missing */
    /* a library merely named like it is not it */
    char *lookalike[] = { "LD_PRELOAD=/usr/lib/mylibleakwatch.so", NULL };
    ck_assert_ptr_eq(exec_env(lookalike, buf, 32), lookalike);
}
END_TEST

/* ---- the descriptor a shell holds on its script ----------------------------------------------------------- */

static char script_path[] = "/tmp/lw_trust_script_XXXXXX";

static int pick(const char *exe, const char *args, size_t len)
{
    char buf[512];
    memcpy(buf, args, len);
    return lw_shell_script_pick(exe, buf, len);
}

#define PICK(exe, lit) pick((exe), (lit), sizeof(lit))

START_TEST(shell_script_found_on_the_command_line)
{
    int fd = mkstemp(script_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char args[512];
    int n = snprintf(args, sizeof args, "sh%c%s", 0, script_path) + 1;
    ck_assert(pick("/usr/bin/dash", args, (size_t)n));
    ck_assert(!pick("/usr/bin/python3", args, (size_t)n)); /* only shells hold their script */
    n = snprintf(args, sizeof args, "bash%c-e%c-o%cpipefail%c%s%carg", 0, 0, 0, 0, script_path, 0) + 1;
    ck_assert(pick("/usr/bin/bash", args, (size_t)n));
    n = snprintf(args, sizeof args, "bash%c--rcfile%c%s%c/nonexistent", 0, 0, script_path, 0) + 1;
    ck_assert(!pick("/usr/bin/bash", args, (size_t)n)); /* the rc file is an option's value */
    n = snprintf(args, sizeof args, "sh%c-ec%cecho%c%s", 0, 0, 0, script_path) + 1;
    ck_assert(!pick("/bin/dash", args, (size_t)n)); /* a command string: no script */
    n = snprintf(args, sizeof args, "sh%c-s%c%s", 0, 0, script_path) + 1;
    ck_assert(!pick("/bin/dash", args, (size_t)n)); /* commands from stdin */
    ck_assert(!PICK("/bin/dash", "sh\0/nonexistent/t.sh"));
    ck_assert(!PICK("/bin/dash", "sh\0/tmp")); /* not a regular file */
    ck_assert(!PICK("/bin/dash", "sh"));
    unlink(script_path);
}
END_TEST

START_TEST(shell_script_descriptor_is_released)
{
    lw_reset_for_tests();
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    int fd = mkstemp(script_path);
    ck_assert_int_ge(fd, 0);
    char args[512];
    int n = snprintf(args, sizeof args, "sh%c%s", 0, script_path) + 1;
    int other = open("/dev/null", O_RDONLY);
    int again = open(script_path, O_RDONLY); /* a second descriptor on the script goes too */
    lw_on_acquire(LW_FD, fd, 0);
    lw_on_acquire(LW_FD, other, 0);
    lw_on_acquire(LW_FD, again, 0);
    ck_assert(!lw_shell_script_pick("/usr/bin/python3", args, (size_t)n));
    ck_assert_uint_eq(lw_forget_shell_script(), 0);
    ck_assert(lw_shell_script_pick("/usr/bin/dash", args, (size_t)n));
    ck_assert_uint_eq(lw_forget_shell_script(), 2);
    ck_assert_uint_eq(lw_live_count(LW_FD), 1); /* /dev/null stays: the shell's own leaks are still leaks */
    close(fd);
    close(other);
    close(again);
    unlink(script_path);
    lw_reset_for_tests();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tracker_trust");
    TCase *tc = tcase_create("dump signal");
    tcase_add_test(tc, dump_signal_names_and_numbers_refused_alike);
    tcase_add_test(tc, dump_signal_refused_keeps_none);
    suite_add_tcase(s, tc);
    tc = tcase_create("exec environment");
    tcase_add_test(tc, exec_env_removed_on_purpose_stays_removed);
    tcase_add_test(tc, exec_env_cleared_gets_leakwatch_back);
    tcase_add_test(tc, exec_env_preload_lists);
    suite_add_tcase(s, tc);
    tc = tcase_create("shell script");
    tcase_add_test(tc, shell_script_found_on_the_command_line);
    tcase_add_test(tc, shell_script_descriptor_is_released);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    setenv("LEAKWATCH_REPORT", "none", 1);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

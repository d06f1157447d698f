/* `leakwatch run`: runs a command tree under libleakwatch.so, then reports and gates on what every process leaked. */
#include "aggregate.h"
#include "ci.h"
#include "cli.h"
#include "render.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "Usage: leakwatch run [--json FILE] [--sarif FILE] [--junit FILE] [--max-leaks N] [--exit-code N]\n"
    "                     [--kinds LIST] [--suppressions FILE]... [--baseline FILE] -- CMD [ARGS...]\n"
    "\n"
    "Runs CMD with libleakwatch.so preloaded into it and into every process it starts, then prints on stderr\n"
    "what each of them still held at exit (heap blocks, descriptors, sockets, threads, timers), merged by\n"
    "call site.\n"
    "\n"
    "  --json FILE      also write the JSON report (docs/FORMAT.md) to FILE\n"
    "  --max-leaks N    allow up to N leaks before failing (default 0)\n"
    "  --exit-code N    exit status when there are more leaks than allowed (default 23)\n"
    "  --kinds LIST     the kinds that count against --max-leaks, comma-separated: heap,fd,socket,thread,timer\n"
    "                   or all (default all). What the library tracks is LEAKWATCH_KINDS, left as it is.\n"
    "  --sarif FILE     also write a SARIF 2.1.0 log (one result per leaking site) to FILE\n"
    "  --junit FILE     also write JUnit XML (a test case per process, a failure per leaking site) to FILE\n"
    "  --suppressions FILE  hide the sites matched by FILE's lines (leak:, fd:, socket:, thread:, timer:\n"
    "                   PATTERN; LeakSanitizer's leak: files work as they are); repeatable, and read after the\n"
    "                   files of LEAKWATCH_SUPPRESSIONS (colon-separated)\n"
    "  --no-default-suppressions  do not apply the built-in list for the C and C++ runtimes' own memory\n"
    "  --baseline FILE  an earlier --json report (or `leakwatch baseline` file): leaks at its call sites are\n"
    "                   listed, marked as in the baseline, but do not count against --max-leaks\n"
    "  --show-reachable list the heap blocks still reachable at exit in the text report too\n"
    "  --gate-reachable count reachable heap blocks against --max-leaks as well\n"
    "\n"
    "Exit status: CMD's own status when it leaked at most N handles of the gated kinds; 23 (or --exit-code)\n"
    "when it leaked more; 128+S when CMD was killed by signal S; 127 when CMD was not found, 126 when it could\n"
    "not be executed; 125 when leakwatch itself failed (e.g. libleakwatch.so not found); 2 on a usage error.\n"
    "\n"
    "The library is LEAKWATCH_LIB when set, else ../lib/libleakwatch.so or ../lib/leakwatch/libleakwatch.so\n"
    "next to this program's directory.\n";

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

/* The child while it runs, 0 before, -1 once it has been reaped (never signal a pid that may be reused). */
static volatile sig_atomic_t child_pid;
/* A signal that arrived after the child was reaped: raised again once the temporary directory is gone. */
static volatile sig_atomic_t late_signal;

static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    pid_t pid = (pid_t)child_pid;
    if (pid <= 0) {
        late_signal = sig;
        return;
    }
    /* A terminal sends SIGINT, SIGQUIT and SIGHUP to its whole foreground process group, which holds the
     * child too (si_code SI_KERNEL): forwarding those would deliver them twice, unless the child has left our
     * process group. */
    if (si && si->si_code == SI_KERNEL && getpgid(pid) == getpgrp())
        return;
    kill(pid, sig);
}

/* Where libleakwatch.so is: LEAKWATCH_LIB, else relative to this executable. Returns a malloc'd path or NULL
 * (with the reason printed). */
static char *find_library(void)
{
    const char *env = getenv("LEAKWATCH_LIB");
    if (env && env[0]) {
        if (access(env, R_OK) != 0) {
            fprintf(stderr, "leakwatch: LEAKWATCH_LIB=%s: %s\n", env, strerror(errno));
            return NULL;
        }
        return realpath(env, NULL);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        static const char *const rel[] = { "/../lib/libleakwatch.so", "/../lib/leakwatch/libleakwatch.so" };
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char path[PATH_MAX + 64];
            snprintf(path, sizeof path, "%s%s", self, rel[i]);
            if (access(path, R_OK) == 0)
                return realpath(path, NULL);
        }
    }
    fprintf(stderr,
            "leakwatch: libleakwatch.so not found (looked in %s/../lib and %s/../lib/leakwatch); "
            "set LEAKWATCH_LIB to its path\n",
            n > 0 ? self : "?", n > 0 ? self : "?");
    return NULL;
}

/* Everything the child needs before exec. */
typedef struct {
    const char *lib;
    const char *dump_dir;
    struct sigaction *old;
    sigset_t *oldmask;
    int errpipe;
    char **cmd;
} child_t;

static void child(const child_t *c)
{
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(c->lib) + (old ? strlen(old) : 0) + 2;
    char *preload = malloc(len);
    int err = ENOMEM;
    if (preload) {
        snprintf(preload, len, "%s%s%s", c->lib, old && old[0] ? ":" : "", old && old[0] ? old : "");
        if (setenv("LD_PRELOAD", preload, 1) == 0 && setenv("LEAKWATCH_DUMP_DIR", c->dump_dir, 1) == 0
            && setenv("LEAKWATCH_REPORT", "none", 1) == 0) {
            for (size_t i = 0; i < NFORWARDED; i++)
                sigaction(forwarded[i], &c->old[i], NULL);
            sigprocmask(SIG_SETMASK, c->oldmask, NULL);
            execvp(c->cmd[0], c->cmd);
        }
        err = errno;
    }
    /* Tell the parent why exec failed; it prints the message. */
    ssize_t w = write(c->errpipe, &err, sizeof err);
    (void)w;
    _exit(err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG ? LWR_EXIT_NOTFOUND : LWR_EXIT_NOEXEC);
}

typedef struct {
    const char *json;
    uint64_t max_leaks;
    int exit_code;
    lwr_kindset_t kinds;
    char **cmd;
    lwr_ci_t ci;
} options_t;

static int parse(int argc, char **argv, options_t *o, int *status)
{
    int i = 1;
    while (i < argc) {
        const char *v;
        int r;
        uint64_t n;
        if (strcmp(argv[i], "--") == 0) {
            if (i + 1 >= argc) {
                *status = lwr_usage_error("run", "no command after '--'");
                return -1;
            }
            o->cmd = &argv[i + 1];
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            *status = 0;
            return -1;
        }
        if ((r = lwr_take_option("run", argc, argv, &i, "--json", &v)) != 0) {
            if (r < 0 || !v[0]) {
                *status = r < 0 ? LWR_EXIT_USAGE : lwr_usage_error("run", "--json needs a file name");
                return -1;
            }
            o->json = v;
        } else if ((r = lwr_take_option("run", argc, argv, &i, "--max-leaks", &v)) != 0) {
            if (r < 0 || lwr_parse_uint(v, INT64_MAX, &n) != 0) {
                *status = r < 0 ? LWR_EXIT_USAGE : lwr_usage_error("run", "--max-leaks: '%s' is not a count", v);
                return -1;
            }
            o->max_leaks = n;
        } else if ((r = lwr_take_option("run", argc, argv, &i, "--exit-code", &v)) != 0) {
            if (r < 0 || lwr_parse_uint(v, 255, &n) != 0) {
                *status = r < 0 ? LWR_EXIT_USAGE
                                : lwr_usage_error("run", "--exit-code: '%s' is not a number from 0 to 255", v);
                return -1;
            }
            o->exit_code = (int)n;
        } else if ((r = lwr_take_option("run", argc, argv, &i, "--kinds", &v)) != 0) {
            char bad[80];
            if (r < 0) {
                *status = LWR_EXIT_USAGE;
                return -1;
            }
            if (lwr_kinds_parse(v, &o->kinds, bad, sizeof bad) != 0) {
                *status = lwr_usage_error("run", "--kinds: unknown kind '%s' (heap, fd, socket, thread, timer, all)",
                                          bad);
                return -1;
            }
        } else if ((r = lwr_ci_take_option("run", argc, argv, &i, true, &o->ci)) != 0) {
            if (r < 0) {
                *status = LWR_EXIT_USAGE;
                return -1;
            }
        } else if (argv[i][0] == '-') {
            *status = lwr_usage_error("run", "unknown option '%s'", argv[i]);
            return -1;
        } else {
            *status = lwr_usage_error("run", "missing '--' before the command ('%s')", argv[i]);
            return -1;
        }
    }
    *status = lwr_usage_error("run", "missing '--' and the command to run");
    return -1;
}

/* Reads the dumps, prints the report, writes --json. Returns the gated leak count, or -1 when leakwatch failed
 * (reported). */
static int64_t report(const char *dir, const options_t *o, int wait_status)
{
    lwr_dumplist_t dumps = { NULL, 0, 0 };
    int unreadable = lwr_collect_dir(dir, &dumps);
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    lwr_report_t *rep = lwr_report_build(dumps.v, dumps.n, sym);
    size_t ndumps = dumps.n;
    lwr_dumplist_free(&dumps);
    if (!rep) {
        lwr_symbolizer_free(sym);
        fprintf(stderr, "leakwatch: out of memory\n");
        return -1;
    }
    if (lwr_ci_apply(rep, &o->ci) != 0) {
        lwr_report_free(rep);
        lwr_symbolizer_free(sym);
        fprintf(stderr, "leakwatch: out of memory\n");
        return -1;
    }
    lwr_report_gate(rep, o->max_leaks, o->kinds, o->ci.gate_reachable, o->ci.baseline != NULL);

    if (ndumps == 0 && unreadable == 0 && WIFSIGNALED(wait_status))
        ;   /* said below: a killed process writes no dump */
    else if (ndumps == 0 && unreadable == 0)
        fprintf(stderr,
                "leakwatch: no process wrote a dump: %s did not run with libleakwatch.so (a static binary, "
                "a setuid program, or a program that clears LD_PRELOAD?)\n",
                o->cmd[0]);
    else
        lwr_render_text(stderr, rep);
    if (WIFSIGNALED(wait_status))
        fprintf(stderr, "leakwatch: %s was killed by signal %d (%s)%s\n", o->cmd[0], WTERMSIG(wait_status),
                strsignal(WTERMSIG(wait_status)), ndumps == 0 ? " before any process wrote a dump" : "");
    else if (rep->gate.failed)
        fprintf(stderr, "leakwatch: %" PRIu64 " %s%s, more than --max-leaks %" PRIu64 "; exit status %d\n",
                rep->gate.leaks, rep->gate.leaks == 1 ? "leak" : "leaks",
                rep->gate.has_baseline ? " not in the baseline" : "", o->max_leaks, o->exit_code);
    if (!WIFSIGNALED(wait_status) && rep->gate.has_baseline && rep->gate.baseline > 0)
        fprintf(stderr, "leakwatch: %" PRIu64 " %s in the baseline (%s), not counted\n", rep->gate.baseline,
                rep->gate.baseline == 1 ? "leak is" : "leaks are", o->ci.baseline);
    int64_t leaks = (int64_t)rep->gate.leaks;
    if (o->json) {
        int err = lwr_render_json_file(o->json, rep);
        if (err) {
            fprintf(stderr, "leakwatch: --json %s: %s\n", o->json, strerror(err));
            leaks = -1;
        }
    }
    if (lwr_ci_write_outputs(rep, &o->ci) != 0)
        leaks = -1;
    lwr_report_free(rep);
    lwr_symbolizer_free(sym);
    return leaks;
}

static int run_command(options_t *op);

static int run_main(int argc, char **argv)
{
    options_t o = { NULL, 0, LWR_EXIT_LEAKS, LWR_ALL_KINDS, NULL, LWR_CI_INIT };
    int status;
    if (parse(argc, argv, &o, &status) != 0) {
        lwr_ci_free(&o.ci);
        return status;
    }
    status = lwr_ci_load("run", &o.ci);   /* bad suppressions or baseline: said before CMD runs */
    if (status == 0)
        status = run_command(&o);
    lwr_ci_free(&o.ci);
    return status;
}

static int run_command(options_t *op)
{
    options_t o = *op;

    char *lib = find_library();
    if (!lib)
        return LWR_EXIT_INTERNAL;
    if (strpbrk(lib, " :")) {
        fprintf(stderr, "leakwatch: %s: LD_PRELOAD cannot name a path with a space or a colon\n", lib);
        free(lib);
        return LWR_EXIT_INTERNAL;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/leakwatch.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "leakwatch: cannot create a directory %s: %s\n", dir, strerror(errno));
        free(lib);
        return LWR_EXIT_INTERNAL;
    }
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "leakwatch: pipe: %s\n", strerror(errno));
        lwr_remove_dir(dir);
        free(lib);
        return LWR_EXIT_INTERNAL;
    }

    /* Signals are blocked across fork so that none is lost or handled before child_pid is known. */
    struct sigaction act, old[NFORWARDED];
    sigset_t block, oldmask;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = forward;
    act.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&act.sa_mask);
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &act, &old[i]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(errpipe[0]);
        child_t c = { lib, dir, old, &oldmask, errpipe[1], o.cmd };
        child(&c);
    }
    int fork_errno = errno;
    close(errpipe[1]);
    child_pid = pid > 0 ? pid : -1;
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    /* A reader that closed our stderr must not kill us before the JSON report is written, the temporary
     * directory removed and the status returned: writes then fail with EPIPE instead. Set after fork so that
     * the command keeps the disposition it was given. */
    struct sigaction ign, oldpipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &oldpipe);
    free(lib);
    if (pid < 0) {
        fprintf(stderr, "leakwatch: fork: %s\n", strerror(fork_errno));
        close(errpipe[0]);
        lwr_remove_dir(dir);
        return LWR_EXIT_INTERNAL;
    }

    int exec_err = 0;
    ssize_t got;
    do
        got = read(errpipe[0], &exec_err, sizeof exec_err);
    while (got < 0 && errno == EINTR);
    close(errpipe[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    sigprocmask(SIG_BLOCK, &block, NULL);
    child_pid = -1;
    sigprocmask(SIG_SETMASK, &oldmask, NULL);

    int rc;
    if (got == (ssize_t)sizeof exec_err) {
        fprintf(stderr, "leakwatch: %s: %s\n", o.cmd[0],
                exec_err == ENOENT && !strchr(o.cmd[0], '/') ? "command not found" : strerror(exec_err));
        rc = exec_err == ENOENT || exec_err == ENOTDIR || exec_err == ENAMETOOLONG ? LWR_EXIT_NOTFOUND
                                                                                  : LWR_EXIT_NOEXEC;
    } else {
        int64_t leaks = report(dir, &o, ws);
        rc = leaks < 0 ? LWR_EXIT_INTERNAL : lwr_run_exit_status(ws, (uint64_t)leaks, o.max_leaks, o.exit_code);
    }
    int err = lwr_remove_dir(dir);
    if (err)
        fprintf(stderr, "leakwatch: cannot remove %s: %s\n", dir, strerror(err));
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &old[i], NULL);
    sigaction(SIGPIPE, &oldpipe, NULL);
    if (late_signal) {
        /* Interrupted while reporting: die of the same signal, as the user asked. */
        signal(late_signal, SIG_DFL);
        raise(late_signal);
    }
    return rc;
}

const lwr_command_t lwr_cmd_run = {
    "run",
    "run a command under libleakwatch.so, report its leaks and gate on them",
    usage,
    run_main,
};

/* The end of the tracker's life: the exit dump and report, run after the program's own atexit handlers and
 * destructors and after the runtime has freed its own memory, and the load and unload hooks that arrange it. */
#include "internal.h"
#include "lsan.h"
#include "markers.h"
#include "shell_script.h"
#include "sys.h"
#include "warnings.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);
extern void __libc_freeres(void);

/* Counts this process's threads from /proc/self/status without allocating; 0 when unknown. */
static int thread_count(void)
{
    char buf[4096];
    ssize_t n = lw_read_file("/proc/self/status", buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strstr(buf, "\nThreads:");
    return p ? atoi(p + 9) : 0;
}

/* The runtime keeps some allocations until exit on purpose (stdio buffers, libstdc++'s emergency exception
 * pool, dynamic TLS); these functions free them so that they are not reported. Both free memory other threads
 * may still use, so they run only when the program is down to one thread. */
static void free_runtime(void)
{
    lw_self.busy = 1; /* reading /proc opens a descriptor: not the program's */
    int alone = thread_count() - lw_dumper_threads() == 1;
    lw_self.busy = 0;
    if (!lw_config.freeres || !alone)
        return;
    void (*cxx)(void);
    void *sym = dlsym(RTLD_DEFAULT, "_ZN9__gnu_cxx9__freeresEv");
    memcpy(&cxx, &sym, sizeof(cxx)); /* POSIX: a dlsym result converts to a function pointer */
    if (cxx)
        cxx();
    __libc_freeres();
}

/* The environment the report command gets, and the TMPDIR dumps go to without LEAKWATCH_DUMP_DIR: the process's
 * environment as the library started in it (lw_note_environment; under `leakwatch attach`, as it was then), as
 * LeakSanitizer reads its options at start, so that a program that clears its environment (nginx's workers)
 * still has its dumps where the user said and its LSAN_OPTIONS honoured; copied at exit only when there was none
 * at start, and then before the runtime's freeing (__libc_freeres clears the environment). LD_PRELOAD is left out
 * so the command is not traced. */
typedef struct {
    char **envp;
    char *strings;
    size_t nptr, nbytes;
    char tmpdir[512];
} env_copy_t;

static void copy_environment(env_copy_t *c)
{
    extern char **environ;
    size_t n = 0, bytes = 0;
    memset(c, 0, sizeof(*c));
    const char *tmp = getenv("TMPDIR");
    lw_strlcpy(c->tmpdir, tmp && *tmp ? tmp : "/tmp", sizeof(c->tmpdir));
    for (char **e = environ; e && *e; e++) {
        n++;
        bytes += strlen(*e) + 1;
    }
    c->nptr = n + 1;
    c->nbytes = bytes + 1;
    c->envp = lw_mem_alloc(c->nptr * sizeof(char *));
    c->strings = lw_mem_alloc(c->nbytes);
    if (!c->envp || !c->strings)
        return;
    size_t k = 0;
    char *p = c->strings;
    for (char **e = environ; e && *e && k < n; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) == 0)
            continue;
        size_t len = strlen(*e) + 1;
        if (len > (size_t)(c->strings + c->nbytes - p))
            break; /* grown since it was measured (another thread's setenv, under `leakwatch attach`) */
        memcpy(p, *e, len);
        c->envp[k++] = p;
        p += len;
    }
    c->envp[k] = NULL;
}

static void free_environment(env_copy_t *c)
{
    lw_mem_free(c->envp, c->nptr * sizeof(char *));
    lw_mem_free(c->strings, c->nbytes);
}

static env_copy_t start_env; /* envp NULL: not taken */

const char *lw_start_tmpdir(void)
{
    if (start_env.envp)
        return start_env.tmpdir;
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

void lw_note_environment(void)
{
    extern char **environ;
    if (start_env.envp || !environ || !environ[0])
        return;
    copy_environment(&start_env);
    if (!start_env.envp || !start_env.strings) {
        free_environment(&start_env);
        memset(&start_env, 0, sizeof(start_env));
    }
}

/* Runs `leakwatch report` on the dump with its output on our stderr, from a quiet copy (lw_sys_fork_quiet: no
 * atfork handler of the program runs, no SIGCHLD reaches it, its waits never see the command) and with an
 * environment without LD_PRELOAD so the command is not traced itself. */
static int print_report(const char *dump, char **envp)
{
    static char *empty[] = { NULL };
    if (!envp)
        envp = empty;
    int lsan = lw_lsan_active();
    char *argv[] = { lw_config.cli, (char *)"report", (char *)"--format", (char *)"text",
                     lsan ? (char *)"--lsan" : (char *)dump, lsan ? (char *)dump : NULL, NULL };

    pid_t pid = lw_sys_fork_quiet();
    if (pid == 0) {
        /* descriptor 2 taken by a file of the program's: the report goes nowhere, its status still counts */
        if (!lw_stderr_usable(STDERR_FILENO)) {
            int null = lw_sys_open("/dev/null", O_WRONLY | O_CLOEXEC, 0);
            if (null >= 0)
                lw_sys_dup2(null, STDERR_FILENO);
        }
        lw_sys_dup2(STDERR_FILENO, STDOUT_FILENO);
        /* the system call itself, in a child of this copy: the execve wrapper would put LD_PRELOAD back, and the
         * report would trace itself */
        lw_sys_exec_in_copy(lw_config.cli, argv, envp);
    }
    int st = 0;
    if (pid > 0 && lw_sys_reap(pid, &st) != 0)
        st = 0;
    if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) == 127)
        lw_warn("could not run %s; read the dump with `leakwatch report %s`", lw_config.cli, dump);
    return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void final_report_as(int via_exit)
{
    static atomic_int done;
    /* the pid first: a vfork child shares this memory, and its _exit must not use up the parent's report */
    if (getpid() != lw_pid || atomic_exchange(&done, 1))
        return;
    if (lw_self.busy) {
        /* exit or _exit from a signal handler that interrupted the tracker: the interrupted code holds a lock
         * the dump needs, so there is no dump rather than a hang */
        lw_warn("the program exited from inside a signal handler that interrupted leakwatch; no exit report");
        return;
    }
    if (lw_self.pending) /* a handler's releases that the call it interrupted has not carried out yet */
        lw_finish_deferred();
    int saved = errno;

    lw_self.busy = 1;
    env_copy_t now, *env = &start_env;
    if (!start_env.envp) {
        copy_environment(&now);
        env = &now;
    }
    lw_self.busy = 0;
    if (via_exit)
        free_runtime();
    lw_forget_shell_script(); /* a shell's descriptor on its own script is not a leak */
    lw_self.busy = 1;

    size_t live = lw_tables_total(), warned = lw_warning_count();
    /* acquisitions or stacks lost for want of memory: "no leaks" would be a guess */
    unsigned long lost = atomic_load(&lw_lost_records), lost_sites = atomic_load(&lw_lost_sites);
    char path[4096];
    int err = 0, report_status = -1;
    path[0] = '\0';
    if (lw_config.dump_dir[0]) {
        err = lw_dump_next(lw_config.dump_dir, "exit", path, sizeof(path));
        if (!err)
            lw_marker_done();
    } else if (lw_config.report == LW_REPORT_TEXT && (live > 0 || warned > 0 || lost || lost_sites)) {
        /* in a shared $TMPDIR or /tmp the dump goes to a private directory in it (dump.c) */
        err = lw_dump_next(env->tmpdir, "exit", path, sizeof(path));
    }
    /* Under `leakwatch run`, a dump directory that is gone means the run ended before this process and named it
     * as still running: its stderr, the program's, hears nothing more of it. */
    if (err && !(err == ENOENT && lw_markers_enabled()))
        lw_warn("could not write the dump %s: %s", path, strerror(err));

    if (lw_config.report == LW_REPORT_TEXT) {
        if (live == 0 && warned == 0 && !lost && !lost_sites && lw_sample_mean)
            lw_warn("no sampled block still held (pid %d); LEAKWATCH_SAMPLE records a few blocks only: this is no "
                    "exact leak check", (int)getpid());
        else if (live == 0 && warned == 0 && !lost && !lost_sites)
            lw_warn("no leaks (pid %d)", (int)getpid());
        else if (!err && lw_config.cli[0]) {
            /* With no standard error to print on (a program that closed it) only LSAN_OPTIONS gives the report a
             * use, its status or its log_path; otherwise it is not run, and the dump stays for `leakwatch
             * report`. */
            if (lw_lsan_active() || lw_stderr_usable(STDERR_FILENO))
                report_status = print_report(path, env->envp);
        } else if (!err) {
            lw_warn("%zu handles still held at exit; dump: %s (read it with `leakwatch report`)", live, path);
        }
        if (lost || lost_sites)
            lw_warn("out of memory: %lu acquisitions were not recorded and %lu stacks not kept; this report is "
                    "incomplete", lost, lost_sites);
    }
    if (env == &now)
        free_environment(&now);
    errno = saved;
    lw_lsan_exit(report_status, via_exit && !lw_config.freeres);   /* LSAN_OPTIONS exitcode= */
}

static void final_report(void *unused)
{
    (void)unused;
    final_report_as(1);
}

void lw_on_quick_exit(int status)
{
    lw_note_exit(status);
    /* _exit skips exit handlers and destructors: the program's state is what it is, and other threads may be
     * running, so the runtime's memory is left alone (the scan finds it reachable). */
    final_report_as(0);
}

void lw_on_load(void)
{
    lw_init();
    lw_note_environment(); /* when lw_init ran before environ was set (a malloc inside the dynamic loader) */
    lw_attach_bind();
    lw_dumper_start();
}

void lw_on_unload(void)
{
    /* A destructor runs too early (before the destructors of libraries initialised ahead of the injected one),
     * but an exit handler registered from it runs after every destructor has finished. */
    if (getpid() == lw_pid)
        __cxa_atexit(final_report, NULL, NULL);
}

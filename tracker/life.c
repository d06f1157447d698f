/* The tracker's lifetime: lazy initialisation from the first hook, fork handling, and the exit report that runs
 * after the program's own atexit handlers and destructors and after the runtime has freed its own memory. */
#include "internal.h"
#include "markers.h"
#include "sys.h"
#include "warn_events.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

pid_t lw_pid;
int lw_exit_status = -1;

static atomic_int init_state; /* 0 not started, 1 in progress, 2 done */
static int saved_busy_at_fork;

void lw_note_exit(int status)
{
    if (getpid() == lw_pid || !lw_pid)
        lw_exit_status = status & 0xff;
}

uintptr_t lw_exit_frame;

void lw_note_exit_frame(uintptr_t frame)
{
    if (getpid() == lw_pid && !lw_exit_frame)
        lw_exit_frame = frame;
}

static int fork_locked; /* whether prepare took the locks (it does not from inside the tracker) */

static void atfork_prepare(void)
{
    saved_busy_at_fork = lw_self.busy;
    /* fork from a signal handler that interrupted the tracker: this thread holds one of the locks already, and
     * taking them all would wait for itself. The child may then inherit a lock held, as it would without us. */
    fork_locked = !lw_self.busy;
    if (!fork_locked)
        return;
    /* Handlers registered before ours run after this one and may allocate: the guard lets them through. */
    lw_self.busy = 1;
    /* the order every other path takes them in: dump, then unwinds, sites, shards, allocator */
    lw_dump_lock_for_fork();
    lw_stack_block_unwinds();
    lw_sites_lock_all();
    lw_tables_lock_all();
    lw_mem_lock_all();
}

static void atfork_parent(void)
{
    if (!fork_locked)
        return;
    lw_mem_unlock_all();
    lw_tables_unlock_all();
    lw_sites_unlock_all();
    lw_stack_allow_unwinds(0);
    lw_dump_unlock_for_fork();
    lw_self.busy = saved_busy_at_fork;
}

static void atfork_child(void)
{
    if (!fork_locked) {
        lw_pid = getpid();
        lw_tables_forked();
        lw_sites_forked();
        lw_marker_forked();
        return;
    }
    lw_mem_unlock_all();
    lw_tables_unlock_all();
    lw_sites_unlock_all();
    lw_stack_allow_unwinds(1);
    lw_pid = getpid();
    lw_exit_status = -1;
    lw_exit_frame = 0;
    lw_tables_forked();
    lw_sites_forked();
    lw_warnings_forked();
    lw_mem_forked();
    lw_dump_forked();
    lw_dumper_forked();
    atomic_store(&lw_dump_seq, 0);
    lw_start_ms = 0;
    (void)lw_now_ms();
    lw_marker_forked();
    lw_self.busy = saved_busy_at_fork;
}

void lw_init(void)
{
    if (LW_LIKELY(atomic_load_explicit(&init_state, memory_order_acquire) == 2))
        return;
    int expect = 0;
    if (atomic_compare_exchange_strong(&init_state, &expect, 1)) {
        lw_guard_t guard = lw_enter();
        lw_pid = getpid();
        (void)lw_now_ms();
        lw_config_load();
        lw_dump_seq_resume();
        lw_shell_script_init();
        lw_fds_at_start();
        lw_markers_init();
        lw_stack_init();
        if (lw_unwinder_io_init() != 0 && lw_config.unwind == LW_UNWIND_LIBUNWIND) {
            lw_warn("cannot give libunwind a validation without descriptors; stacks come from frame pointers");
            lw_config.unwind = LW_UNWIND_FP;
        }
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
        /* room for the unwind rules of a few thousand code addresses: a miss in libunwind's own cache costs a
         * search of the loaded objects with every signal blocked */
        unw_set_cache_size(unw_local_addr_space, 4096, 0);
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        atomic_store_explicit(&init_state, 2, memory_order_release);
        lw_leave(guard);
        return;
    }
    /* Another thread is initialising: wait for it. A re-entry from this thread's own initialisation returns at
     * once, and the guard it holds keeps the inner call untracked. */
    if (lw_self.busy)
        return;
    while (atomic_load_explicit(&init_state, memory_order_acquire) != 2)
        sched_yield();
}

void lw_reset_for_tests(void)
{
    lw_init();
    lw_tables_reset();
    lw_sites_reset();
}

/* ---- exit ---------------------------------------------------------------------------------------------- */

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

/* The environment the report command gets, copied before the runtime's freeing: __libc_freeres clears the
 * environment (and frees the strings setenv made). LD_PRELOAD is left out so the command is not traced. */
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

/* Runs `leakwatch report` on the dump with its output on our stderr, from a quiet copy (lw_sys_fork_quiet: no
 * atfork handler of the program runs, no SIGCHLD reaches it, its waits never see the command) and with an
 * environment without LD_PRELOAD so the command is not traced itself. */
static void print_report(const char *dump, char **envp)
{
    static char *empty[] = { NULL };
    if (!envp)
        envp = empty;
    char *argv[] = { lw_config.cli, (char *)"report", (char *)"--format", (char *)"text", (char *)dump, NULL };

    pid_t pid = lw_sys_fork_quiet();
    if (pid == 0) {
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
    int saved = errno;

    lw_self.busy = 1;
    env_copy_t env;
    copy_environment(&env);
    lw_self.busy = 0;
    if (via_exit)
        free_runtime();
    lw_forget_shell_script(); /* a shell's descriptor on its own script is not a leak */
    lw_self.busy = 1;

    size_t live = lw_tables_total(), warned = lw_warning_count();
    /* acquisitions or stacks lost for want of memory: "no leaks" would be a guess */
    unsigned long lost = atomic_load(&lw_lost_records), lost_sites = atomic_load(&lw_lost_sites);
    char path[4096];
    int err = 0;
    path[0] = '\0';
    if (lw_config.dump_dir[0]) {
        err = lw_dump_next(lw_config.dump_dir, "exit", path, sizeof(path));
        if (!err)
            lw_marker_done();
    } else if (lw_config.report == LW_REPORT_TEXT && (live > 0 || warned > 0 || lost || lost_sites)) {
        /* in a shared $TMPDIR or /tmp the dump goes to a private directory in it (dump.c) */
        err = lw_dump_next(env.tmpdir, "exit", path, sizeof(path));
    }
    if (err)
        lw_warn("could not write the dump %s: errno %d", path, err);

    if (lw_config.report == LW_REPORT_TEXT) {
        if (live == 0 && warned == 0 && !lost && !lost_sites && lw_config.sample)
            lw_warn("no sampled block still held (pid %d); LEAKWATCH_SAMPLE records a few blocks only: this is no "
                    "exact leak check", (int)getpid());
        else if (live == 0 && warned == 0 && !lost && !lost_sites)
            lw_warn("no leaks (pid %d)", (int)getpid());
        else if (!err && lw_config.cli[0])
            print_report(path, env.envp);
        else if (!err)
            lw_warn("%zu handles still held at exit; dump: %s (read it with `leakwatch report`)", live, path);
        if (lost || lost_sites)
            lw_warn("out of memory: %lu acquisitions were not recorded and %lu stacks not kept; this report is "
                    "incomplete", lost, lost_sites);
    }
    free_environment(&env);
    errno = saved;
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
    lw_dumper_start();
}

void lw_on_unload(void)
{
    /* A destructor runs too early (before the destructors of libraries initialised ahead of the injected one),
     * but an exit handler registered from it runs after every destructor has finished. */
    if (getpid() == lw_pid)
        __cxa_atexit(final_report, NULL, NULL);
}

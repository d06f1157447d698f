/* Dumps from a running process: a background thread that writes them, waiting for the dump signal (blocked in
 * it, and taken with sigtimedwait) or for the next interval. `leakwatch dump` sends the signal to that thread
 * alone; a signal sent to the process runs a handler that only passes it on to the thread, so that no lock the
 * interrupted code may hold is ever taken in the handler. Every process that keeps running gets a thread of its
 * own: a forked child starts its thread lazily, at the first tracked acquisition after the dump signal reached it
 * or, when an interval is set, at its first heap allocation, so that a child that calls unshare, setns or execve
 * at once still has one thread and never notices leakwatch. */
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pid_t dumper_pid; /* the process the dumper thread runs in, 0 until this one starts its own */
static int dumps_on;     /* a dump thread was started in this process or an ancestor: a forked child starts one */
/* The dump thread that waits for the signal, as its pid << 32 | its tid: a forked child still holds its parent's,
 * which names another process. */
static _Atomic uint64_t dumper_ready;
/* A process whose signal came before its dump thread waited (a forked child, often while fork still returned in
 * it): its pid, until that thread takes the signal over. */
static atomic_int early_signal;
static lw_lock_t start_lock;
static int handler_set;  /* the handler is in place in this image (fork keeps it, exec starts afresh) */
static atomic_int takeover_warned;
atomic_int lw_dumper_wanted;

/* Sends sig to the dump thread of process me, where it stays pending (the thread blocks it) until the thread
 * takes it. Returns 0 when me has no such thread yet. */
static int pass_to_thread(pid_t me, int sig)
{
    uint64_t r = atomic_load(&dumper_ready);
    if ((pid_t)(r >> 32) != me)
        return 0;
    lw_syscall(SYS_tgkill, (long)me, (long)(uint32_t)r, (long)sig);
    return 1;
}

/* A signal sent to the process: passed on to the dump thread, which writes the dump, so that no lock the
 * interrupted code may hold is taken here. (`leakwatch dump` sends it to the thread itself: then no thread of
 * the program is interrupted at all.) */
static void on_dump_signal(int sig)
{
    int saved = errno;
    pid_t me = (pid_t)lw_syscall(SYS_getpid); /* a child still in fork's handlers has the parent's lw_pid */
    if (!pass_to_thread(me, sig)) {
        atomic_store(&early_signal, me);
        /* the thread may have come up since, after it looked for an early signal: then one of the two takes it */
        if ((pid_t)(atomic_load(&dumper_ready) >> 32) == me && atomic_exchange(&early_signal, 0) == me)
            pass_to_thread(me, sig);
    }
    /* a forked child without its thread yet: the next acquisition starts it (creating a thread here could take
     * a lock the interrupted code holds) and the thread finds the early signal */
    if (dumper_pid != me)
        atomic_fetch_or(&lw_dumper_wanted, LW_DUMPER_AT_ANY);
    errno = saved;
}

static const char *dump_dir(void)
{
    return lw_config.dump_dir[0] ? lw_config.dump_dir : lw_start_tmpdir();
}

/* The thread's name carries the dump signal ("leakwatch-s34"), so that `leakwatch dump PID` finds the signal in
 * /proc/PID/task/TID/comm without asking the user and without a descriptor or file held for it. */
static void name_thread(void)
{
    char name[16] = "leakwatch-s";
    lw_fmt_u64(name + 11, (uint64_t)(unsigned)lw_config.dump_signal)[0] = '\0';
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

static void add_seconds(struct timespec *t, unsigned s)
{
    t->tv_sec += (time_t)s;
}

static int before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* A real-time signal to suggest instead of the dump signal, which the program wants for itself. */
static const char *other_signal(void)
{
    return lw_config.dump_signal == SIGRTMIN + 3 ? "RTMIN+4" : "RTMIN+3";
}

/* A thread of the program other than self that leaves sig unblocked (SigBlk in /proc/self/task/TID/status), or
 * 0 when every one blocks it. Raw calls into this thread's own descriptor table. */
static pid_t thread_taking(int sig, pid_t self)
{
    char names[2048] __attribute__((aligned(8))), path[64], text[4096];
    pid_t found = 0;
    int dir = lw_sys_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return 0;
    for (long got; !found && (got = lw_sys_getdents64(dir, names, sizeof(names))) > 0;) {
        for (long off = 0; !found && off < got;) {
            const lw_dirent64_t *d = (const void *)(names + off);
            off += d->reclen;
            pid_t tid = 0;
            for (const char *q = d->name; *q >= '0' && *q <= '9'; q++)
                tid = tid * 10 + (*q - '0');
            if (!tid || tid == self)
                continue;
            char *p = path + lw_strlcpy(path, "/proc/self/task/", sizeof(path));
            p = lw_fmt_u64(p, (uint64_t)tid);
            lw_strlcpy(p, "/status", sizeof(path) - (size_t)(p - path));
            ssize_t n = lw_read_file(path, text, sizeof(text) - 1);
            if (n <= 0)
                continue;
            text[n] = '\0';
            const char *b = strstr(text, "\nSigBlk:");
            if (!b)
                continue;
            uint64_t mask = 0;
            for (b += 8; *b == ' ' || *b == '\t'; b++)
                ;
            for (; (*b >= '0' && *b <= '9') || (*b >= 'a' && *b <= 'f'); b++)
                mask = mask << 4 | (uint64_t)(*b <= '9' ? *b - '0' : *b - 'a' + 10);
            if (!(mask >> (sig - 1) & 1))
                found = tid;
        }
    }
    lw_sys_close(dir);
    return found;
}

/* A signal sent to the process that the kernel gave to this thread because it waits for it: it is a thread of
 * the program's to take (the library's handler there passes it back to this thread; a handler of the program's
 * is the program's). When every thread of the program blocks it (a program that takes it with sigwait or a
 * signalfd), it goes back to the process, and this thread stops waiting for the signal, which would take it
 * again. */
static void give_back(int sig, siginfo_t *info, sigset_t *want)
{
    pid_t self = (pid_t)lw_syscall(SYS_gettid);
    pid_t t = thread_taking(sig, self);
    /* queued again with the sender's pid and uid; the kernel takes only a negative code from another thread */
    if (info->si_code >= 0 || info->si_code == SI_TKILL)
        info->si_code = SI_QUEUE;
    if (t) {
        lw_syscall(SYS_rt_tgsigqueueinfo, (long)lw_pid, (long)t, (long)sig, info);
        return;
    }
    sigdelset(want, sig);
    lw_syscall(SYS_rt_sigqueueinfo, (long)lw_pid, (long)sig, info);
    lw_warn("every thread of the program blocks signal %d, LEAKWATCH_DUMP_SIGNAL, and takes it itself (sigwait or a "
            "signalfd): it stays the program's, and there are no signal dumps; pick a signal it leaves alone (a "
            "real-time one, %s)", sig, other_signal());
}

/* Waits for the dump signal sent to this thread (by the handler or by `leakwatch dump`), or until due when an
 * interval is set: 1 for the signal, 0 once due. */
static int wait_for_dump(sigset_t *want, const struct timespec *due)
{
    for (;;) {
        struct timespec now, left, *timeout = NULL;
        if (lw_config.dump_interval_s) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!before(&now, due))
                return 0;
            left.tv_sec = due->tv_sec - now.tv_sec;
            left.tv_nsec = due->tv_nsec - now.tv_nsec;
            if (left.tv_nsec < 0) {
                left.tv_sec--;
                left.tv_nsec += 1000000000L;
            }
            timeout = &left;
        }
        /* the raw call: glibc's sigtimedwait reports a tgkill's SI_TKILL as SI_USER */
        siginfo_t info;
        int sig = (int)lw_syscall(SYS_rt_sigtimedwait, want, &info, timeout, (long)(_NSIG / 8));
        if (sig > 0 && info.si_code == SI_TKILL)
            return 1;
        if (sig > 0)
            give_back(sig, &info, want);
        /* EAGAIN: the time is up (checked above); EINTR: another signal, a stop and continue */
    }
}

static void *dumper_main(void *arg)
{
    (void)arg;
    lw_self.busy = 1; /* nothing this thread does is the program's */
    lw_self.own_thread = 1;
    name_thread();
    /* nor its descriptors: the dump file and what the dump reads from /proc must never take a number the program
     * is about to be given, nor be closed by the program's close loop */
    int err = lw_sys_private_fds();
    if (err)
        lw_warn("the dump thread has no descriptor table of its own (%s); its dumps briefly use descriptors",
                strerror(err));
    /* the dump signal stays blocked here (as every signal does), so it waits pending until taken below */
    sigset_t want;
    sigemptyset(&want);
    if (lw_config.dump_signal)
        sigaddset(&want, lw_config.dump_signal);
    atomic_store(&dumper_ready, (uint64_t)(uint32_t)lw_pid << 32 | (uint32_t)lw_syscall(SYS_gettid));
    int early = atomic_exchange(&early_signal, 0) == lw_pid;
    /* interval dumps are due at fixed times from the start; a signal dump in between does not move them */
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    add_seconds(&due, lw_config.dump_interval_s);
    for (;;) {
        int signalled = early || wait_for_dump(&want, &due);
        early = 0;
        const char *reason = signalled ? "signal" : "interval";
        if (!signalled) {
            /* the next time due after now: a dump that took longer than the interval skips what it missed */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            while (!before(&now, &due))
                add_seconds(&due, lw_config.dump_interval_s);
        }
        char path[4096];
        err = lw_dump_next(dump_dir(), reason, path, sizeof(path));
        if (err)
            lw_warn("could not write the dump %s: %s", path, strerror(err));
        lw_dump_settle(); /* this thread has time to wait for the scan's copy to be gone */
    }
    return NULL;
}

/* Installs the dump handler unless the program has one of its own there already (a process leakwatch attached
 * to late, or a handler inherited through fork) or ignores the signal (ignored before exec, as nohup does: a
 * handler would hand the programs it runs the default action instead, and interrupt its sleeps): the program's
 * disposition stays. */
static void set_handler(void)
{
    struct sigaction sa, old;
    memset(&old, 0, sizeof(old));
    if (lw_sys_sigaction(lw_config.dump_signal, NULL, &old) == 0 && old.sa_handler != SIG_DFL &&
        old.sa_handler != on_dump_signal) {
        atomic_store(&takeover_warned, 1);
        lw_warn("signal %d already %s; it stays so: sent to the process it is the program's, and only "
                "`leakwatch dump` (which signals leakwatch's thread) gets dumps (or pick another "
                "LEAKWATCH_DUMP_SIGNAL, a real-time one such as %s)", lw_config.dump_signal,
                old.sa_handler == SIG_IGN ? "is ignored by the program" : "has a handler of the program's",
                other_signal());
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (lw_sys_sigaction(lw_config.dump_signal, &sa, NULL) < 0)
        lw_warn("cannot handle signal %d for dumps: %s", lw_config.dump_signal, strerror(errno));
}

void lw_dumper_start(void)
{
    if (!lw_config.dump_signal && !lw_config.dump_interval_s)
        return;
    if (dumper_pid == lw_pid)
        return;
    int was = lw_self.busy;
    lw_self.busy = 1; /* the thread and the handler are leakwatch's, not the program's */
    lw_lock(&start_lock);
    if (dumper_pid != lw_pid) {
        dumper_pid = lw_pid;
        dumps_on = 1;
        if (lw_config.dump_signal && !handler_set) {
            handler_set = 1;
            set_handler();
        }
        /* Every signal stays blocked in the dumper, so the program's own signals go to its own threads. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_t t;
        int err = lw_sys_thread_create(&t, &attr, dumper_main, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err)
            lw_warn("cannot start the dump thread: %s", strerror(err));
    }
    lw_unlock(&start_lock);
    lw_self.busy = was;
}

int lw_is_dump_handler(uintptr_t handler)
{
    return handler == (uintptr_t)on_dump_signal;
}

int lw_dump_handler_installed(int sig)
{
    struct sigaction cur;
    return lw_config.dump_signal && sig == lw_config.dump_signal && handler_set &&
           lw_sys_sigaction(sig, NULL, &cur) == 0 && cur.sa_handler == on_dump_signal;
}

/* What the program did to the dump signal, for the warning lw_dumper_start_wanted gives: the words before the
 * signal's number and after it. */
static const char *volatile takeover_did = "installs its own handler for", *volatile takeover_how = "";

/* Says once that the program took the dump signal over. */
static void warn_takeover(const char *did, const char *how)
{
    if (atomic_exchange(&takeover_warned, 1))
        return;
    lw_warn("the program %s signal %d%s, LEAKWATCH_DUMP_SIGNAL: the program keeps it, a signal sent to the "
            "process is the program's from now on, and only `leakwatch dump` still gets dumps; pick a signal it "
            "leaves alone (a real-time one, %s)", did, lw_config.dump_signal, how, other_signal());
}

void lw_dumper_start_wanted(lw_kind_t kind)
{
    int w = atomic_load(&lw_dumper_wanted);
    if ((w & LW_DUMPER_TAKEOVER) && (atomic_fetch_and(&lw_dumper_wanted, ~LW_DUMPER_TAKEOVER) & LW_DUMPER_TAKEOVER))
        warn_takeover(takeover_did, takeover_how);
    w &= LW_DUMPER_AT_ALLOC | LW_DUMPER_AT_ANY;
    /* a descriptor opened right after fork (a /proc read, a log) is not yet the child settling down to run */
    if (!w || (kind != LW_HEAP && !(w & LW_DUMPER_AT_ANY)))
        return;
    if (atomic_fetch_and(&lw_dumper_wanted, LW_DUMPER_TAKEOVER) & (LW_DUMPER_AT_ALLOC | LW_DUMPER_AT_ANY))
        lw_dumper_start();
}

void lw_dumper_forked(void)
{
    atomic_store(&start_lock.held, 0);
    /* the parent's thread is not the child's, and a pid of the parent's may one day be a descendant's own */
    dumper_pid = 0;
    atomic_store(&dumper_ready, 0);
    if (!dumps_on)
        return; /* the parent has no dumps running: nor has the child */
    /* the parent's pending signals stay the parent's (fork does not copy them); one that reached the child since
     * fork returned in it waits in early_signal for the child's own thread, which starts at the next acquisition */
    atomic_store(&lw_dumper_wanted, lw_config.dump_interval_s ? LW_DUMPER_AT_ALLOC : 0);
    if (atomic_load(&early_signal) == lw_pid)
        atomic_store(&lw_dumper_wanted, LW_DUMPER_AT_ANY);
}

int lw_dumper_threads(void)
{
    return dumper_pid && dumper_pid == lw_pid ? 1 : 0;
}

void lw_on_sigaction(int sig, uintptr_t handler)
{
    lw_init();
    if (!lw_config.dump_signal || sig != lw_config.dump_signal || handler == (uintptr_t)on_dump_signal)
        return;
    /* A vfork child (posix_spawn, Python's subprocess) resets its dispositions before it execs, in the parent's
     * memory: that is no takeover of the parent's signal, and must not use up the parent's one warning. Its pid
     * is not the one the library knows, since no fork handler ran for it. */
    if ((pid_t)lw_syscall(SYS_getpid) != lw_pid)
        return;
    if (!handler_set)
        return; /* before the dumper started, the handler is not ours yet: set_handler says so if it matters */
    if (handler == (uintptr_t)SIG_DFL || handler == (uintptr_t)SIG_IGN) {
        /* (SIG_DFL where the library's handler is in place never comes here: the program sees that already.) A
         * forked child that resets its signals before it execs (git's run-command re-ignores those it found
         * ignored) takes nothing over: the warning waits for the process's next acquisition, which an exec
         * forestalls. */
        takeover_did = handler == (uintptr_t)SIG_DFL ? "sets" : "ignores";
        takeover_how = handler == (uintptr_t)SIG_DFL ? " back to its default action" : "";
        atomic_fetch_or(&lw_dumper_wanted, LW_DUMPER_TAKEOVER);
        return;
    }
    warn_takeover("installs its own handler for", "");
}

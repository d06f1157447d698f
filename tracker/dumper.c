/* Dumps from a running process: a signal handler that only posts a semaphore, and a background thread that
 * writes the dump, so that no lock the interrupted code may hold is ever taken in the handler. A forked child
 * does not get a thread of its own (a second thread would change what it may do, unshare for one); it dumps
 * at exit, and a program it executes starts afresh. */
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sem_t wake;
static atomic_int signal_pending;
static pid_t dumper_pid; /* the process the dumper thread runs in; a forked child starts its own */
static lw_lock_t start_lock;

static void on_dump_signal(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_store(&signal_pending, 1);
    sem_post(&wake); /* async-signal-safe */
    errno = saved;
}

static const char *dump_dir(void)
{
    if (lw_config.dump_dir[0])
        return lw_config.dump_dir;
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

static void *dumper_main(void *arg)
{
    (void)arg;
    lw_self.busy = 1; /* nothing this thread does is the program's */
    /* nor its descriptors: the dump file and what the dump reads from /proc must never take a number the program
     * is about to be given, nor be closed by the program's close loop */
    int err = lw_sys_private_fds();
    if (err)
        lw_warn("the dump thread has no descriptor table of its own (%s); its dumps briefly use descriptors",
                strerror(err));
    for (;;) {
        int r;
        if (lw_config.dump_interval_s) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += lw_config.dump_interval_s;
            while ((r = sem_timedwait(&wake, &until)) < 0 && errno == EINTR)
                ;
        } else {
            while ((r = sem_wait(&wake)) < 0 && errno == EINTR)
                ;
        }
        const char *reason = atomic_exchange(&signal_pending, 0) ? "signal" : (r < 0 ? "interval" : "signal");
        char path[4096];
        err = lw_dump_next(dump_dir(), reason, path, sizeof(path));
        if (err)
            lw_warn("could not write the dump %s: %s", path, strerror(err));
    }
    return NULL;
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
        sem_init(&wake, 0, 0);
        if (lw_config.dump_signal) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = on_dump_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            if (sigaction(lw_config.dump_signal, &sa, NULL) < 0)
                lw_warn("cannot handle signal %d for dumps: %s", lw_config.dump_signal, strerror(errno));
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

void lw_dumper_forked(void)
{
    atomic_store(&start_lock.held, 0);
}

int lw_dumper_threads(void)
{
    return dumper_pid && dumper_pid == lw_pid ? 1 : 0;
}


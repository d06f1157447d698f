/* The tracker's process state (pid, exit status, the exiting thread's frame) and its one initialisation, run
 * lazily from the first hook, which also installs the fork handlers that keep that state true in a child. */
#include "internal.h"
#include "api_fork.h"
#include "closes.h"
#include "markers.h"
#include "shell_script.h"
#include "tls.h"
#include "warnings.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

pid_t lw_pid;
int lw_exit_status = -1;

enum { INIT_NOT_STARTED, INIT_RUNNING, INIT_DONE };
static atomic_int init_state; /* INIT_NOT_STARTED, INIT_RUNNING (one thread initialises), INIT_DONE */
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
    /* the order every other path takes them in: dump, then unwinds, sites, shards, the API's tables, allocator */
    lw_dump_lock_for_fork();
    lw_stack_block_unwinds();
    lw_sites_lock_all();
    lw_mappings_lock();
    lw_tables_lock_all();
    lw_api_lock_for_fork();
    lw_mem_lock_all();
}

static void atfork_parent(void)
{
    if (!fork_locked)
        return;
    lw_mem_unlock_all();
    lw_api_unlock_for_fork();
    lw_tables_unlock_all();
    lw_mappings_unlock();
    lw_sites_unlock_all();
    lw_stack_allow_unwinds(0);
    lw_dump_unlock_for_fork();
    lw_self.busy = saved_busy_at_fork;
    if (!lw_self.busy && lw_self.pending) /* released by a prepare handler while the locks were held */
        lw_finish_deferred();
}

static void atfork_child(void)
{
    if (!fork_locked) {
        lw_pid = getpid();
        lw_tables_forked();
        lw_sites_forked();
        lw_marker_forked();
        lw_dumper_forked();
        return;
    }
    lw_mem_unlock_all();
    lw_api_unlock_for_fork();
    lw_tables_unlock_all();
    lw_mappings_unlock();
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
    lw_tls_note_main(); /* the forking thread is the child's main thread */
    lw_self.busy = saved_busy_at_fork;
    if (!lw_self.busy && lw_self.pending)
        lw_finish_deferred();
}

void lw_init(void)
{
    if (LW_LIKELY(atomic_load_explicit(&init_state, memory_order_acquire) == INIT_DONE))
        return;
    int expect = INIT_NOT_STARTED;
    if (atomic_compare_exchange_strong(&init_state, &expect, INIT_RUNNING)) {
        lw_guard_t guard = lw_enter();
        lw_stderr_note();
        lw_pid = getpid();
        if (lw_syscall(SYS_gettid) == lw_pid)
            lw_tls_note_main();
        (void)lw_now_ms();
        lw_config_load();
        lw_note_environment();
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
        atomic_store_explicit(&init_state, INIT_DONE, memory_order_release);
        lw_leave(guard);
        return;
    }
    /* Another thread is initialising: wait for it. A re-entry from this thread's own initialisation returns at
     * once, and the guard it holds keeps the inner call untracked. */
    if (lw_self.busy)
        return;
    while (atomic_load_explicit(&init_state, memory_order_acquire) != INIT_DONE)
        sched_yield();
}

void lw_reset_for_tests(void)
{
    lw_init();
    lw_tables_reset();
    lw_mappings_reset();
    lw_sites_reset();
    lw_stack_forget(); /* its entries name sites that are gone */
}

/* The controls of testing.h that belong to no subsystem of their own: reentrancy, dump numbers, losses and stack
 * checks, as the unit tests set and read them. */
#include "internal.h"
#include "testing.h"

void lw_test_set_busy(int busy)
{
    lw_guard_t g = { 0, errno };
    if (busy)
        lw_self.busy = 1;
    else
        lw_leave(g);
}

static lw_lock_t test_lock;

void lw_test_hold_lock(int hold)
{
    if (hold)
        lw_lock(&test_lock);
    else
        lw_unlock(&test_lock);
}

void lw_test_reset_dump_seq(void)
{
    atomic_store(&lw_dump_seq, 0);
}

unsigned long lw_test_lost_records(void)
{
    return atomic_load(&lw_lost_records);
}

unsigned long lw_test_lost_sites(void)
{
    return atomic_load(&lw_lost_sites);
}

void lw_test_stack_checks(unsigned long *verified, unsigned long *mismatches)
{
    lw_stack_flush_counts();
    *verified = atomic_load(&lw_stack_stats.verified);
    *mismatches = atomic_load(&lw_stack_stats.mismatches);
}

/* What the unit tests see of the tracker besides the boundary header (lw_tracker.h): controls that put it into
 * states hard to reach from outside, and the few internals they call or inspect. No production code outside the
 * definitions of these controls includes it. */
#ifndef LW_TESTING_H
#define LW_TESTING_H

#include "closes.h"
#include "config.h"
#include "lw_tracker.h"
#include "markers.h"
#include "shell_script.h"
#include "warnings.h"

#include <stddef.h>
#include <stdint.h>

/* ---- controls ------------------------------------------------------------------------------------------------ */

/* The internal allocator (mem.c) serves `n` more requests and then refuses every request, returning NULL as it does
 * when mmap fails, until it is called again; a negative n turns the failures off. */
void lw_mem_fail_after(long n);

/* With `on` set, dump files are written the way they are where the filesystem refuses O_TMPFILE (dumpfile.c): under
 * an exclusive temporary name that is renamed when complete. */
void lw_dump_force_named_tmp(int on);

/* The rest is testing.c. Marks the calling thread as inside the tracker (busy 1), where every hook passes its
 * call through untracked, or as outside it again (0), carrying out what was put off meanwhile as leaving the
 * tracker does (lw_leave). */
void lw_test_set_busy(int busy);
/* Takes (1) or lets go (0) a lock of the tracker's that nothing else uses: with the thread marked busy too, the
 * state of a signal handler that interrupted code holding a lock. */
void lw_test_hold_lock(int hold);
/* The next dump is number 1 again. */
void lw_test_reset_dump_seq(void);
/* What was lost for want of memory so far: acquisitions not recorded, stacks not interned (the dump's `lost`). */
unsigned long lw_test_lost_records(void);
unsigned long lw_test_lost_sites(void);
/* The stack cache's verification counts (LEAKWATCH_VERIFY), the calling thread's counts flushed first. */
void lw_test_stack_checks(unsigned long *verified, unsigned long *mismatches);

/* ---- internals the tests call ------------------------------------------------------------------------------------ */

/* Declared again from internal.h, which testing.c includes with this header, so that the compiler holds the two
 * declarations of each to one another. */
void *lw_mem_alloc(size_t size);
void lw_mem_free(void *p, size_t size);
int lw_readable(const void *addr);
uint32_t lw_site_intern(const uintptr_t *frames, int n);
int lw_dump_next(const char *dir, const char *reason, char *path_out, size_t cap);
size_t lw_strlcpy(char *dst, const char *src, size_t cap);
size_t lw_mapping_ranges(uintptr_t *lo, uintptr_t *hi, size_t cap);
size_t lw_tables_total(void);

/* With `off` set, heap records skip the nursery of table.c and go straight into uthash, so that a test can reach
 * the uthash tables' own failures with few records. Records already in the nursery stay there. */
void lw_nursery_off(int off);

/* Takes (1) or lets go (0) the lock of the shard of the live tables that holds `handle`'s records, as code inside
 * the tracker does (table.c). */
void lw_test_hold_shard(uintptr_t handle, int hold);

#endif

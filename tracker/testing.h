/* Controls that only tests use, declared here and included by no production code outside their definitions: they
 * put the tracker into states that are hard to reach from outside, such as an allocator that is out of memory. */
#ifndef LW_TESTING_H
#define LW_TESTING_H

/* The internal allocator (mem.c) serves `n` more requests and then refuses every request, returning NULL as it does
 * when mmap fails, until it is called again; a negative n turns the failures off. */
void lw_mem_fail_after(long n);

/* With `on` set, dump files are written the way they are where the filesystem refuses O_TMPFILE (dump.c): under an
 * exclusive temporary name that is renamed when complete. */
void lw_dump_force_named_tmp(int on);

/* With `off` set, heap records skip the nursery of table.c and go straight into uthash, so that a test can reach
 * the uthash tables' own failures with few records. Records already in the nursery stay there. */
void lw_nursery_off(int off);

#endif

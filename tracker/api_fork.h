/* The locks of the in-program API's tables (api.c) across fork, for init.c's fork handlers. */
#ifndef LW_API_FORK_H
#define LW_API_FORK_H

/* Takes the root regions' and the pools' locks, after the tables' and before the allocator's: a pool call takes
 * the allocator's lock inside its own and the tables' outside it. The parent releases them after the fork and
 * so does the child, where they cover tables that no thread was changing at the fork. */
void lw_api_lock_for_fork(void);
void lw_api_unlock_for_fork(void);

#endif

/* jansson's memory while a dump's sites are parsed: a per-thread bump arena, dropped whole after each site. */
#ifndef LWR_JSON_ARENA_H
#define LWR_JSON_ARENA_H

#include <jansson.h>
#include <stddef.h>

/* Makes jansson allocate through the arena functions; called while no other thread uses jansson (main calls it
 * first thing). Outside an arena, the default on every thread, they are malloc and free, so values made before
 * the call are freed as ever. */
void lwr_json_arena_install(void);

/* Starts an arena on the calling thread, when the arena functions are installed: the jansson values made from
 * now on come from it, until lwr_json_arena_end. Arenas do not nest. */
void lwr_json_arena_begin(void);
/* Drops v, the one tree made since the arena began or was last dropped: the arena's values all go at once and
 * none may be used or json_decref'd afterwards. Without an arena (not installed) v is json_decref'd. */
void lwr_json_arena_drop(json_t *v);
/* Drops what the arena holds and ends it: jansson allocates with malloc again. */
void lwr_json_arena_end(void);

/* The bytes the calling thread's arena holds now (its chunks), for the tests. */
size_t lwr_json_arena_held(void);

#endif

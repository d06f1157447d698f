/* A per-thread bump arena for jansson. A dump's sites are parsed one at a time, each into a tree of a few hundred
 * small values that lives until the site is converted: taking them from an arena and dropping the arena whole
 * saves a malloc and a free per value and the walk of json_decref, about a fifth of the time `leakwatch run`
 * spends reading the dumps of a build. Outside an arena the functions are malloc and free, and a block that did
 * not come from the arena is always given to free, so values made before the arena functions were installed, or
 * outside an arena, are freed as usual. */
#include "json_arena.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif

#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
/* Memory of the arena not handed out is poisoned, so that a value used after its site was dropped is caught. */
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_BYTES (256u * 1024u) /* a site's tree seldom needs more than a few KiB */
#define ALIGN 16u

typedef struct chunk {
    struct chunk *next;
    size_t size; /* bytes of data after the header */
} chunk_t;
_Static_assert(sizeof(chunk_t) % ALIGN == 0, "a chunk's data must stay aligned");

static _Thread_local struct {
    bool active;
    chunk_t *chunks; /* newest first; allocation goes on in the newest */
    char *cur, *end;
} arena;

static bool installed;

static char *data_of(chunk_t *c)
{
    return (char *)(c + 1);
}

static bool owns(const void *p)
{
    for (chunk_t *c = arena.chunks; c; c = c->next)
        if ((const char *)p >= data_of(c) && (const char *)p < data_of(c) + c->size)
            return true;
    return false;
}

static void *arena_malloc(size_t size)
{
    if (!arena.active)
        return malloc(size);
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t need = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need == 0)
        need = ALIGN;
    if ((size_t)(arena.end - arena.cur) < need) {
        size_t bytes = need > CHUNK_BYTES ? need : CHUNK_BYTES;
        chunk_t *c = malloc(sizeof(chunk_t) + bytes);
        if (!c)
            return NULL;
        c->next = arena.chunks;
        c->size = bytes;
        arena.chunks = c;
        arena.cur = data_of(c);
        arena.end = arena.cur + bytes;
        POISON(arena.cur, bytes);
    }
    void *p = arena.cur;
    arena.cur += need;
    UNPOISON(p, size);
    return p;
}

static void arena_free(void *p)
{
    if (!p || (arena.active && owns(p)))
        return; /* an arena block goes with its arena */
    free(p);
}

void lwr_json_arena_install(void)
{
    json_set_alloc_funcs(arena_malloc, arena_free);
    installed = true;
}

void lwr_json_arena_begin(void)
{
    arena.active = installed;
}

/* Frees every chunk but one of the standard size, which is kept for the next site. */
static void drop_chunks(bool keep_one)
{
    chunk_t *keep = NULL;
    for (chunk_t *c = arena.chunks, *next; c; c = next) {
        next = c->next;
        if (keep_one && !keep && c->size == CHUNK_BYTES) {
            keep = c;
            continue;
        }
        UNPOISON(data_of(c), c->size);
        free(c);
    }
    arena.chunks = keep;
    if (keep) {
        keep->next = NULL;
        arena.cur = data_of(keep);
        arena.end = arena.cur + keep->size;
        POISON(arena.cur, keep->size);
    } else {
        arena.cur = arena.end = NULL;
    }
}

void lwr_json_arena_drop(json_t *v)
{
    if (arena.active)
        drop_chunks(true);
    else
        json_decref(v);
}

void lwr_json_arena_end(void)
{
    drop_chunks(false);
    arena.active = false;
}

size_t lwr_json_arena_held(void)
{
    size_t n = 0;
    for (chunk_t *c = arena.chunks; c; c = c->next)
        n += c->size;
    return n;
}

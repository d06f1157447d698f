/* Where the threads' thread-local storage lies (tls.h): the static TLS layout read through dl_iterate_phdr, and
 * the thread control blocks found in the scan's memory map. */
#include "tls.h"

#include "arch.h"

#include <dlfcn.h>
#include <link.h>

#define MAX_TLS_OBJECTS 128
/* glibc's thread descriptor; its size is read from the C library where it says (a private symbol) */
#define TCB_SIZE_FALLBACK 2304
/* how far below the top of a stack mapping its thread's control block may begin */
#define TCB_SEARCH (64u * 1024u)

typedef struct {
    uintptr_t below; /* the block begins this far below the thread pointer */
    uintptr_t size;  /* p_memsz */
    uintptr_t image; /* the PT_TLS segment's address in the object */
} tls_object_t;

static tls_object_t objects[MAX_TLS_OBJECTS];
static size_t nobjects;
static uintptr_t extent_below; /* the lowest block's distance below the thread pointer */
static uintptr_t tcb_size;
static uintptr_t main_tp;

void lw_tls_note_main(void)
{
    main_tp = lw_arch_thread_pointer();
}

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t tp = *(uintptr_t *)arg;
    /* an object whose block is not allocated for this thread, or not in static TLS (dlopen'ed later), has no
     * fixed place: its blocks are allocated as the thread first uses them */
    if (!info->dlpi_tls_modid || !info->dlpi_tls_data || (uintptr_t)info->dlpi_tls_data >= tp ||
        nobjects == MAX_TLS_OBJECTS)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_TLS)
            continue;
        uintptr_t below = tp - (uintptr_t)info->dlpi_tls_data;
        if (below > 16u * 1024u * 1024u)
            return 0; /* not static TLS: a block the loader allocated elsewhere */
        objects[nobjects++] = (tls_object_t){ below, ph->p_memsz, info->dlpi_addr + ph->p_vaddr };
        if (below > extent_below)
            extent_below = below;
    }
    return 0;
}

void lw_tls_prepare(void)
{
    if (!tcb_size) {
        const unsigned *sz = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
        tcb_size = sz && *sz ? *sz : TCB_SIZE_FALLBACK;
    }
    nobjects = 0;
    extent_below = 0;
    uintptr_t tp = lw_arch_thread_pointer();
    dl_iterate_phdr(collect, &tp);
}

/* It reads memory it does not own (redzones and all, in a sanitizer build of the tests). */
__attribute__((no_sanitize("address", "undefined"))) uintptr_t lw_tls_find(uintptr_t lo, uintptr_t hi)
{
    if (main_tp >= lo && main_tp < hi)
        return LW_TCB_AT(main_tp) ? main_tp : 0;
    /* glibc puts a new thread's descriptor at the top of its stack mapping, aligned down */
    uintptr_t from = hi - lo > TCB_SEARCH ? hi - TCB_SEARCH : lo;
    for (uintptr_t p = (hi - tcb_size) & ~(uintptr_t)63; p >= from && p + 3 * sizeof(uintptr_t) <= hi; p -= 64)
        if (LW_TCB_AT(p))
            return p;
    return 0;
}

void lw_tls_range(uintptr_t tp, uintptr_t *lo, uintptr_t *hi)
{
    *lo = tp - extent_below;
    *hi = tp + tcb_size;
}

int lw_tls_place(uintptr_t tp, uintptr_t a, uintptr_t *image, uint64_t *offset)
{
    for (size_t i = 0; i < nobjects; i++) {
        uintptr_t start = tp - objects[i].below;
        if (a >= start && a < start + objects[i].size) {
            *image = objects[i].image;
            *offset = a - start;
            return 1;
        }
    }
    return 0;
}

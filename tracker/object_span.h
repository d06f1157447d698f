/* The address span of a loaded object, from its loadable segments, for the dump's module list and the allocator's
 * object (header only: a dl_iterate_phdr callback of each). */
#ifndef LW_OBJECT_SPAN_H
#define LW_OBJECT_SPAN_H

#include <link.h>
#include <stdint.h>

/* Puts into *lo and *hi the lowest start and the highest end of the object's PT_LOAD segments (*hi 0 when it has
 * none); returns whether addr lies inside one of those segments (not merely between them). */
static inline int lw_object_span(const struct dl_phdr_info *info, uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
    int here = 0;
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (s < *lo)
            *lo = s;
        if (e > *hi)
            *hi = e;
        if (addr >= s && addr < e)
            here = 1;
    }
    return here;
}

#endif

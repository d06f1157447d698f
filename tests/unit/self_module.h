/* For unit tests that read dumps of their own test binary: what dl_iterate_phdr tells about the main program
 * (its load bias, the extent of its loadable segments and its GNU build-id in hex). */
#ifndef LW_TEST_SELF_MODULE_H
#define LW_TEST_SELF_MODULE_H

#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int found;
    unsigned long long bias, start, end;
    char build_id[128];
} self_t;

/* A dl_iterate_phdr callback that fills the self_t at arg from the first object, the main program. */
static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    self_t *self = arg;
    if (self->found)
        return 0;
    self->found = 1;
    self->bias = info->dlpi_addr;
    self->start = ~0ull;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            unsigned long long lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
            self->start = lo < self->start ? lo : self->start;
            self->end = hi > self->end ? hi : self->end;
        } else if (ph->p_type == PT_NOTE) {
            const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
                const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
                const char *name = p + sizeof *n;
                const unsigned char *desc = (const unsigned char *)name + ((n->n_namesz + 3) & ~3u);
                if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0)
                    for (unsigned j = 0; j < n->n_descsz && j < 60; j++)
                        snprintf(self->build_id + 2 * j, 3, "%02x", desc[j]);
                p = (const char *)desc + ((n->n_descsz + 3) & ~3u);
            }
        }
    }
    return 0;
}

#endif

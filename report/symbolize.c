/* Symbolizes dump addresses: one offline Dwfl per run, each ELF object reported once, each lookup cached. */
#include "symbolize.h"

#include "map.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One ELF object as the dumps name it (path and build-id), with what the Dwfl made of it. */
typedef struct {
    Dwfl_Module *mod;       /* NULL: no usable file was found */
    Dwarf_Addr dwfl_bias;   /* the object's vaddr 0 inside our Dwfl */
} object_t;

/* One cached lookup. */
typedef struct {
    const char *function;
    const char *file;
    unsigned line;
} answer_t;

struct lwr_symbolizer {
    Dwfl *dwfl;
    Dwfl_Callbacks callbacks;
    char *debug_root;
    Dwarf_Addr next_base;   /* where the next object is placed in the Dwfl's address space */
    object_t *objects;
    size_t nobjects, capobjects;
    lwr_map_t object_index; /* path NUL build_id -> objects[] */
    answer_t *answers;
    size_t nanswers, capanswers;
    lwr_map_t answer_index; /* (object, offset) -> answers[] */
    char **owned;           /* demangled names */
    size_t nowned, capowned;
};

lwr_symbolizer_t *lwr_symbolizer_new(const char *debug_root)
{
    lwr_symbolizer_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->debug_root = strdup(debug_root ? debug_root : "/usr/lib/debug");
    s->callbacks.find_elf = dwfl_build_id_find_elf;
    s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    s->callbacks.section_address = dwfl_offline_section_address;
    elf_version(EV_CURRENT);
    s->dwfl = dwfl_begin(&s->callbacks);
    /* Objects are placed at made-up bases, 4 GiB apart from any other: the processes of one run load the same
     * object at different addresses and different objects at the same address, so the dumps' own biases cannot
     * share one Dwfl. Offsets inside an object are what matter, and those are kept exactly. */
    s->next_base = 0x100000000ull;
    if (!s->debug_root || !s->dwfl) {
        lwr_symbolizer_free(s);
        return NULL;
    }
    return s;
}

void lwr_symbolizer_free(lwr_symbolizer_t *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    lwr_map_clear(&s->object_index);
    lwr_map_clear(&s->answer_index);
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    free(s->objects);
    free(s->answers);
    free(s->debug_root);
    free(s);
}

/* Returns nonzero when the file at `path` is an ELF object whose GNU build-id, in hex, is `want` (any object
 * when `want` is empty: a dump without a build-id gives nothing to compare). */
static int file_matches(const char *path, const char *want)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int ok = 0;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (elf && elf_kind(elf) == ELF_K_ELF) {
        if (want[0] == '\0') {
            ok = 1;
        } else {
            const void *id = NULL;
            ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
            if (n > 0 && strlen(want) == (size_t)n * 2) {
                ok = 1;
                for (ssize_t i = 0; i < n && ok; i++) {
                    char hex[3];
                    snprintf(hex, sizeof hex, "%02x", ((const unsigned char *)id)[i]);
                    ok = strncasecmp(hex, want + 2 * i, 2) == 0;
                }
            }
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return ok;
}

/* Reports the file at `path` into the Dwfl; returns the module or NULL. */
static Dwfl_Module *report(lwr_symbolizer_t *s, const char *name, const char *path, Dwarf_Addr *bias)
{
    dwfl_report_begin_add(s->dwfl);
    Dwfl_Module *mod = dwfl_report_elf(s->dwfl, name, path, -1, s->next_base, false);
    dwfl_report_end(s->dwfl, NULL, NULL);
    if (!mod)
        return NULL;
    Dwarf_Addr low = 0, high = 0;
    dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL);
    if (high >= s->next_base)
        s->next_base = (high + 0xffffffffull + 1) & ~0xffffffffull;
    /* An ET_EXEC object stays at its link-time addresses whatever base we ask for; the Dwfl says where. */
    if (!dwfl_module_getelf(mod, bias))
        return NULL;
    return mod;
}

static size_t find_object(lwr_symbolizer_t *s, const lwr_module_t *m)
{
    size_t plen = strlen(m->path), blen = strlen(m->build_id);
    char *key = malloc(plen + blen + 2);
    if (!key)
        return (size_t)-1;
    memcpy(key, m->path, plen + 1);
    memcpy(key + plen + 1, m->build_id, blen + 1);
    size_t idx = lwr_map_get(&s->object_index, key, plen + blen + 2);
    if (idx != (size_t)-1) {
        free(key);
        return idx;
    }
    if (s->nobjects == s->capobjects) {
        size_t cap = s->capobjects ? s->capobjects * 2 : 16;
        object_t *o = realloc(s->objects, cap * sizeof *o);
        if (!o) {
            free(key);
            return (size_t)-1;
        }
        s->objects = o;
        s->capobjects = cap;
    }
    object_t obj = { NULL, 0 };
    char name[32];
    snprintf(name, sizeof name, "obj%zu", s->nobjects);
    if (m->path[0] == '/' && file_matches(m->path, m->build_id)) {
        obj.mod = report(s, name, m->path, &obj.dwfl_bias);
    }
    if (!obj.mod && strlen(m->build_id) > 2) {
        size_t dlen = strlen(s->debug_root) + blen + 32;
        char *debug = malloc(dlen);
        if (debug) {
            snprintf(debug, dlen, "%s/.build-id/%.2s/%s.debug", s->debug_root, m->build_id, m->build_id + 2);
            if (file_matches(debug, m->build_id))
                obj.mod = report(s, name, debug, &obj.dwfl_bias);
            free(debug);
        }
    }
    idx = s->nobjects;
    s->objects[s->nobjects++] = obj;
    if (lwr_map_put(&s->object_index, key, plen + blen + 2, idx) != 0)
        idx = (size_t)-1;
    free(key);
    return idx;
}

static const char *keep(lwr_symbolizer_t *s, char *owned)
{
    if (s->nowned == s->capowned) {
        size_t cap = s->capowned ? s->capowned * 2 : 64;
        char **o = realloc(s->owned, cap * sizeof *o);
        if (!o) {
            free(owned);
            return NULL;
        }
        s->owned = o;
        s->capowned = cap;
    }
    return s->owned[s->nowned++] = owned;
}

/* The name of the innermost inlined call that holds `pc`, or NULL when `pc` is in no inlined code. Lines come
 * from the innermost inlined body, so its name is the one that belongs with them. */
static const char *inlined_name(Dwfl_Module *mod, Dwarf_Addr pc)
{
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
    if (!cu)
        return NULL;
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, pc - bias, &scopes);
    const char *name = NULL;
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_subprogram)
            break;
        if (tag == DW_TAG_inlined_subroutine) {
            Dwarf_Attribute attr;
            Dwarf_Die origin;
            /* The inlined instance names its function through DW_AT_abstract_origin. */
            if (dwarf_attr(&scopes[i], DW_AT_abstract_origin, &attr) && dwarf_formref_die(&attr, &origin)) {
                Dwarf_Attribute la;
                name = dwarf_formstring(dwarf_attr_integrate(&origin, DW_AT_linkage_name, &la));
                if (!name)
                    name = dwarf_diename(&origin);
            }
            break;
        }
    }
    free(scopes);
    return name;
}

static void look_up(lwr_symbolizer_t *s, const object_t *obj, uint64_t offset, answer_t *a)
{
    /* A return address points after the call; the call itself is one byte back. */
    Dwarf_Addr pc = obj->dwfl_bias + offset - (offset > 0 ? 1 : 0);
    const char *name = inlined_name(obj->mod, pc);
    if (!name) {
        GElf_Off off;
        GElf_Sym symbol;
        name = dwfl_module_addrinfo(obj->mod, pc, &off, &symbol, NULL, NULL, NULL);
    }
    const char *at = name ? strchr(name, '@') : NULL;
    if (at && at != name) {
        /* A versioned dynamic symbol ("__libc_start_main@@GLIBC_2.34"): the version is not part of the name. */
        char *plain = strndup(name, (size_t)(at - name));
        if (plain)
            name = keep(s, plain) ? plain : name;
    }
    if (name) {
        char *d = lwr_demangle(name);
        if (d)
            name = keep(s, d) ? d : name;
    }
    a->function = name;
    Dwfl_Line *line = dwfl_module_getsrc(obj->mod, pc);
    if (line) {
        int lineno = 0;
        const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        const char *dir = dwfl_line_comp_dir(line);
        a->line = lineno > 0 ? (unsigned)lineno : 0;
        a->file = file;
        if (file && file[0] != '/' && dir && dir[0] == '/') {
            char *abs = lwr_path_join(dir, file);
            if (abs)
                a->file = keep(s, abs) ? abs : file;
        }
    }
}

char *lwr_path_join(const char *dir, const char *rel)
{
    size_t len = strlen(dir) + strlen(rel) + 2;
    char *out = malloc(len);
    if (!out)
        return NULL;
    snprintf(out, len, "%s/%s", dir, rel);
    /* Drop "." and empty parts and resolve ".." against the part before it, lexically: the source tree the
     * debug information names need not exist on this machine. */
    char *w = out;  /* end of the cleaned prefix */
    const char *r = out;
    while (*r) {
        while (*r == '/')
            r++;
        const char *end = strchrnul(r, '/');
        size_t n = (size_t)(end - r);
        if (n == 0 || (n == 1 && r[0] == '.')) {
            /* nothing */
        } else if (n == 2 && r[0] == '.' && r[1] == '.') {
            while (w > out && *--w != '/')
                ;
        } else {
            *w++ = '/';
            memmove(w, r, n);
            w += n;
        }
        r = end;
    }
    if (w == out)
        *w++ = '/';
    *w = '\0';
    return out;
}

void lwr_symbolize(lwr_symbolizer_t *s, const lwr_dump_t *dump, uint64_t address, lwr_symbol_t *out)
{
    memset(out, 0, sizeof *out);
    out->offset = address;
    const lwr_module_t *m = lwr_dump_module_of(dump, address);
    if (!m)
        return;
    out->module = m->path;
    out->offset = address - m->bias;
    size_t oi = find_object(s, m);
    if (oi == (size_t)-1 || !s->objects[oi].mod)
        return;
    uint64_t key[2] = { oi, out->offset };
    size_t ai = lwr_map_get(&s->answer_index, key, sizeof key);
    if (ai == (size_t)-1) {
        answer_t a = { NULL, NULL, 0 };
        look_up(s, &s->objects[oi], out->offset, &a);
        if (s->nanswers == s->capanswers) {
            size_t cap = s->capanswers ? s->capanswers * 2 : 256;
            answer_t *n = realloc(s->answers, cap * sizeof *n);
            if (!n) {
                out->function = a.function;
                out->file = a.file;
                out->line = a.line;
                return;
            }
            s->answers = n;
            s->capanswers = cap;
        }
        ai = s->nanswers;
        s->answers[s->nanswers++] = a;
        lwr_map_put(&s->answer_index, key, sizeof key, ai);
    }
    out->function = s->answers[ai].function;
    out->file = s->answers[ai].file;
    out->line = s->answers[ai].line;
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

char *lwr_demangle(const char *name)
{
    static int tried;
    static demangle_fn demangle;
    if (!name || strncmp(name, "_Z", 2) != 0)
        return NULL;
    if (!tried) {
        tried = 1;
        /* Loaded at run time so that the command does not link C++; without libstdc++ names stay mangled. */
        void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (h)
            *(void **)&demangle = dlsym(h, "__cxa_demangle");
    }
    if (!demangle)
        return NULL;
    int status = -1;
    char *out = demangle(name, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}

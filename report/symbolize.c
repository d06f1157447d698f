/* Symbolizes dump addresses: one offline Dwfl per run, each ELF object reported once, each lookup cached. */
#include "symbolize.h"

#include "debug_cache.h"
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
    char *debug_file;       /* the separate debug file found for it (the Dwfl module's userdata), NULL for none */
    Dwarf_Addr dwfl_bias;   /* the object's vaddr 0 inside our Dwfl */
    struct fsym *syms;      /* function symbols sorted by address, read on first use */
    size_t nsyms;
    int syms_read;
    struct fsym *dsyms;     /* data symbols (variables) sorted by address, read on first use */
    size_t ndsyms;
    int dsyms_read;
    lwr_map_t decls;        /* top-level DWARF variables, (TLS flag, address or TLS offset, name) -> DIE offset */
    int decls_read;
} object_t;

/* One function symbol, at its address in our Dwfl. */
struct fsym {
    Dwarf_Addr addr;
    Dwarf_Addr size;
    const char *name;
    int rank;               /* binding: 0 global, 1 weak, 2 local; the lowest names an address */
};

/* One frame of a cached lookup; an address inside inlined code has several, `more` set on all but the last. */
typedef struct {
    const char *function;
    const char *file;
    unsigned line;
    unsigned column;
    int more;
} answer_t;

/* A DWARF function's address range, relative to its CU's addresses (Dwfl address - bias). */
typedef struct {
    Dwarf_Addr lo, hi;
    Dwarf_Off die;
} frange_t;

/* The functions of one compile unit, sorted by address, built on the first lookup in that unit. */
struct cu_funcs {
    frange_t *v;
    size_t n, cap;
};

struct lwr_symbolizer {
    Dwfl *dwfl;
    Dwfl_Callbacks callbacks;
    char *debug_root;
    Dwarf_Addr next_base;   /* where the next object is placed in the Dwfl's address space */
    object_t *objects;
    size_t nobjects, capobjects;
    lwr_map_t object_index; /* path NUL build_id -> objects[] */
    char *last_key;         /* the key find_object answered last (most frames are of the object before), or NULL */
    size_t last_klen, last_object;
    answer_t *answers;
    size_t nanswers, capanswers;
    lwr_map_t answer_index; /* (object, offset) -> answers[] */
    struct cu_funcs **cus;  /* function indexes of the compile units looked into */
    size_t ncus, capcus;
    lwr_map_t cu_index;     /* (object, CU offset) -> cus[] */
    char **owned;           /* demangled names */
    size_t nowned, capowned;
    char **debug_dirs;      /* --debug-dir, in the order given */
    size_t ndebug_dirs;
    char *sysroot;          /* --sysroot, NULL for none */
    char *cache_dir;        /* where decompressed copies of debug files are kept (debug_cache.h), NULL for none */
    void *dfd_lib;          /* libdebuginfod, loaded on first use when DEBUGINFOD_URLS is set */
    void *dfd_client;
    int dfd_tried;
    int (*dfd_find_debuginfo)(void *, const unsigned char *, int, char **);
    int (*dfd_find_executable)(void *, const unsigned char *, int, char **);
    void (*dfd_end)(void *);
};

/* The Dwfl's find_debuginfo callback: the separate debug file find_object chose for the module (its userdata),
 * else libdwfl's own search (debuglink beside the file, /usr/lib/debug, and debuginfod when DEBUGINFOD_URLS is
 * set). A call about the chosen file itself asks for its dwz supplement (.gnu_debugaltlink): libdwfl's search. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                          char **debuginfo_file_name)
{
    const char *chosen = *userdata;
    if (chosen && !(file_name && strcmp(file_name, chosen) == 0)) {
        int fd = open(chosen, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            *debuginfo_file_name = strdup(chosen);
            return fd;
        }
    }
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                        debuginfo_file_name);
}

lwr_symbolizer_t *lwr_symbolizer_new(const char *debug_root)
{
    lwr_symbolizer_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->debug_root = strdup(debug_root ? debug_root : "/usr/lib/debug");
    s->cache_dir = lwr_debug_cache_dir();
    s->callbacks.find_elf = dwfl_build_id_find_elf;
    s->callbacks.find_debuginfo = find_debuginfo;
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
    for (size_t i = 0; i < s->nobjects; i++) {
        free(s->objects[i].syms);
        free(s->objects[i].debug_file);
        free(s->objects[i].dsyms);
        lwr_map_clear(&s->objects[i].decls);
    }
    for (size_t i = 0; i < s->ndebug_dirs; i++)
        free(s->debug_dirs[i]);
    free(s->debug_dirs);
    free(s->sysroot);
    free(s->cache_dir);
    if (s->dfd_client && s->dfd_end)
        s->dfd_end(s->dfd_client);
    if (s->dfd_lib)
        dlclose(s->dfd_lib);
    lwr_map_clear(&s->object_index);
    free(s->last_key);
    lwr_map_clear(&s->answer_index);
    for (size_t i = 0; i < s->ncus; i++) {
        free(s->cus[i]->v);
        free(s->cus[i]);
    }
    free(s->cus);
    lwr_map_clear(&s->cu_index);
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

/* Reports the file at `path` into the Dwfl, with `debug` (NULL for none) as the separate debug file that
 * find_debuginfo hands out for it; returns the module or NULL. */
static Dwfl_Module *report(lwr_symbolizer_t *s, const char *name, const char *path, const char *debug,
                           Dwarf_Addr *bias)
{
    dwfl_report_begin_add(s->dwfl);
    Dwfl_Module *mod = dwfl_report_elf(s->dwfl, name, path, -1, s->next_base, false);
    dwfl_report_end(s->dwfl, NULL, NULL);
    if (!mod)
        return NULL;
    void **userdata = NULL;
    dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
    if (userdata)
        *userdata = (void *)debug;
    Dwarf_Addr low = 0, high = 0;
    dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL);
    if (high >= s->next_base)
        s->next_base = (high + 0xffffffffull + 1) & ~0xffffffffull;
    /* An ET_EXEC object stays at its link-time addresses whatever base we ask for; the Dwfl says where. */
    if (!dwfl_module_getelf(mod, bias))
        return NULL;
    return mod;
}

int lwr_symbolizer_add_debug_dir(lwr_symbolizer_t *s, const char *dir)
{
    char **v = realloc(s->debug_dirs, (s->ndebug_dirs + 1) * sizeof *v);
    if (!v)
        return -1;
    s->debug_dirs = v;
    if (!(v[s->ndebug_dirs] = strdup(dir)))
        return -1;
    s->ndebug_dirs++;
    return 0;
}

int lwr_symbolizer_set_sysroot(lwr_symbolizer_t *s, const char *dir)
{
    char *d = strdup(dir);
    if (!d)
        return -1;
    free(s->sysroot);
    s->sysroot = d;
    return 0;
}

/* `a` + `b` (+ `c`), or NULL when out of memory. */
static char *concat3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", a, b, c);
    return out;
}

/* Whether the ELF file at `path` holds DWARF (.debug_info, or a compressed .zdebug_info). */
static int has_dwarf(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int found = 0;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    size_t shstrndx;
    if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
        Elf_Scn *scn = NULL;
        while (!found && (scn = elf_nextscn(elf, scn)) != NULL) {
            GElf_Shdr sh;
            const char *n = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
            found = n && sh.sh_type != SHT_NOBITS && (strcmp(n, ".debug_info") == 0 || strcmp(n, ".zdebug_info") == 0);
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return found;
}

/* The file name a stripped object's .gnu_debuglink names (malloc'd), or NULL. */
static char *debuglink_of(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *out = NULL;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Word crc;
    const char *link = elf ? dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
    /* only a plain name: a link with a directory part would search outside the directories given */
    if (link && link[0] && !strchr(link, '/'))
        out = strdup(link);
    if (elf)
        elf_end(elf);
    close(fd);
    return out;
}

/* libdebuginfod's client, loaded once and only when DEBUGINFOD_URLS names a server; NULL otherwise. Loaded at run
 * time, so that leakwatch runs where elfutils' client library is not installed. */
static void *debuginfod(lwr_symbolizer_t *s)
{
    if (s->dfd_tried)
        return s->dfd_client;
    s->dfd_tried = 1;
    const char *urls = getenv("DEBUGINFOD_URLS");
    if (!urls || !urls[strspn(urls, " ")])
        return NULL;
    s->dfd_lib = dlopen("libdebuginfod.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!s->dfd_lib)
        return NULL;
    void *(*begin)(void);
    *(void **)&begin = dlsym(s->dfd_lib, "debuginfod_begin");
    *(void **)&s->dfd_find_debuginfo = dlsym(s->dfd_lib, "debuginfod_find_debuginfo");
    *(void **)&s->dfd_find_executable = dlsym(s->dfd_lib, "debuginfod_find_executable");
    *(void **)&s->dfd_end = dlsym(s->dfd_lib, "debuginfod_end");
    if (begin && s->dfd_find_debuginfo && s->dfd_find_executable && s->dfd_end)
        s->dfd_client = begin();
    return s->dfd_client;
}

/* Asks the debuginfod servers for the executable or the debug file of `build_id` (hex). Returns the path of the
 * file in the client's cache (malloc'd), or NULL. */
static char *debuginfod_fetch(lwr_symbolizer_t *s, const char *build_id, int executable)
{
    void *client = build_id[0] ? debuginfod(s) : NULL;
    if (!client)
        return NULL;
    char *path = NULL;
    /* length 0: the build-id is given as a hex string */
    int fd = (executable ? s->dfd_find_executable : s->dfd_find_debuginfo)(client, (const unsigned char *)build_id,
                                                                           0, &path);
    if (fd < 0)
        return NULL;
    close(fd);
    return path;
}

/* The object of module `m` on this machine, as a malloc'd path: the recorded path, the same path under --sysroot,
 * else what debuginfod has for its build-id. Each candidate must carry the dump's build-id. NULL when none. */
static char *find_binary(lwr_symbolizer_t *s, const lwr_module_t *m)
{
    if (m->path[0] != '/')
        return NULL;
    if (file_matches(m->path, m->build_id))
        return strdup(m->path);
    if (s->sysroot) {
        char *p = concat3(s->sysroot, m->path, "");
        if (p && file_matches(p, m->build_id))
            return p;
        free(p);
    }
    char *p = debuginfod_fetch(s, m->build_id, 1);
    if (p && file_matches(p, m->build_id))
        return p;
    free(p);
    return NULL;
}

/* Whether `path` is a debug file for `m`: its build-id, and DWARF in it. */
static int debug_matches(const char *path, const lwr_module_t *m)
{
    return file_matches(path, m->build_id) && has_dwarf(path);
}

/* The separate debug file of module `m` (whose object, when found, is `bin`), as a malloc'd path: in each
 * --debug-dir, `DIR/<debuglink name>`, `DIR/.build-id/xx/rest.debug` and `DIR/<object's name>`; then
 * `<debug_root>/.build-id/xx/rest.debug` (/usr/lib/debug), under --sysroot too; then debuginfod. NULL when
 * none (libdwfl's own search still runs for an object that was found). */
static char *find_debug_file(lwr_symbolizer_t *s, const lwr_module_t *m, const char *bin)
{
    char *link = bin ? debuglink_of(bin) : NULL;
    const char *slash = strrchr(m->path, '/');
    const char *base = slash ? slash + 1 : m->path;
    char idpath[160] = "";
    if (strlen(m->build_id) > 2 && strlen(m->build_id) < 120)
        snprintf(idpath, sizeof idpath, "/.build-id/%.2s/%s.debug", m->build_id, m->build_id + 2);
    char *found = NULL;
    for (size_t i = 0; i < s->ndebug_dirs && !found; i++) {
        const char *names[3] = { link, idpath[0] ? idpath + 1 : NULL, base[0] ? base : NULL };
        for (size_t j = 0; j < 3 && !found; j++) {
            if (!names[j])
                continue;
            char *p = concat3(s->debug_dirs[i], "/", names[j]);
            if (p && debug_matches(p, m))
                found = p;
            else
                free(p);
        }
    }
    const char *roots[2] = { s->debug_root, s->sysroot };
    for (size_t i = 0; i < 2 && !found && idpath[0]; i++) {
        if (!roots[i])
            continue;
        char *p = i == 0 ? concat3(roots[i], idpath, "") : concat3(roots[i], "/usr/lib/debug", idpath);
        if (p && debug_matches(p, m))
            found = p;
        else
            free(p);
    }
    if (!found) {
        char *p = debuginfod_fetch(s, m->build_id, 0);
        if (p && debug_matches(p, m))
            found = p;
        else
            free(p);
    }
    free(link);
    return found;
}

static size_t add_object(lwr_symbolizer_t *s, const lwr_module_t *m, const char *key, size_t klen);

static size_t find_object(lwr_symbolizer_t *s, const lwr_module_t *m)
{
    size_t plen = strlen(m->path), blen = strlen(m->build_id), klen = plen + blen + 2;
    if (s->last_key && s->last_klen == klen && memcmp(s->last_key, m->path, plen + 1) == 0
        && memcmp(s->last_key + plen + 1, m->build_id, blen + 1) == 0)
        return s->last_object;
    char *key = malloc(klen);
    if (!key)
        return (size_t)-1;
    memcpy(key, m->path, plen + 1);
    memcpy(key + plen + 1, m->build_id, blen + 1);
    size_t idx = lwr_map_get(&s->object_index, key, klen);
    if (idx == (size_t)-1)
        idx = add_object(s, m, key, klen);
    if (idx == (size_t)-1) {
        free(key);
        return idx;
    }
    free(s->last_key);
    s->last_key = key;
    s->last_klen = klen;
    s->last_object = idx;
    return idx;
}

/* Opens the object of `m` and its debug file, and indexes it under `key`. Returns its index, or (size_t)-1 when
 * out of memory. */
static size_t add_object(lwr_symbolizer_t *s, const lwr_module_t *m, const char *key, size_t klen)
{
    size_t idx;
    if (s->nobjects == s->capobjects) {
        size_t cap = s->capobjects ? s->capobjects * 2 : 16;
        object_t *o = realloc(s->objects, cap * sizeof *o);
        if (!o)
            return (size_t)-1;
        s->objects = o;
        s->capobjects = cap;
    }
    object_t obj = { 0 };
    char name[32];
    snprintf(name, sizeof name, "obj%zu", s->nobjects);
    /* The object itself (its code: symbols, and the calls lwr_symbolize_entry reads), then its DWARF: in the
     * object when it was not stripped, else in a separate debug file. */
    char *bin = find_binary(s, m);
    if (bin && !has_dwarf(bin))
        obj.debug_file = lwr_debug_cache_use(s->cache_dir, find_debug_file(s, m, bin), m->build_id);
    if (bin)
        obj.mod = report(s, name, bin, obj.debug_file, &obj.dwfl_bias);
    if (!obj.mod) {
        if (!obj.debug_file)
            obj.debug_file = lwr_debug_cache_use(s->cache_dir, find_debug_file(s, m, NULL), m->build_id);
        /* without the object, its debug file alone still has the symbols and the lines */
        if (obj.debug_file)
            obj.mod = report(s, name, obj.debug_file, NULL, &obj.dwfl_bias);
    }
    free(bin);
    idx = s->nobjects;
    s->objects[s->nobjects++] = obj;
    if (lwr_map_put(&s->object_index, key, klen, idx) != 0)
        idx = (size_t)-1;
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

static void add_ranges(struct cu_funcs *f, Dwarf_Die *die)
{
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 64;
            frange_t *v = realloc(f->v, cap * sizeof *v);
            if (!v)
                return;
            f->v = v;
            f->cap = cap;
        }
        f->v[f->n++] = (frange_t){ lo, hi, dwarf_dieoffset(die) };
    }
}

/* Collects the subprograms among the children of `parent`, looking into namespaces and classes (C++ defines
 * functions there) but not into function bodies. */
static void collect_funcs(struct cu_funcs *f, Dwarf_Die *parent, int depth)
{
    Dwarf_Die child;
    if (depth > 16 || dwarf_child(parent, &child) != 0)
        return;
    do {
        switch (dwarf_tag(&child)) {
        case DW_TAG_subprogram:
            add_ranges(f, &child);
            break;
        case DW_TAG_namespace:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
        case DW_TAG_module:
            collect_funcs(f, &child, depth + 1);
            break;
        default:
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int cmp_frange(const void *a, const void *b)
{
    const frange_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static struct cu_funcs *funcs_of(lwr_symbolizer_t *s, size_t oi, Dwarf_Die *cu)
{
    uint64_t key[2] = { oi, dwarf_dieoffset(cu) };
    size_t idx = lwr_map_get(&s->cu_index, key, sizeof key);
    if (idx != (size_t)-1)
        return s->cus[idx];
    struct cu_funcs *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    collect_funcs(f, cu, 0);
    if (f->n > 1)
        qsort(f->v, f->n, sizeof *f->v, cmp_frange);
    if (s->ncus == s->capcus) {
        size_t cap = s->capcus ? s->capcus * 2 : 64;
        struct cu_funcs **v = realloc(s->cus, cap * sizeof *v);
        if (!v) {
            free(f->v);
            free(f);
            return NULL;
        }
        s->cus = v;
        s->capcus = cap;
    }
    s->cus[s->ncus] = f;
    if (lwr_map_put(&s->cu_index, key, sizeof key, s->ncus) == 0)
        s->ncus++;
    else {
        free(f->v);
        free(f);
        return NULL;
    }
    return f;
}

/* The name DWARF gives a function DIE: its linkage (mangled) name when it has one, else its plain name, looked
 * up through DW_AT_abstract_origin and DW_AT_specification. */
static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (!name)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (!name)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
    return name;
}

/* Deepest inlining followed; deeper calls keep the name of the level at this depth. */
#define MAX_INLINE 16

/* Finds, according to DWARF, the function that holds `pc` and the inlined calls inside it that hold `pc`:
 * chain[0] is the function, chain[1..n-1] the inlined calls from outermost to innermost. Returns n (0 when the
 * object has no DWARF for `pc`) and sets *cu to the compile unit. Functions of each compile unit are indexed
 * once, so a lookup is a binary search plus a walk down one function's blocks. */
static size_t dwarf_chain(lwr_symbolizer_t *s, size_t oi, Dwarf_Addr pc, Dwarf_Die *chain, Dwarf_Die **cu)
{
    Dwarf_Addr bias = 0;
    *cu = dwfl_module_addrdie(s->objects[oi].mod, pc, &bias);
    if (!*cu)
        return 0;
    struct cu_funcs *f = funcs_of(s, oi, *cu);
    if (!f || f->n == 0)
        return 0;
    Dwarf_Addr rel = pc - bias;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->v[mid].lo <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || rel >= f->v[lo - 1].hi)
        return 0;
    if (!dwarf_offdie(dwarf_cu_getdwarf((*cu)->cu), f->v[lo - 1].die, &chain[0]))
        return 0;
    size_t n = 1;
    Dwarf_Die cur = chain[0], inner;
    /* Walk down the blocks and inlined calls that hold pc. */
    for (int depth = 0; depth < 64 && n < MAX_INLINE; depth++) {
        if (dwarf_child(&cur, &inner) != 0)
            break;
        int found = 0;
        do {
            int tag = dwarf_tag(&inner);
            if ((tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block || tag == DW_TAG_try_block
                 || tag == DW_TAG_catch_block)
                && dwarf_haspc(&inner, rel) > 0) {
                if (tag == DW_TAG_inlined_subroutine)
                    chain[n++] = inner;
                cur = inner;
                found = 1;
                break;
            }
        } while (dwarf_siblingof(&inner, &inner) == 0);
        if (!found)
            break;
    }
    return n;
}

static int cmp_fsym(const void *a, const void *b)
{
    const struct fsym *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    return strcmp(x->name, y->name);
}

/* Reads the object's function symbols (or, with `data`, its variables) once. dwfl_module_addrinfo scans the whole symbol table on every call,
 * which made a report of many distinct addresses in a big library take seconds; a sorted copy makes each lookup
 * a binary search. */
static void collect_symbols(Dwfl_Module *mod, int data, struct fsym **out, size_t *nout)
{
    int n = dwfl_module_getsymtab(mod);
    if (n <= 0 || !(*out = malloc((size_t)n * sizeof **out)))
        return;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info);
        int want = data ? type == STT_OBJECT : type == STT_FUNC || type == STT_GNU_IFUNC;
        if (!name || !name[0] || !want || shndx == SHN_UNDEF)
            continue;
        int bind = GELF_ST_BIND(sym.st_info);
        (*out)[(*nout)++] = (struct fsym){ addr, sym.st_size, name, bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2 };
    }
    qsort(*out, *nout, sizeof **out, cmp_fsym);
}

static void read_symbols(object_t *obj)
{
    obj->syms_read = 1;
    collect_symbols(obj->mod, 0, &obj->syms, &obj->nsyms);
}

/* How many of the n sorted symbols start at or below a. */
static size_t symbols_upto(const struct fsym *v, size_t n, Dwarf_Addr a)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].addr <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The function symbol holding `pc`, or NULL. */
static const char *symbol_at(object_t *obj, Dwarf_Addr pc)
{
    if (!obj->syms_read)
        read_symbols(obj);
    size_t lo = symbols_upto(obj->syms, obj->nsyms, pc);
    if (lo == 0)
        return NULL;
    /* lo - 1 is the last symbol at or below pc; go back to the first (best ranked) one at that address. Sizes
     * differ between aliases, so any alias that covers pc will do. */
    Dwarf_Addr at = obj->syms[lo - 1].addr;
    size_t i = lo - 1;
    while (i > 0 && obj->syms[i - 1].addr == at)
        i--;
    for (size_t j = i; j < lo; j++)
        if (pc < at + obj->syms[j].size || (obj->syms[j].size == 0 && pc == at))
            return obj->syms[j].name;
    return NULL;
}

/* The name as people know it: without glibc's internal "__GI_" alias prefix and a symbol version, demangled. */
static const char *clean_name(lwr_symbolizer_t *s, const char *name)
{
    if (!name)
        return NULL;
    if (strncmp(name, "__GI_", 5) == 0 && name[5])
        name += 5;
    const char *at = strchr(name, '@');
    if (at && at != name) {
        /* A versioned dynamic symbol ("__libc_start_main@@GLIBC_2.34"): the version is not part of the name. */
        char *plain = strndup(name, (size_t)(at - name));
        if (plain)
            name = keep(s, plain) ? plain : name;
    }
    char *d = lwr_demangle(name);
    if (d)
        name = keep(s, d) ? d : name;
    return name;
}

/* `file` made absolute with `dir` (the compile directory) when it is relative and dir is absolute. */
static const char *absolute(lwr_symbolizer_t *s, const char *file, const char *dir)
{
    if (!file || file[0] == '/' || !dir || dir[0] != '/')
        return file;
    char *abs = lwr_path_join(dir, file);
    return abs && keep(s, abs) ? abs : file;
}

/* Where the inlined call `inl` was made: DW_AT_call_file, DW_AT_call_line and DW_AT_call_column. */
static void call_site(lwr_symbolizer_t *s, Dwarf_Die *cu, Dwarf_Die *inl, const char **file, unsigned *line,
                      unsigned *column)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx = 0, ln = 0, col = 0;
    Dwarf_Files *files;
    size_t nfiles;
    *file = NULL;
    *line = dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &ln) == 0 ? (unsigned)ln : 0;
    *column = dwarf_formudata(dwarf_attr(inl, DW_AT_call_column, &attr), &col) == 0 ? (unsigned)col : 0;
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &idx) == 0 && dwarf_getsrcfiles(cu, &files, &nfiles) == 0
        && idx < nfiles)
        *file = absolute(s, dwarf_filesrc(files, idx, NULL, NULL),
                         dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr)));
}

/* Fills out[0..] for the code at `offset` in object oi: the innermost inlined function first (with the line
 * table's file and line), then each caller it was inlined into (with the call's file and line), ending with the
 * function the compiler emitted. Returns how many (at least 1). */
static size_t look_up(lwr_symbolizer_t *s, size_t oi, uint64_t offset, answer_t *out)
{
    object_t *obj = &s->objects[oi];
    /* A return address points after the call; the call itself is one byte back. */
    Dwarf_Addr pc = obj->dwfl_bias + offset - (offset > 0 ? 1 : 0);
    const char *file = NULL;
    unsigned line = 0, column = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(obj->mod, pc);
    if (dl) {
        int lineno = 0, col = 0;
        file = absolute(s, dwfl_lineinfo(dl, NULL, &lineno, &col, NULL, NULL), dwfl_line_comp_dir(dl));
        line = lineno > 0 ? (unsigned)lineno : 0;
        /* a column without its line says nothing */
        column = line && col > 0 ? (unsigned)col : 0;
    }
    Dwarf_Die chain[MAX_INLINE], *cu = NULL;
    size_t n = dwarf_chain(s, oi, pc, chain, &cu);
    if (n == 0) {
        out[0] = (answer_t){ clean_name(s, symbol_at(obj, pc)), file, line, column, 0 };
        return 1;
    }
    size_t k = 0;
    for (size_t i = n; i-- > 0;) {
        out[k++] = (answer_t){ clean_name(s, die_name(&chain[i])), file, line, column, 1 };
        if (i > 0)
            call_site(s, cu, &chain[i], &file, &line, &column);
    }
    out[k - 1].more = 0;
    return k;
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

size_t lwr_symbolize_all(lwr_symbolizer_t *s, const lwr_dump_t *dump, uint64_t address, lwr_symbol_t *out,
                         size_t max)
{
    if (max == 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->offset = address;
    const lwr_module_t *m = lwr_dump_module_of(dump, address);
    if (!m)
        return 1;
    out->module = m->path;
    out->offset = address - m->bias;
    size_t oi = find_object(s, m);
    if (oi == (size_t)-1 || !s->objects[oi].mod)
        return 1;
    uint64_t key[2] = { oi, out->offset };
    size_t ai = lwr_map_get(&s->answer_index, key, sizeof key);
    if (ai == (size_t)-1) {
        answer_t a[MAX_INLINE];
        size_t n = look_up(s, oi, out->offset, a);
        if (s->nanswers + n > s->capanswers) {
            size_t cap = s->capanswers ? s->capanswers * 2 : 256;
            while (cap < s->nanswers + n)
                cap *= 2;
            answer_t *v = realloc(s->answers, cap * sizeof *v);
            if (!v) {
                out->function = a[0].function;
                out->file = a[0].file;
                out->line = a[0].line;
                out->column = a[0].column;
                return 1;
            }
            s->answers = v;
            s->capanswers = cap;
        }
        ai = s->nanswers;
        memcpy(&s->answers[ai], a, n * sizeof *a);
        s->nanswers += n;
        lwr_map_put(&s->answer_index, key, sizeof key, ai);
    }
    size_t k = 0;
    for (;; ai++) {
        if (k > 0)
            out[k] = out[0];
        out[k].function = s->answers[ai].function;
        out[k].file = s->answers[ai].file;
        out[k].line = s->answers[ai].line;
        out[k].column = s->answers[ai].column;
        k++;
        if (!s->answers[ai].more || k == max)
            break;
    }
    return k;
}

void lwr_symbolize(lwr_symbolizer_t *s, const lwr_dump_t *dump, uint64_t address, lwr_symbol_t *out)
{
    lwr_symbolize_all(s, dump, address, out, 1);
}

/* Copies `len` bytes of object `obj`'s file at our Dwfl address `addr` into buf, from the section holding them.
 * Returns 0, or -1 when no section with contents holds them all (a separate debug file has no code). */
static int read_code(object_t *obj, Dwarf_Addr addr, unsigned char *buf, size_t len)
{
    Dwarf_Addr rel = addr, bias = 0;
    Elf_Scn *scn = dwfl_module_address_section(obj->mod, &rel, &bias);
    Elf_Data *data = scn ? elf_getdata(scn, NULL) : NULL;
    if (!data || !data->d_buf || rel > data->d_size || data->d_size - rel < len)
        return -1;
    memcpy(buf, (const unsigned char *)data->d_buf + rel, len);
    return 0;
}

static int64_t rel32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)v;
}

/* The name of the symbol whose relocation fills the GOT slot at file address `slot`, or NULL. */
static const char *got_symbol(object_t *obj, GElf_Addr slot)
{
    Dwarf_Addr bias;
    Elf *elf = dwfl_module_getelf(obj->mod, &bias);
    Elf_Scn *scn = NULL;
    while (elf && (scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh, symsh;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || sh.sh_entsize == 0)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        Elf_Scn *symscn = elf_getscn(elf, sh.sh_link);
        Elf_Data *syms = symscn ? elf_getdata(symscn, NULL) : NULL;
        if (!data || !syms || !gelf_getshdr(symscn, &symsh))
            continue;
        for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Rela rela;
            GElf_Sym sym;
            if (!gelf_getrela(data, (int)i, &rela) || rela.r_offset != slot)
                continue;
            if (!gelf_getsym(syms, (int)GELF_R_SYM(rela.r_info), &sym))
                return NULL;
            return elf_strptr(elf, symsh.sh_link, sym.st_name);
        }
    }
    return NULL;
}

/* The function that the call instruction ending at our Dwfl address `ret` calls: `call rel32` to a function of
 * the object or to one of its PLT entries (whose `jmp *slot(%rip)` names the GOT slot), or `call *slot(%rip)`
 * (-fno-plt). NULL when the code cannot be read or is no such call. These are x86-64 encodings; code of another
 * machine does not reach here (see lwr_symbolize_entry). */
static const char *callee_at(object_t *obj, Dwarf_Addr ret)
{
    unsigned char code[16];
    if (ret < obj->dwfl_bias + 6 || read_code(obj, ret - 6, code, 6) != 0)
        return NULL;
    if (code[0] == 0xff && code[1] == 0x15)
        return got_symbol(obj, (GElf_Addr)(ret + rel32(code + 2) - obj->dwfl_bias));
    if (code[1] != 0xe8)
        return NULL;
    Dwarf_Addr target = ret + rel32(code + 2), rel = target, bias, mbias;
    Elf_Scn *scn = dwfl_module_address_section(obj->mod, &rel, &bias);
    Elf *elf = dwfl_module_getelf(obj->mod, &mbias);
    GElf_Shdr sh;
    size_t shstrndx;
    const char *sname = NULL;
    if (scn && elf && gelf_getshdr(scn, &sh) && elf_getshdrstrndx(elf, &shstrndx) == 0)
        sname = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!sname || strncmp(sname, ".plt", 4) != 0)
        return symbol_at(obj, target);
    /* A PLT entry: find its indirect jump (`ff 25 rel32`, after an endbr64 and a bnd prefix in .plt.sec). */
    if (read_code(obj, target, code, sizeof code) != 0)
        return NULL;
    for (size_t i = 0; i + 6 <= sizeof code; i++)
        if (code[i] == 0xff && code[i + 1] == 0x25)
            return got_symbol(obj, (GElf_Addr)(target + i + 6 + rel32(code + i + 2) - obj->dwfl_bias));
    return NULL;
}

void lwr_symbolize_entry(lwr_symbolizer_t *s, const lwr_dump_t *dump, lwr_symbol_t *first, uint64_t caller)
{
    if (!first->function || strncmp(first->function, "operator new(", 13) != 0)
        return;
    const lwr_module_t *m = lwr_dump_module_of(dump, caller);
    size_t oi = m ? find_object(s, m) : (size_t)-1;
    if (oi == (size_t)-1 || !s->objects[oi].mod)
        return;
    Dwarf_Addr mbias;
    Elf *elf = dwfl_module_getelf(s->objects[oi].mod, &mbias);
    GElf_Ehdr eh;
    if (!elf || !gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64)
        return;
    const char *callee = clean_name(s, callee_at(&s->objects[oi], s->objects[oi].dwfl_bias + (caller - m->bias)));
    /* Only the array forms are renamed: any other callee (a wrapper of the program's that calls operator new
     * itself) has a frame of its own already. */
    if (callee && strncmp(callee, "operator new[](", 15) == 0)
        first->function = callee;
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

/* ---- data addresses (the roots that hold reachable blocks) ----------------------------------------------- */

static void read_data_symbols(object_t *obj)
{
    obj->dsyms_read = 1;
    collect_symbols(obj->mod, 1, &obj->dsyms, &obj->ndsyms);
}

/* The variable symbol whose [address, address + size) holds `a` (the best ranked at the lowest such address). */
static const struct fsym *data_symbol_at(object_t *obj, Dwarf_Addr a)
{
    if (!obj->dsyms_read)
        read_data_symbols(obj);
    size_t lo = symbols_upto(obj->dsyms, obj->ndsyms, a);
    /* a variable does not contain another: the nearest start below `a` is the only candidate, aliases aside */
    for (size_t i = lo; i-- > 0 && obj->dsyms[i].addr == obj->dsyms[lo - 1].addr;)
        if (a < obj->dsyms[i].addr + (obj->dsyms[i].size ? obj->dsyms[i].size : 1))
            return &obj->dsyms[i];
    return NULL;
}

/* The key of a variable in an object's declaration index: the TLS flag, its address (a thread-local one's offset in
 * the TLS block) and its name, in buf when it fits (cap bytes), else in memory the caller frees (*heap). Returns
 * the key, NULL when out of memory. */
static unsigned char *decl_key(unsigned char *buf, size_t cap, int tls, Dwarf_Addr a, const char *name, size_t *len,
                               unsigned char **heap)
{
    size_t n = strlen(name);
    *len = 1 + sizeof a + n;
    *heap = *len > cap ? malloc(*len) : NULL;
    unsigned char *key = *len > cap ? *heap : buf;
    if (!key)
        return NULL;
    key[0] = (unsigned char)(tls != 0);
    memcpy(key + 1, &a, sizeof a);
    memcpy(key + 1 + sizeof a, name, n);
    return key;
}

/* Indexes the top-level DW_TAG_variable DIEs of every compile unit of obj that have a location, by decl_key; the
 * first of a key stays, as a walk in unit order would find it. One walk an object, where a walk a lookup cost a
 * report of many roots (a service's dumps name the same globals in each) most of its time. */
static void read_decls(object_t *obj)
{
    obj->decls_read = 1;
    Dwarf_Addr bias = 0;
    Dwarf *dw = dwfl_module_getdwarf(obj->mod, &bias);
    if (!dw)
        return;
    Dwarf_Off off = 0, next;
    size_t hsize;
    unsigned char key[1 + sizeof(Dwarf_Addr) + 256];
    while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        Dwarf_Die cu, die;
        if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &die) == 0) {
            do {
                const char *name;
                Dwarf_Attribute attr;
                Dwarf_Op *expr;
                size_t len;
                if (dwarf_tag(&die) != DW_TAG_variable || !(name = dwarf_diename(&die)) ||
                    !dwarf_attr(&die, DW_AT_location, &attr) || dwarf_getlocation(&attr, &expr, &len) != 0 ||
                    len < 1)
                    continue;
                /* a thread-local variable's location is its offset in the object's TLS block, then the op */
                int tls = len >= 2 && (expr[1].atom == DW_OP_GNU_push_tls_address ||
                                       expr[1].atom == DW_OP_form_tls_address);
                if (!tls && expr[0].atom != DW_OP_addr)
                    continue;
                size_t klen;
                unsigned char *heap, *k = decl_key(key, sizeof key, tls, tls ? expr[0].number : expr[0].number + bias,
                                                   name, &klen, &heap);
                int full = !k || (lwr_map_get(&obj->decls, k, klen) == (size_t)-1 &&
                                  lwr_map_put(&obj->decls, k, klen, (size_t)dwarf_dieoffset(&die)) != 0);
                free(heap);
                if (full)
                    return; /* out of memory: what is indexed stays */
            } while (dwarf_siblingof(&die, &die) == 0);
        }
        off = next;
    }
}

/* Where the variable `name` at Dwfl address `a` (tls_wanted: at offset `a` of the TLS block) is declared: the
 * top-level DW_TAG_variable of that name whose location is that address, in any compile unit. */
static void declaration_of(lwr_symbolizer_t *s, object_t *obj, const char *name, Dwarf_Addr a, int tls_wanted,
                           const char **file, unsigned *line)
{
    if (!obj->decls_read)
        read_decls(obj);
    unsigned char key[1 + sizeof(Dwarf_Addr) + 256], *heap;
    size_t klen;
    const unsigned char *k = decl_key(key, sizeof key, tls_wanted, a, name, &klen, &heap);
    size_t at = k ? lwr_map_get(&obj->decls, k, klen) : (size_t)-1;
    free(heap);
    Dwarf_Addr bias = 0;
    Dwarf *dw = at != (size_t)-1 ? dwfl_module_getdwarf(obj->mod, &bias) : NULL;
    Dwarf_Die die, cu;
    if (!dw || !dwarf_offdie(dw, (Dwarf_Off)at, &die) || !dwarf_diecu(&die, &cu, NULL, NULL))
        return;
    int ln = 0;
    const char *f = dwarf_decl_file(&die);
    Dwarf_Attribute dir;
    if (f && dwarf_decl_line(&die, &ln) == 0) {
        *file = absolute(s, f, dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &dir)));
        *line = (unsigned)ln;
    }
}

void lwr_symbolize_data(lwr_symbolizer_t *s, const lwr_dump_t *dump, uint64_t address, lwr_data_symbol_t *out)
{
    memset(out, 0, sizeof *out);
    out->offset = address;
    const lwr_module_t *m = lwr_dump_module_of(dump, address);
    if (!m)
        return;
    out->module = m->path;
    out->offset = address - m->bias;
    size_t oi = s ? find_object(s, m) : (size_t)-1;
    if (oi == (size_t)-1 || !s->objects[oi].mod)
        return;
    object_t *obj = &s->objects[oi];
    const struct fsym *sym = data_symbol_at(obj, out->offset + obj->dwfl_bias);
    if (!sym)
        return;
    out->name = clean_name(s, sym->name);
    out->within = out->offset + obj->dwfl_bias - sym->addr;
    declaration_of(s, obj, sym->name, sym->addr, 0, &out->file, &out->line);
}

void lwr_symbolize_tls(lwr_symbolizer_t *s, const lwr_dump_t *dump, uint64_t image, uint64_t offset,
                       lwr_data_symbol_t *out)
{
    memset(out, 0, sizeof *out);
    out->offset = offset;
    const lwr_module_t *m = lwr_dump_module_of(dump, image);
    if (!m)
        return;
    out->module = m->path;
    size_t oi = s ? find_object(s, m) : (size_t)-1;
    if (oi == (size_t)-1 || !s->objects[oi].mod)
        return;
    object_t *obj = &s->objects[oi];
    /* STT_TLS symbols hold their offset in the block, not an address */
    int n = dwfl_module_getsymtab(obj->mod);
    const char *best = NULL;
    GElf_Sym bs = { 0 };
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr adjusted;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(obj->mod, i, &sym, &adjusted, &shndx, NULL, NULL);
        if (!name || !name[0] || GELF_ST_TYPE(sym.st_info) != STT_TLS || shndx == SHN_UNDEF)
            continue;
        if (offset >= sym.st_value && offset < sym.st_value + (sym.st_size ? sym.st_size : 1) &&
            (!best || sym.st_value > bs.st_value)) {
            best = name;
            bs = sym;
        }
    }
    if (!best)
        return;
    out->name = clean_name(s, best);
    out->within = offset - bs.st_value;
    declaration_of(s, obj, best, bs.st_value, 1, &out->file, &out->line);
}

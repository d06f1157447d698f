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
    struct fsym *syms;      /* function symbols sorted by address, read on first use */
    size_t nsyms;
    int syms_read;
    struct fsym *dsyms;     /* data symbols (variables) sorted by address, read on first use */
    size_t ndsyms;
    int dsyms_read;
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
    answer_t *answers;
    size_t nanswers, capanswers;
    lwr_map_t answer_index; /* (object, offset) -> answers[] */
    struct cu_funcs **cus;  /* function indexes of the compile units looked into */
    size_t ncus, capcus;
    lwr_map_t cu_index;     /* (object, CU offset) -> cus[] */
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
    for (size_t i = 0; i < s->nobjects; i++) {
        free(s->objects[i].syms);
        free(s->objects[i].dsyms);
    }
    lwr_map_clear(&s->object_index);
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
    object_t obj = { 0 };
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

/* Where the inlined call `inl` was made: DW_AT_call_file and DW_AT_call_line. */
static void call_site(lwr_symbolizer_t *s, Dwarf_Die *cu, Dwarf_Die *inl, const char **file, unsigned *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx = 0, ln = 0;
    Dwarf_Files *files;
    size_t nfiles;
    *file = NULL;
    *line = dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &ln) == 0 ? (unsigned)ln : 0;
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
    unsigned line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(obj->mod, pc);
    if (dl) {
        int lineno = 0;
        file = absolute(s, dwfl_lineinfo(dl, NULL, &lineno, NULL, NULL, NULL), dwfl_line_comp_dir(dl));
        line = lineno > 0 ? (unsigned)lineno : 0;
    }
    Dwarf_Die chain[MAX_INLINE], *cu = NULL;
    size_t n = dwarf_chain(s, oi, pc, chain, &cu);
    if (n == 0) {
        out[0] = (answer_t){ clean_name(s, symbol_at(obj, pc)), file, line, 0 };
        return 1;
    }
    size_t k = 0;
    for (size_t i = n; i-- > 0;) {
        out[k++] = (answer_t){ clean_name(s, die_name(&chain[i])), file, line, 1 };
        if (i > 0)
            call_site(s, cu, &chain[i], &file, &line);
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

/* Where the variable `name` at Dwfl address `a` is declared: the top-level DW_TAG_variable of that name whose
 * location is that address, looked for in every compile unit (a lookup made once per root the report shows). */
static void declaration_of(lwr_symbolizer_t *s, object_t *obj, const char *name, Dwarf_Addr a, const char **file,
                           unsigned *line)
{
    Dwarf_Addr bias = 0;
    Dwarf *dw = dwfl_module_getdwarf(obj->mod, &bias);
    if (!dw)
        return;
    Dwarf_Off off = 0, next;
    size_t hsize;
    while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        Dwarf_Die cu, die;
        if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &die) == 0) {
            do {
                if (dwarf_tag(&die) != DW_TAG_variable || !dwarf_diename(&die) ||
                    strcmp(dwarf_diename(&die), name) != 0)
                    continue;
                Dwarf_Attribute attr;
                Dwarf_Op *expr;
                size_t len;
                if (!dwarf_attr(&die, DW_AT_location, &attr) || dwarf_getlocation(&attr, &expr, &len) != 0 ||
                    len < 1 || expr[0].atom != DW_OP_addr || expr[0].number + bias != a)
                    continue;
                int ln = 0;
                const char *f = dwarf_decl_file(&die);
                Dwarf_Attribute dir;
                if (f && dwarf_decl_line(&die, &ln) == 0) {
                    *file = absolute(s, f, dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &dir)));
                    *line = (unsigned)ln;
                }
                return;
            } while (dwarf_siblingof(&die, &die) == 0);
        }
        off = next;
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
    declaration_of(s, obj, sym->name, sym->addr, &out->file, &out->line);
}

/* The pprof profile of a report (`leakwatch report --format pprof`): every live handle of every site, reachable
 * blocks included, as a gzip-compressed protobuf that `go tool pprof` and the profilers that ingest pprof read. */
#include "render_pprof.h"

#include "proto/profile.pb-c.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile profile_t;
typedef Perftools__Profiles__ValueType value_type_t;
typedef Perftools__Profiles__Sample sample_t;
typedef Perftools__Profiles__Label label_t;
typedef Perftools__Profiles__Mapping mapping_t;
typedef Perftools__Profiles__Location location_t;
typedef Perftools__Profiles__Line line_t;
typedef Perftools__Profiles__Function function_t;

/* ---- the modules of the dumps ---- */

int lwr_pprof_modules_add(lwr_pprof_modules_t *m, const lwr_dump_t *dump)
{
    for (size_t i = 0; i < dump->nmodules; i++) {
        const lwr_module_t *d = &dump->modules[i];
        bool known = false;
        for (size_t j = 0; j < m->n && !known; j++)
            known = strcmp(m->v[j].path, d->path) == 0;
        if (known)
            continue;
        if (m->n == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 16;
            lwr_pprof_module_t *v = realloc(m->v, cap * sizeof *v);
            if (!v)
                return -1;
            m->v = v;
            m->cap = cap;
        }
        lwr_pprof_module_t *e = &m->v[m->n];
        e->path = strdup(d->path);
        e->build_id = strdup(d->build_id ? d->build_id : "");
        if (!e->path || !e->build_id) {
            free(e->path);
            free(e->build_id);
            return -1;
        }
        /* The span the module's mappings cover, as offsets from its bias: the same in every process. */
        e->low = d->start - d->bias;
        e->high = d->end - d->bias;
        m->n++;
    }
    return 0;
}

void lwr_pprof_modules_free(lwr_pprof_modules_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].path);
        free(m->v[i].build_id);
    }
    free(m->v);
    *m = (lwr_pprof_modules_t)LWR_PPROF_MODULES_INIT;
}

/* ---- building the profile ---- */

/* An interned string, function or location: the key and the id it got. */
typedef struct {
    UT_hash_handle hh;
    uint64_t id;
    size_t keylen;
    char key[];
} entry_t;

typedef struct {
    profile_t p;
    entry_t *strings, *functions, *locations;
    size_t cap_strings, cap_functions, cap_locations, cap_samples, cap_mappings;
    const lwr_pprof_modules_t *mods;
    uint64_t *mapping_of;   /* per module: its mapping id, 0 before its first frame */
    int oom;
} builder_t;

/* Grows the array *v of *cap elements of `size` bytes to hold n + 1. */
static int reserve(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 64;
    void *p = realloc(*(void **)v, c * size);
    if (!p)
        return -1;
    *(void **)v = p;
    *cap = c;
    return 0;
}

/* The entry of `key` in `*table`, added with id `next` when absent; *added tells which. NULL when out of memory. */
static entry_t *intern(entry_t **table, const void *key, size_t len, uint64_t next, bool *added)
{
    entry_t *e;
    HASH_FIND(hh, *table, key, len, e);
    *added = false;
    if (e)
        return e;
    e = malloc(sizeof *e + len);
    if (!e)
        return NULL;
    memcpy(e->key, key, len);
    e->keylen = len;
    e->id = next;
    HASH_ADD_KEYPTR(hh, *table, e->key, e->keylen, e);
    *added = true;
    return e;
}

static void free_table(entry_t **table)
{
    entry_t *e, *tmp;
    HASH_ITER(hh, *table, e, tmp) {
        HASH_DEL(*table, e);
        free(e);
    }
}

/* The string table index of `s`. */
static int64_t str(builder_t *b, const char *s)
{
    bool added;
    size_t len = strlen(s) + 1;     /* with its NUL: the key is the table's string */
    if (b->oom || reserve(&b->p.string_table, &b->cap_strings, b->p.n_string_table, sizeof(char *)) != 0) {
        b->oom = 1;
        return 0;
    }
    entry_t *e = intern(&b->strings, s, len, b->p.n_string_table, &added);
    if (!e) {
        b->oom = 1;
        return 0;
    }
    if (added)
        b->p.string_table[b->p.n_string_table++] = e->key;  /* owned by the table: freed with it */
    return (int64_t)e->id;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The function id of a frame's function and file. A frame without a function is named as the text report names
 * it, module+0xOFFSET, so that pprof shows where it is rather than a bare address. */
static uint64_t function_of(builder_t *b, const lwr_frame_t *f)
{
    char unknown[64 + 256];
    const char *name = f->function;
    if (!name) {
        if (f->module)
            snprintf(unknown, sizeof unknown, "%.255s+0x%" PRIx64, base_name(f->module), f->offset);
        else
            snprintf(unknown, sizeof unknown, "0x%" PRIx64, f->address);
        name = unknown;
    }
    const char *file = f->file ? f->file : "";
    size_t nl = strlen(name), fl = strlen(file);
    char *key = malloc(nl + fl + 2);
    if (!key || reserve(&b->p.function, &b->cap_functions, b->p.n_function, sizeof(function_t *)) != 0) {
        free(key);
        b->oom = 1;
        return 0;
    }
    memcpy(key, name, nl + 1);
    memcpy(key + nl + 1, file, fl + 1);
    bool added;
    entry_t *e = intern(&b->functions, key, nl + fl + 2, b->p.n_function + 1, &added);
    free(key);
    if (!e) {
        b->oom = 1;
        return 0;
    }
    if (added) {
        function_t *fn = malloc(sizeof *fn);
        if (!fn) {
            b->oom = 1;
            return 0;
        }
        perftools__profiles__function__init(fn);
        fn->id = e->id;
        fn->name = fn->system_name = str(b, name);
        fn->filename = str(b, file);
        b->p.function[b->p.n_function++] = fn;
    }
    return e->id;
}

/* The module index of a frame, or -1 when it has none (or the dumps' module list does not name it). */
static long module_of(const builder_t *b, const lwr_frame_t *f)
{
    if (!f->module)
        return -1;
    for (size_t i = 0; i < b->mods->n; i++)
        if (strcmp(b->mods->v[i].path, f->module) == 0)
            return (long)i;
    return -1;
}

/* Mappings of different modules must not overlap, and one module lies at different addresses in different
 * processes: each module gets an address space of its own, 2^40 bytes apart, its offsets mapped into it. */
#define MAPPING_SPAN ((uint64_t)1 << 40)

static uint64_t mapping_base(long module)
{
    return (uint64_t)(module + 1) * MAPPING_SPAN;
}

static uint64_t mapping_id(builder_t *b, long module)
{
    if (b->mapping_of[module])
        return b->mapping_of[module];
    if (reserve(&b->p.mapping, &b->cap_mappings, b->p.n_mapping, sizeof(mapping_t *)) != 0) {
        b->oom = 1;
        return 0;
    }
    mapping_t *m = malloc(sizeof *m);
    if (!m) {
        b->oom = 1;
        return 0;
    }
    const lwr_pprof_module_t *mod = &b->mods->v[module];
    perftools__profiles__mapping__init(m);
    m->id = b->p.n_mapping + 1;
    m->memory_start = mapping_base(module) + mod->low;
    m->memory_limit = mapping_base(module) + (mod->high > mod->low ? mod->high : mod->low + 1);
    m->file_offset = mod->low;
    m->filename = str(b, mod->path);
    m->build_id = str(b, mod->build_id);
    /* Every location already carries its functions and lines: pprof must not symbolize again. */
    m->has_functions = m->has_filenames = m->has_line_numbers = m->has_inline_frames = 1;
    b->p.mapping[b->p.n_mapping++] = m;
    b->mapping_of[module] = m->id;
    return m->id;
}

/* The location of frames f[0..n): one address, its inlined functions innermost first. */
static uint64_t location_of(builder_t *b, const lwr_frame_t *f, size_t n)
{
    long module = module_of(b, f);
    uint64_t address = module >= 0 ? mapping_base(module) + f->offset : f->address;
    struct {
        uint64_t address;
        long module;
    } key = { address, module };
    if (reserve(&b->p.location, &b->cap_locations, b->p.n_location, sizeof(location_t *)) != 0) {
        b->oom = 1;
        return 0;
    }
    bool added;
    entry_t *e = intern(&b->locations, &key, sizeof key, b->p.n_location + 1, &added);
    if (!e) {
        b->oom = 1;
        return 0;
    }
    if (!added)
        return e->id;
    location_t *loc = malloc(sizeof *loc);
    line_t **lines = calloc(n, sizeof *lines);
    line_t *storage = calloc(n, sizeof *storage);
    if (!loc || !lines || !storage) {
        free(loc);
        free(lines);
        free(storage);
        HASH_DEL(b->locations, e);
        free(e);
        b->oom = 1;
        return 0;
    }
    perftools__profiles__location__init(loc);
    loc->id = e->id;
    loc->address = address;
    loc->mapping_id = module >= 0 ? mapping_id(b, module) : 0;
    for (size_t i = 0; i < n; i++) {
        perftools__profiles__line__init(&storage[i]);
        storage[i].function_id = function_of(b, &f[i]);
        storage[i].line = f[i].line;
        lines[i] = &storage[i];
    }
    loc->n_line = n;
    loc->line = lines;
    b->p.location[b->p.n_location++] = loc;
    return e->id;
}

/* What each value of a sample counts: per kind its handles, and for the heap also its bytes. */
typedef struct {
    int objects[LWR_KIND_COUNT];    /* value index, -1 when the profile has no such type */
    int space[LWR_KIND_COUNT];
    size_t n;
} columns_t;

static int add_type(builder_t *b, const char *kind, const char *what, const char *unit)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%s", kind, what);
    value_type_t *t = malloc(sizeof *t);
    value_type_t **v = realloc(b->p.sample_type, (b->p.n_sample_type + 1) * sizeof *v);
    if (!t || !v) {
        free(t);
        if (v)
            b->p.sample_type = v;
        b->oom = 1;
        return -1;
    }
    b->p.sample_type = v;
    perftools__profiles__value_type__init(t);
    t->type = str(b, name);
    t->unit = str(b, unit);
    v[b->p.n_sample_type] = t;
    return (int)b->p.n_sample_type++;
}

/* The heap has both types always, so that the default type exists; another kind has a count type when the
 * report holds some of it, and a bytes type when its handles have sizes. */
static void choose_columns(builder_t *b, const lwr_report_t *r, columns_t *c)
{
    bool present[LWR_KIND_COUNT] = { false }, sized[LWR_KIND_COUNT] = { false };
    present[LWR_HEAP] = sized[LWR_HEAP] = true;
    for (size_t i = 0; i < r->nsites; i++) {
        present[r->sites[i].kind] = true;
        if (r->sites[i].bytes)
            sized[r->sites[i].kind] = true;
    }
    for (int k = 0; k < LWR_KIND_COUNT; k++) {
        const char *name = lwr_kind_name((lwr_kind_t)k);
        c->objects[k] = present[k] ? add_type(b, name, "objects", "count") : -1;
        c->space[k] = sized[k] ? add_type(b, name, "space", "bytes") : -1;
    }
    c->n = b->p.n_sample_type;
    b->p.default_sample_type = b->p.sample_type[c->space[LWR_HEAP]]->type;
}

static label_t *label(builder_t *b, const char *key, const char *value, int64_t num)
{
    label_t *l = malloc(sizeof *l);
    if (!l) {
        b->oom = 1;
        return NULL;
    }
    perftools__profiles__label__init(l);
    l->key = str(b, key);
    if (value)
        l->str = str(b, value);
    else
        l->num = num;
    return l;
}

static void add_sample(builder_t *b, const lwr_site_t *s, const columns_t *c)
{
    if (reserve(&b->p.sample, &b->cap_samples, b->p.n_sample, sizeof(sample_t *)) != 0) {
        b->oom = 1;
        return;
    }
    sample_t *smp = malloc(sizeof *smp);
    uint64_t *locs = calloc(s->nframes ? s->nframes : 1, sizeof *locs);
    int64_t *values = calloc(c->n, sizeof *values);
    label_t **labels = calloc(3, sizeof *labels);
    if (!smp || !locs || !values || !labels) {
        free(smp);
        free(locs);
        free(values);
        free(labels);
        b->oom = 1;
        return;
    }
    perftools__profiles__sample__init(smp);
    size_t nlocs = 0;
    for (size_t i = 0; i < s->nframes;) {
        size_t j = i + 1;
        while (j < s->nframes && s->frames[j].address == s->frames[i].address)
            j++;
        locs[nlocs++] = location_of(b, &s->frames[i], j - i);
        i = j;
    }
    smp->location_id = locs;
    smp->n_location_id = nlocs;
    if (c->objects[s->kind] >= 0)
        values[c->objects[s->kind]] = (int64_t)(s->count > INT64_MAX ? INT64_MAX : s->count);
    if (c->space[s->kind] >= 0)
        values[c->space[s->kind]] = (int64_t)(s->bytes > INT64_MAX ? INT64_MAX : s->bytes);
    smp->value = values;
    smp->n_value = c->n;
    smp->label = labels;
    labels[smp->n_label++] = label(b, "kind", lwr_kind_name(s->kind), 0);
    if (s->cls != LWR_CLASS_NONE)
        labels[smp->n_label++] = label(b, "class", lwr_class_name(s->cls), 0);
    labels[smp->n_label++] = label(b, "processes", NULL, (int64_t)s->npids);
    b->p.sample[b->p.n_sample++] = smp;
}

/* One comment per process: pid, executable and how it ended, as `go tool pprof -comments` prints them. */
static void add_comments(builder_t *b, const lwr_report_t *r)
{
    b->p.comment = calloc(r->nprocesses + 1, sizeof *b->p.comment);
    if (!b->p.comment) {
        b->oom = 1;
        return;
    }
    for (size_t i = 0; i < r->nprocesses; i++) {
        const lwr_process_t *p = &r->processes[i];
        char *text;
        int n = p->has_exit_status
                    ? asprintf(&text, "pid %ld: %s (exit status %d)", p->pid,
                               p->executable ? p->executable : "?", p->exit_status)
                    : asprintf(&text, "pid %ld: %s%s%s", p->pid, p->executable ? p->executable : "?",
                               p->reason ? ", dump on " : "", p->reason ? p->reason : "");
        if (n < 0) {
            b->oom = 1;
            return;
        }
        b->p.comment[b->p.n_comment++] = str(b, text);
        free(text);
    }
}

static void free_profile(builder_t *b)
{
    profile_t *p = &b->p;
    for (size_t i = 0; i < p->n_sample_type; i++)
        free(p->sample_type[i]);
    free(p->sample_type);
    for (size_t i = 0; i < p->n_sample; i++) {
        sample_t *s = p->sample[i];
        for (size_t j = 0; j < s->n_label; j++)
            free(s->label[j]);
        free(s->label);
        free(s->location_id);
        free(s->value);
        free(s);
    }
    free(p->sample);
    for (size_t i = 0; i < p->n_mapping; i++)
        free(p->mapping[i]);
    free(p->mapping);
    for (size_t i = 0; i < p->n_location; i++) {
        if (p->location[i]->n_line)
            free(p->location[i]->line[0]);
        free(p->location[i]->line);
        free(p->location[i]);
    }
    free(p->location);
    for (size_t i = 0; i < p->n_function; i++)
        free(p->function[i]);
    free(p->function);
    free(p->comment);
    free(p->string_table);
    free(b->mapping_of);
    free_table(&b->strings);
    free_table(&b->functions);
    free_table(&b->locations);
}

/* Writes `data` gzip-compressed to `out`. Returns 0, or -1 when compressing or writing failed. */
static int write_gzip(FILE *out, const uint8_t *data, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 15 window bits plus 16: a gzip header and trailer rather than zlib's, as pprof files have. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uint8_t chunk[1 << 16];
    int rc = 0, flush;
    z.next_in = (uint8_t *)data;
    do {
        size_t step = len > (1u << 30) ? (1u << 30) : len;
        z.avail_in = (uInt)step;
        len -= step;
        flush = len ? Z_NO_FLUSH : Z_FINISH;
        do {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            if (deflate(&z, flush) == Z_STREAM_ERROR) {
                rc = -1;
                break;
            }
            size_t have = sizeof chunk - z.avail_out;
            if (fwrite(chunk, 1, have, out) != have)
                rc = -1;
        } while (rc == 0 && z.avail_out == 0);
    } while (rc == 0 && flush != Z_FINISH);
    deflateEnd(&z);
    return rc;
}

int lwr_render_pprof(FILE *out, const lwr_report_t *r, const lwr_pprof_modules_t *mods)
{
    builder_t b;
    memset(&b, 0, sizeof b);
    perftools__profiles__profile__init(&b.p);
    b.mods = mods;
    b.mapping_of = calloc(mods->n ? mods->n : 1, sizeof *b.mapping_of);
    if (!b.mapping_of)
        return -1;
    str(&b, "");    /* the format's rule: string 0 is the empty string */
    columns_t c;
    choose_columns(&b, r, &c);
    for (size_t i = 0; i < r->nsites && !b.oom; i++)
        if (r->sites[i].count)
            add_sample(&b, &r->sites[i], &c);
    if (!b.oom)
        add_comments(&b, r);
    int rc = -1;
    if (!b.oom) {
        size_t len = perftools__profiles__profile__get_packed_size(&b.p);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf) {
            perftools__profiles__profile__pack(&b.p, buf);
            rc = write_gzip(out, buf, len);
            free(buf);
        }
    }
    free_profile(&b);
    return rc;
}

/* Reads a dump file into lwr_dump_t with jansson, checking every member it uses and naming what is wrong. */
#include "dump.h"
#include "sample.h"
#include "saved.h"
#include "escape.h"
#include "json_arena.h"
#include "warning.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_names[LWR_KIND_COUNT] = { "heap", "fd", "socket", "thread", "timer", "mmap" };

const char *lwr_kind_name(lwr_kind_t kind)
{
    return (unsigned)kind < LWR_KIND_COUNT ? kind_names[kind] : "unknown";
}

const char *lwr_class_name(lwr_class_t cls)
{
    switch (cls) {
    case LWR_CLASS_DEFINITE: return "definite";
    case LWR_CLASS_INDIRECT: return "indirect";
    case LWR_CLASS_REACHABLE: return "reachable";
    default: return NULL;
    }
}

int lwr_kind_from_name(const char *name, size_t len)
{
    for (int k = 0; k < LWR_KIND_COUNT; k++)
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], name, len) == 0)
            return k;
    return -1;
}

int lwr_kinds_parse(const char *list, lwr_kindset_t *out, char *err, size_t errlen)
{
    lwr_kindset_t set = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int k = lwr_kind_from_name(p, len);
        if (len == 3 && memcmp(p, "all", 3) == 0) {
            set |= LWR_ALL_KINDS;
        } else if (k >= 0) {
            set |= 1u << k;
        } else {
            snprintf(err, errlen, "%.*s", (int)(len > 64 ? 64 : len), p);
            return -1;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = set;
    return 0;
}

/* set by any thread that parses a dump (parallel.c): said once */
static atomic_bool saturated;

void lwr_count_add(uint64_t *acc, uint64_t v)
{
    if (v > LWR_COUNT_MAX || *acc > LWR_COUNT_MAX - v) {
        *acc = LWR_COUNT_MAX;
        if (!atomic_exchange(&saturated, true))
            fprintf(stderr, "leakwatch: counts summed over the dumps exceed %llu; they are shown as that number "
                            "(are the dumps forged or corrupt?)\n", (unsigned long long)LWR_COUNT_MAX);
        return;
    }
    *acc += v;
}

void lwr_total_add(lwr_total_t *t, uint64_t count, uint64_t bytes)
{
    lwr_count_add(&t->count, count);
    lwr_count_add(&t->bytes, bytes);
}

bool lwr_counts_saturated(void)
{
    return atomic_load(&saturated);
}

typedef lwr_read_ctx_t ctx_t;

int lwr_read_fail(lwr_read_ctx_t *c, const char *fmt, ...)
{
    char msg[384], line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s: %s%s", c->name, c->what, msg);
    if (c->errlen > 0)
        lwr_escape(line, c->err, c->errlen);
    return -1;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Reads a non-negative integer member. Absent: *out keeps its value unless `required`. */
static int get_uint(ctx_t *c, json_t *obj, const char *where, const char *key, bool required, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? lwr_read_fail(c, "%s%s: missing", where, key) : 0;
    if (!json_is_integer(v))
        return lwr_read_fail(c, "%s%s: expected an integer, found %s", where, key, type_name(v));
    if (json_integer_value(v) < 0)
        return lwr_read_fail(c, "%s%s: negative value %lld", where, key, (long long)json_integer_value(v));
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Reads an optional integer member that may also be null (then *present is false). */
static int get_opt_int(ctx_t *c, json_t *obj, const char *where, const char *key, bool *present, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *present = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return lwr_read_fail(c, "%s%s: expected an integer, found %s", where, key, type_name(v));
    *present = true;
    *out = json_integer_value(v);
    return 0;
}

/* The raw bytes a dump string stands for. Before parsing, unescape_prepass turned each `\u0080`..`\u00ff`
 * escape (a byte that was not UTF-8 in the process, docs/FORMAT.md) into a NUL and two hex digits, which
 * nothing else can produce (a NUL escape is refused); here each such triple becomes its byte again. Returns a
 * malloc'd string, NULL when out of memory. */
static char *dup_value(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\0') {
            d[o++] = s[i];
        } else if (i + 2 < n) {
            char hx[3] = { s[i + 1], s[i + 2], '\0' };
            d[o++] = (char)strtoul(hx, NULL, 16);
            i += 2;
        }
    }
    d[o] = '\0';
    return d;
}

/* Version 1 carries sentences in samples (`detail`) and warnings; version 2 carries values (docs/FORMAT.md). */
static bool known_version(json_t *ver)
{
    return json_is_integer(ver) && (json_integer_value(ver) == 1 || json_integer_value(ver) == 2);
}

/* Copies a string member. Absent or null: *out stays NULL unless `required`. */
static int get_str(ctx_t *c, json_t *obj, const char *where, const char *key, bool required, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || (json_is_null(v) && !required))
        return required ? lwr_read_fail(c, "%s%s: missing", where, key) : 0;
    if (!json_is_string(v))
        return lwr_read_fail(c, "%s%s: expected a string, found %s", where, key, type_name(v));
    *out = dup_value(v);
    if (!*out)
        return lwr_read_fail(c, "out of memory");
    return 0;
}

int lwr_parse_addr(const char *s, size_t len, uint64_t *out)
{
    if (len < 3 || len > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 2; i < len; i++) {
        unsigned ch = (unsigned char)s[i], lower = ch | 0x20u;
        unsigned digit;
        if (ch >= '0' && ch <= '9')
            digit = ch - '0';
        else if (lower >= 'a' && lower <= 'f')
            digit = lower - 'a' + 10;
        else
            return -1;
        v = v << 4 | digit;
    }
    *out = v;
    return 0;
}

/* The address a JSON string holds; 0, or -1 when v is no such string (get_addr_value says why). */
static int addr_of(const json_t *v, uint64_t *out)
{
    /* the whole string: a byte escape (a NUL and two digits after unescape_prepass) is no hex digit */
    return json_is_string(v) && lwr_parse_addr(json_string_value(v), json_string_length(v), out) == 0 ? 0 : -1;
}

static int get_addr_value(ctx_t *c, json_t *v, const char *where, uint64_t *out)
{
    if (!json_is_string(v))
        return lwr_read_fail(c, "%s: expected an address string like \"0x1f00\", found %s", where, type_name(v));
    if (lwr_parse_addr(json_string_value(v), json_string_length(v), out) != 0)
        return lwr_read_fail(c, "%s: \"%.40s\" is not an address like \"0x1f00\"", where, lwr_show(json_string_value(v)));
    return 0;
}

static int get_addr(ctx_t *c, json_t *obj, const char *where, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    char at[160];
    snprintf(at, sizeof at, "%s%s", where, key);
    if (!v)
        return lwr_read_fail(c, "%s: missing", at);
    return get_addr_value(c, v, at, out);
}

/* Returns the array member `key`, NULL when absent (allowed unless `required`); sets *bad on a wrong type. */
static json_t *get_array(ctx_t *c, json_t *obj, const char *key, bool required, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            *bad = lwr_read_fail(c, "%s: missing", key);
        return NULL;
    }
    if (!json_is_array(v)) {
        *bad = lwr_read_fail(c, "%s: expected an array, found %s", key, type_name(v));
        return NULL;
    }
    return v;
}

static int read_modules(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    int bad = 0;
    json_t *arr = get_array(c, root, "modules", true, &bad);
    if (!arr)
        return bad;
    size_t n = json_array_size(arr);
    d->modules = calloc(n ? n : 1, sizeof *d->modules);
    if (!d->modules)
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(arr, i);
        lwr_module_t *mod = &d->modules[i];
        char where[64];
        d->nmodules = i + 1;
        snprintf(where, sizeof where, "modules[%zu].", i);
        if (!json_is_object(m))
            return lwr_read_fail(c, "modules[%zu]: expected an object, found %s", i, type_name(m));
        if (get_str(c, m, where, "path", true, &mod->path) || get_str(c, m, where, "build_id", false, &mod->build_id)
            || get_addr(c, m, where, "bias", &mod->bias) || get_addr(c, m, where, "start", &mod->start)
            || get_addr(c, m, where, "end", &mod->end))
            return -1;
        if (!mod->build_id && !(mod->build_id = strdup("")))
            return lwr_read_fail(c, "out of memory");
        if (mod->end < mod->start)
            return lwr_read_fail(c, "modules[%zu]: end lies below start", i);
    }
    return 0;
}

/* The values a version-2 sample carries about a non-heap handle, and the sentence the reports make of them. */
static int read_values(ctx_t *c, json_t *o, const char *where, lwr_kind_t kind, lwr_sample_t *smp)
{
    if (kind == LWR_HEAP)
        return 0;
    lwr_sample_values_t v;
    memset(&v, 0, sizeof v);
    struct {
        const char *key;
        char **out;
    } m[] = { { "target", &v.target }, { "stream", &v.stream }, { "family", &v.family }, { "type", &v.type },
              { "local", &v.local },   { "peer", &v.peer },     { "start", &v.start },   { "state", &v.state },
              { "clock", &v.clock },   { "notify", &v.notify }, { "prot", &v.prot },     { "sharing", &v.sharing },
              { "backing", &v.backing } };
    int rc = 0;
    for (size_t i = 0; i < sizeof m / sizeof m[0] && rc == 0; i++)
        rc = get_str(c, o, where, m[i].key, false, m[i].out);
    json_t *fd = json_object_get(o, "fd");
    v.fd = json_is_integer(fd) ? (long long)json_integer_value(fd) : -1;
    v.listening = json_is_true(json_object_get(o, "listening"));
    if (rc == 0 && lwr_sample_describe(smp, kind, &v) != 0)
        rc = lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        free(*m[i].out);
    return rc;
}

static int read_samples(ctx_t *c, json_t *s, size_t si, lwr_dump_site_t *site)
{
    json_t *arr = json_object_get(s, "samples");
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return lwr_read_fail(c, "sites[%zu].samples: expected an array, found %s", si, type_name(arr));
    size_t n = json_array_size(arr);
    site->samples = calloc(n ? n : 1, sizeof *site->samples);
    if (!site->samples)
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        lwr_sample_t *smp = &site->samples[i];
        char where[80];
        bool has_age;
        site->nsamples = i + 1;
        smp->age_ms = -1;
        snprintf(where, sizeof where, "sites[%zu].samples[%zu].", si, i);
        if (!json_is_object(o))
            return lwr_read_fail(c, "sites[%zu].samples[%zu]: expected an object, found %s", si, i, type_name(o));
        if (get_str(c, o, where, "handle", true, &smp->handle) || get_uint(c, o, where, "size", false, &smp->size)
            || get_opt_int(c, o, where, "age_ms", &has_age, &smp->age_ms)
            || get_str(c, o, where, "detail", false, &smp->detail))
            return -1;
        if (read_values(c, o, where, site->kind, smp) != 0)
            return -1;
        if (!has_age)
            smp->age_ms = -1;
    }
    return 0;
}

/* Converts entry i of `sites` and appends it to d->sites (*cap entries allocated). */
/* Reads the integers of the array member `key` (site indexes) into a malloc'd *out; absent is none. */
static int get_indexes(ctx_t *c, json_t *obj, const char *where, const char *key, size_t **out, size_t *n)
{
    json_t *arr = json_object_get(obj, key);
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return lwr_read_fail(c, "%s%s: expected an array, found %s", where, key, type_name(arr));
    *out = calloc(json_array_size(arr) + 1, sizeof **out);
    if (!*out)
        return lwr_read_fail(c, "out of memory");
    for (size_t k = 0; k < json_array_size(arr); k++) {
        json_t *v = json_array_get(arr, k);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return lwr_read_fail(c, "%s%s[%zu]: expected a site index, found %s", where, key, k, type_name(v));
        (*out)[(*n)++] = (size_t)json_integer_value(v);
    }
    return 0;
}

/* The members the reachability scan's grouping adds to a site (docs/FORMAT.md); indexes stay the JSON ones until
 * resolve_sites. */
static int read_grouping(ctx_t *c, json_t *s, const char *where, lwr_dump_site_t *site)
{
    site->root_site = SIZE_MAX;
    uint64_t u;
    bool has = json_object_get(s, "indirect_count") != NULL;
    if (get_uint(c, s, where, "indirect_count", false, &site->indirect_count)
        || get_uint(c, s, where, "indirect_bytes", false, &site->indirect_bytes)
        || get_indexes(c, s, where, "indirect_sites", &site->indirect_sites, &site->nindirect_sites)
        || get_uint(c, s, where, "direct_count", false, &site->direct_count)
        || get_uint(c, s, where, "direct_bytes", false, &site->direct_bytes))
        return -1;
    site->attributed = has;
    site->cycle = json_is_true(json_object_get(s, "cycle"));
    if (json_object_get(s, "root_site")) {
        if (get_uint(c, s, where, "root_site", true, &u))
            return -1;
        site->root_site = (size_t)u;
    }
    json_t *h = json_object_get(s, "held_by");
    if (!h || json_is_null(h))
        return 0;
    char at[80];
    snprintf(at, sizeof at, "%sheld_by.", where);
    if (!json_is_object(h))
        return lwr_read_fail(c, "%sheld_by: expected an object, found %s", where, type_name(h));
    lwr_held_by_t *hb = site->held_by = calloc(1, sizeof *hb);
    if (!hb)
        return lwr_read_fail(c, "out of memory");
    if (get_str(c, h, at, "root", true, &hb->root) || get_addr(c, h, at, "address", &hb->address)
        || (json_object_get(h, "frame") && get_addr(c, h, at, "frame", &hb->frame))
        || (json_object_get(h, "tls_image") && (get_addr(c, h, at, "tls_image", &hb->tls_image)
                                                || get_uint(c, h, at, "tls_offset", true, &hb->tls_offset)))
        || get_indexes(c, h, at, "path", &hb->path, &hb->npath))
        return -1;
    return 0;
}

/* Turns the JSON site indexes of the grouping members into indexes of d->sites; an index of a site of a kind
 * this reader skips is dropped, one past the array is an error. */
static int resolve_sites(ctx_t *c, lwr_dump_t *d)
{
    size_t n = d->nsites ? d->sites[d->nsites - 1].json_index + 1 : 0;
    size_t *map = malloc((n + 1) * sizeof *map);
    if (!map)
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++)
        map[i] = SIZE_MAX;
    for (size_t i = 0; i < d->nsites; i++)
        map[d->sites[i].json_index] = i;
    int rc = 0;
    for (size_t i = 0; i < d->nsites && rc == 0; i++) {
        lwr_dump_site_t *s = &d->sites[i];
        size_t *lists[2] = { s->indirect_sites, s->held_by ? s->held_by->path : NULL };
        size_t *lens[2] = { &s->nindirect_sites, s->held_by ? &s->held_by->npath : NULL };
        for (int l = 0; l < 2 && rc == 0; l++) {
            size_t k = 0;
            for (size_t j = 0; lists[l] && j < *lens[l] && rc == 0; j++) {
                if (lists[l][j] >= d->sites[d->nsites - 1].json_index + 1)
                    rc = lwr_read_fail(c, "sites[%zu]: site index %zu lies past the sites", s->json_index, lists[l][j]);
                else if (map[lists[l][j]] != SIZE_MAX)
                    lists[l][k++] = map[lists[l][j]];
            }
            if (lists[l])
                *lens[l] = k;
        }
        if (s->root_site != SIZE_MAX)
            s->root_site = s->root_site < n ? map[s->root_site] : SIZE_MAX;
    }
    free(map);
    return rc;
}

static int read_site(ctx_t *c, json_t *s, size_t i, lwr_dump_t *d, size_t *cap)
{
    if (d->nsites == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        lwr_dump_site_t *v = realloc(d->sites, ncap * sizeof *v);
        if (!v)
            return lwr_read_fail(c, "out of memory");
        memset(v + *cap, 0, (ncap - *cap) * sizeof *v);
        d->sites = v;
        *cap = ncap;
    }
    {
        char where[48];
        snprintf(where, sizeof where, "sites[%zu].", i);
        if (!json_is_object(s))
            return lwr_read_fail(c, "sites[%zu]: expected an object, found %s", i, type_name(s));
        json_t *kind = json_object_get(s, "kind");
        if (!kind || !json_is_string(kind))
            return lwr_read_fail(c, "sites[%zu].kind: expected a string, found %s", i, kind ? type_name(kind) : "nothing");
        int k = lwr_kind_from_name(json_string_value(kind), json_string_length(kind));
        if (k < 0) {
            /* A kind added by a newer library: readers ignore what they do not know. */
            d->skipped_sites++;
            return 0;
        }
        lwr_dump_site_t *site = &d->sites[d->nsites++];
        site->kind = (lwr_kind_t)k;
        site->json_index = i;
        json_t *cls = json_object_get(s, "class");
        if (cls && !json_is_null(cls)) {
            if (!json_is_string(cls))
                return lwr_read_fail(c, "sites[%zu].class: expected a string, found %s", i, type_name(cls));
            for (int x = LWR_CLASS_DEFINITE; x <= LWR_CLASS_REACHABLE; x++)
                if (strcmp(json_string_value(cls), lwr_class_name((lwr_class_t)x)) == 0)
                    site->cls = (lwr_class_t)x;
        }
        site->oldest_age_ms = site->median_age_ms = -1;
        bool has;
        if (get_uint(c, s, where, "count", true, &site->count) || get_uint(c, s, where, "bytes", false, &site->bytes)
            || get_opt_int(c, s, where, "oldest_age_ms", &has, &site->oldest_age_ms))
            return -1;
        if (!has)
            site->oldest_age_ms = -1;
        if (get_opt_int(c, s, where, "median_age_ms", &has, &site->median_age_ms))
            return -1;
        if (!has)
            site->median_age_ms = -1;
        json_t *fr = json_object_get(s, "frames");
        if (!fr || !json_is_array(fr))
            return lwr_read_fail(c, "sites[%zu].frames: expected an array, found %s", i, fr ? type_name(fr) : "nothing");
        size_t nf = json_array_size(fr);
        site->frames = calloc(nf ? nf : 1, sizeof *site->frames);
        if (!site->frames)
            return lwr_read_fail(c, "out of memory");
        for (size_t f = 0; f < nf; f++) {
            json_t *v = json_array_get(fr, f);
            if (addr_of(v, &site->frames[f]) != 0) {
                /* the frame's place is written out only for the message */
                char at[64];
                snprintf(at, sizeof at, "sites[%zu].frames[%zu]", i, f);
                return get_addr_value(c, v, at, &site->frames[f]);
            }
            site->nframes = f + 1;
        }
        if (read_samples(c, s, i, site) || read_grouping(c, s, where, site))
            return -1;
    }
    return 0;
}

static int read_totals(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    json_t *t = json_object_get(root, "totals");
    if (!t) {
        /* Older or partial writers: sum the sites instead. */
        for (size_t i = 0; i < d->nsites; i++) {
            lwr_total_t *to = d->sites[i].cls == LWR_CLASS_REACHABLE ? &d->reachable : &d->totals[d->sites[i].kind];
            lwr_total_add(to, d->sites[i].count, d->sites[i].bytes);
        }
        return 0;
    }
    if (!json_is_object(t))
        return lwr_read_fail(c, "totals: expected an object, found %s", type_name(t));
    for (int k = 0; k < LWR_KIND_COUNT; k++) {
        json_t *o = json_object_get(t, kind_names[k]);
        char where[48];
        snprintf(where, sizeof where, "totals.%s.", kind_names[k]);
        if (!o)
            continue;
        if (!json_is_object(o))
            return lwr_read_fail(c, "totals.%s: expected an object, found %s", kind_names[k], type_name(o));
        if (get_uint(c, o, where, "count", true, &d->totals[k].count)
            || get_uint(c, o, where, "bytes", false, &d->totals[k].bytes))
            return -1;
    }
    json_t *r = json_object_get(t, "reachable");
    if (r) {
        if (!json_is_object(r))
            return lwr_read_fail(c, "totals.reachable: expected an object, found %s", type_name(r));
        if (get_uint(c, r, "totals.reachable.", "count", true, &d->reachable.count)
            || get_uint(c, r, "totals.reachable.", "bytes", false, &d->reachable.bytes))
            return -1;
    } else {
        for (size_t i = 0; i < d->nsites; i++)
            if (d->sites[i].cls == LWR_CLASS_REACHABLE)
                lwr_total_add(&d->reachable, d->sites[i].count, d->sites[i].bytes);
    }
    return 0;
}

static int read_argv(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    int bad = 0;
    json_t *arr = get_array(c, root, "argv", false, &bad);
    if (!arr)
        return bad;
    size_t n = json_array_size(arr);
    d->argv = calloc(n + 1, sizeof *d->argv);
    if (!d->argv)
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(arr, i);
        if (!json_is_string(a))
            return lwr_read_fail(c, "argv[%zu]: expected a string, found %s", i, type_name(a));
        if (!(d->argv[i] = dup_value(a)))
            return lwr_read_fail(c, "out of memory");
        d->argc = i + 1;
    }
    return 0;
}

static int cmp_module(const void *a, const void *b)
{
    const lwr_module_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* An array of "0x..." strings; entries that are not addresses are skipped. Returns 0 or -1 when out of memory. */
static int read_addr_list(json_t *arr, uint64_t **out, size_t *n)
{
    *n = 0;
    *out = NULL;
    if (!arr || !json_is_array(arr))
        return 0;
    *out = calloc(json_array_size(arr) + 1, sizeof **out);
    if (!*out)
        return -1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        char *end;
        if (!s || strncmp(s, "0x", 2) != 0 || strlen(s) != json_string_length(json_array_get(arr, i)))
            continue;
        unsigned long long v = strtoull(s + 2, &end, 16);
        if (*end == '\0' && end != s + 2)
            (*out)[(*n)++] = v;
    }
    return 0;
}

/* Makes w->message from the values of warning object o (type, handle, kind, target, program). Returns 0, or -1
 * when out of memory. */
static int make_warning_sentence(json_t *o, lwr_dump_warning_t *w)
{
    char *kind = NULL, *target = NULL, *program = NULL;
    int oom = 0;
    json_t *k = json_object_get(o, "kind"), *t = json_object_get(o, "target"), *p = json_object_get(o, "program");
    if ((json_is_string(k) && !(kind = dup_value(k))) || (json_is_string(t) && !(target = dup_value(t)))
        || (json_is_string(p) && !(program = dup_value(p))))
        oom = 1;
    if (!oom) {
        lwr_warning_values_t v = { w->type, w->handle, kind, target, program };
        w->message = lwr_warning_sentence(&v, &oom);
    }
    free(kind);
    free(target);
    free(program);
    return oom ? -1 : 0;
}

/* The warnings are advice, not the leaks the gate counts: an entry without a string `type` is left out rather
 * than failing the whole dump. Returns 0 or -1 when out of memory. */
static int read_warnings(json_t *arr, lwr_dump_t *d)
{
    size_t n = json_array_size(arr);
    d->warnings = calloc(n ? n : 1, sizeof *d->warnings);
    if (!d->warnings)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        const char *type = json_string_value(json_object_get(o, "type"));
        if (!json_is_object(o) || !type)
            continue;
        lwr_dump_warning_t *w = &d->warnings[d->nread_warnings++];
        json_t *handle = json_object_get(o, "handle"), *message = json_object_get(o, "message");
        json_t *count = json_object_get(o, "count");
        w->count = json_is_integer(count) && json_integer_value(count) > 0 ? (uint64_t)json_integer_value(count) : 1;
        if (!(w->type = dup_value(json_object_get(o, "type")))
            || (json_is_string(handle) && !(w->handle = dup_value(handle)))
            || (json_is_string(message) && !(w->message = dup_value(message)))
            || read_addr_list(json_object_get(o, "frames"), &w->frames, &w->nframes) != 0
            || read_addr_list(json_object_get(o, "other_frames"), &w->other_frames, &w->nother) != 0)
            return -1;
        /* A dump of today's library carries values and no `message` (older ones carry the sentence): the report
         * says it from them. */
        if (!w->message && make_warning_sentence(o, w) != 0)
            return -1;
    }
    return 0;
}

/* What the library could not record: `dropped` and `lost` (records, sites, warnings), each 0 when absent. */
static int read_lost(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    if (get_uint(c, root, "", "dropped", false, &d->dropped))
        return -1;
    json_t *lost = json_object_get(root, "lost");
    if (!lost)
        return 0;
    if (!json_is_object(lost))
        return lwr_read_fail(c, "lost: expected an object, found %s", type_name(lost));
    return get_uint(c, lost, "lost.", "records", false, &d->lost_records)
        || get_uint(c, lost, "lost.", "sites", false, &d->lost_sites)
        || get_uint(c, lost, "lost.", "warnings", false, &d->lost_warnings) ? -1 : 0;
}

static int read_root(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    if (!json_is_object(root))
        return lwr_read_fail(c, "not a leakwatch dump (the document is %s, not an object)", type_name(root));
    json_t *ver = json_object_get(root, "leakwatch_dump");
    if (!ver)
        return lwr_read_fail(c, "not a leakwatch dump (no \"leakwatch_dump\" member)");
    if (!json_is_integer(ver))
        return lwr_read_fail(c, "leakwatch_dump: expected an integer, found %s", type_name(ver));
    if (!known_version(ver))
        return lwr_read_fail(c, "dump format version %lld is not supported (this leakwatch reads versions 1 and 2)",
                    (long long)json_integer_value(ver));
    d->version = (int)json_integer_value(ver);

    uint64_t u = 0;
    int64_t v = 0;
    bool has;
    if (get_uint(c, root, "", "pid", true, &u))
        return -1;
    d->pid = (long)u;
    if (get_opt_int(c, root, "", "ppid", &has, &v))
        return -1;
    d->ppid = has ? (long)v : -1;
    if (get_opt_int(c, root, "", "seq", &has, &v))
        return -1;
    d->seq = has ? (long)v : 0;
    if (get_opt_int(c, root, "", "uptime_ms", &has, &v))
        return -1;
    d->uptime_ms = has ? v : -1;
    if (get_opt_int(c, root, "", "time_unix_ms", &has, &v))
        return -1;
    d->time_unix_ms = has ? v : -1;
    if (get_opt_int(c, root, "", "exit_status", &d->has_exit_status, &v))
        return -1;
    d->exit_status = (int)v;
    if (get_str(c, root, "", "exe", false, &d->exe) || get_str(c, root, "", "reason", false, &d->reason)
        || read_argv(c, root, d) || read_modules(c, root, d) || read_totals(c, root, d))
        return -1;
    if (read_lost(c, root, d))
        return -1;
    json_t *smp = json_object_get(root, "sampling");
    if (smp) {
        if (!json_is_object(smp))
            return lwr_read_fail(c, "sampling: expected an object, found %s", type_name(smp));
        if (get_uint(c, smp, "sampling.", "mean_bytes", true, &d->sample_bytes))
            return -1;
        if (d->sample_bytes == 0)
            return lwr_read_fail(c, "sampling.mean_bytes: expected at least 1, found 0");
    }
    json_t *w = json_object_get(root, "warnings");
    if (w && json_is_array(w)) {
        d->nwarnings = json_array_size(w);
        if (read_warnings(w, d) != 0)
            return lwr_read_fail(c, "out of memory");
    }
    qsort(d->modules, d->nmodules, sizeof *d->modules, cmp_module);
    return resolve_sites(c, d);
}

/* unescape_prepass's rewriting (below), into a malloc'd copy. */
static char *rewrite_escapes(ctx_t *c, const char *text, size_t len, size_t *outlen)
{
    size_t grow = 0;
    for (size_t i = 0; i + 5 < len; i++)
        if (text[i] == '\\' && text[i + 1] == 'u')
            grow += 2;  /* an upper bound: every \u escape may be one to rewrite */
    char *out = malloc(len + grow + 1);
    if (!out) {
        lwr_read_fail(c, "out of memory (%zu bytes of JSON)", len);
        return NULL;
    }
    size_t o = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (!in_str) {
            in_str = ch == '"';
            out[o++] = ch;
            continue;
        }
        if (ch == '"') {
            in_str = false;
            out[o++] = ch;
            continue;
        }
        if (ch != '\\' || i + 1 >= len) {
            out[o++] = ch;
            continue;
        }
        if (text[i + 1] == 'u' && i + 5 < len && text[i + 2] == '0' && text[i + 3] == '0'
            && strchr("0123456789abcdefABCDEF", text[i + 5]) && text[i + 5] != '\0') {
            char hi = text[i + 4];
            if (hi && strchr("89abcdefABCDEF", hi)) {
                memcpy(out + o, "\\u0000", 6);
                out[o + 6] = hi;
                out[o + 7] = text[i + 5];
                o += 8;
                i += 5;
                continue;
            }
            if (hi == '0' && text[i + 5] == '0') {
                size_t line = 1, col = 1;
                for (size_t k = 0; k < i; k++, col++)
                    if (text[k] == '\n')
                        line++, col = 0;
                free(out);
                lwr_read_fail(c, "line %zu, column %zu: a string holds \\u0000 (a NUL byte), which no dump writes", line, col);
                return NULL;
            }
        }
        /* Any other escape: copy the backslash and the character after it, so that `\\u00e9` stays text. */
        out[o++] = ch;
        out[o++] = text[++i];
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* Rewrites the JSON text for dup_value: inside strings, each escape `\u0080`..`\u00ff` becomes `\u0000` and
 * the escape's two hex digits (8 characters for 6), and a `\u0000` escape is refused (no writer puts a NUL in
 * a name, and it would be read as such a byte). Everything else is copied: jansson checks the rest. Takes the
 * text (NUL-terminated at len) and returns it, or the rewritten copy, with its length; NULL after writing the
 * error (out of memory, a NUL escape), with the text freed. */
static char *unescape_prepass(ctx_t *c, char *text, size_t len, size_t *outlen)
{
    /* no backslash followed by `u` anywhere, the common case: nothing to rewrite or refuse (a backslash is rare
     * in a dump, and memchr finds the next one many bytes at a time) */
    const char *bs = text, *end = text + len;
    while ((bs = memchr(bs, '\\', (size_t)(end - bs))) != NULL && (bs + 1 == end || bs[1] != 'u'))
        bs++;
    if (!bs) {
        *outlen = len;
        return text;
    }
    char *out = rewrite_escapes(c, text, len, outlen);
    free(text);
    return out;
}

/* Writes a jansson error of the value that starts at text + off as a position in the whole text. */
static int fail_at(ctx_t *c, const char *text, size_t off, const json_error_t *jerr)
{
    int line = 1, col = 0;
    for (size_t k = 0; k < off; k++, col++)
        if (text[k] == '\n')
            line++, col = -1;
    if (jerr->line > 1)
        line += jerr->line - 1, col = jerr->column;
    else
        col += jerr->column > 0 ? jerr->column : 0;  /* jansson's column counts from the value's start */
    return lwr_read_fail(c, "line %d, column %d: %s", line, col, jerr->text);
}

static size_t skip_ws(const char *t, size_t i, size_t n)
{
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* One JSON value at text + *i; *i moves past it. */
static json_t *value_at(ctx_t *c, const char *t, size_t n, size_t *i)
{
    json_error_t jerr;
    json_t *v = json_loadb(t + *i, n - *i,
                           JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!v) {
        fail_at(c, t, *i, &jerr);
        return NULL;
    }
    *i += (size_t)jerr.position;
    return v;
}

/* Reads the elements of the `sites` array, whose '[' is behind *i, and the ']' after them: each site is parsed
 * into a tree of its own in the thread's jansson arena, converted, and dropped with the arena. Returns 0 or -1
 * after writing the error. */
static int read_sites(ctx_t *c, const char *t, size_t n, size_t *i, lwr_dump_t *d)
{
    size_t cap = 0;
    int rc = 0;
    lwr_json_arena_begin();
    for (size_t si = 0; rc == 0 && (*i >= n || t[*i] != ']'); si++) {
        json_t *site = value_at(c, t, n, i);
        if (!site) {
            rc = -1;
            break;
        }
        rc = read_site(c, site, si, d, &cap);
        lwr_json_arena_drop(site);
        if (rc != 0)
            break;
        *i = skip_ws(t, *i, n);
        if (*i < n && t[*i] == ',') {
            *i = skip_ws(t, *i + 1, n);
            continue;
        }
        if (*i >= n || t[*i] != ']') {
            json_error_t e = { .line = 1, .column = 1, .text = "',' or ']' expected" };
            rc = fail_at(c, t, *i < n ? *i : n, &e);
        }
    }
    lwr_json_arena_end();
    if (rc == 0)
        (*i)++;
    return rc;
}

/* Reads the top-level object one member at a time, so that the largest member, `sites`, never exists as one
 * jansson tree (about ten times the size of its text): once the version is known to be 1, each site is parsed,
 * converted and freed in turn. The other members go into *rootp (sites too when they come before the version,
 * to be converted from there). Returns 0 or -1 after writing the error. */
static int read_members(ctx_t *c, const char *t, size_t n, lwr_dump_t *d, json_t **rootp, bool *streamed)
{
    size_t i = skip_ws(t, 0, n);
    if (i >= n || t[i] != '{') {
        json_t *v = value_at(c, t, n, &i);   /* jansson's message for what is there instead */
        if (!v)
            return -1;
        *rootp = v;
        return 0;
    }
    json_t *root = *rootp = json_object();
    if (!root)
        return lwr_read_fail(c, "out of memory");
    i = skip_ws(t, i + 1, n);
    if (i < n && t[i] == '}')
        goto end;
    for (;;) {
        i = skip_ws(t, i, n);
        size_t at = i;
        json_t *key = value_at(c, t, n, &i);
        if (!key)
            return -1;
        if (!json_is_string(key) || strlen(json_string_value(key)) != json_string_length(key)) {
            json_decref(key);
            json_error_t e = { .line = 1, .column = 1, .text = "object key expected" };
            return fail_at(c, t, at, &e);
        }
        const char *k = json_string_value(key);
        bool dup = json_object_get(root, k) != NULL || (*streamed && strcmp(k, "sites") == 0);
        i = skip_ws(t, i, n);
        if (dup || i >= n || t[i] != ':') {
            json_decref(key);
            json_error_t e = { .line = 1, .column = 1, .text = "" };
            snprintf(e.text, sizeof e.text, dup ? "duplicate object key" : "':' expected");
            return fail_at(c, t, at, &e);
        }
        i = skip_ws(t, i + 1, n);
        json_t *ver = json_object_get(root, "leakwatch_dump");
        if (strcmp(k, "sites") == 0 && i < n && t[i] == '[' && known_version(ver)) {
            *streamed = true;
            i = skip_ws(t, i + 1, n);
            json_decref(key);
            if (read_sites(c, t, n, &i, d) != 0)
                return -1;
        } else {
            json_t *v = value_at(c, t, n, &i);
            int rc = !v ? -1 : json_object_set_new(root, k, v) != 0 ? lwr_read_fail(c, "out of memory") : 0;
            json_decref(key);
            if (rc != 0)
                return -1;
        }
        i = skip_ws(t, i, n);
        if (i < n && t[i] == ',') {
            i++;
            continue;
        }
        if (i < n && t[i] == '}')
            break;
        json_error_t e = { .line = 1, .column = 1, .text = "',' or '}' expected" };
        return fail_at(c, t, i < n ? i : n, &e);
    }
end:
    i = skip_ws(t, i + 1, n);
    if (i < n) {
        json_error_t e = { .line = 1, .column = 1, .text = "end of file expected" };
        return fail_at(c, t, i, &e);
    }
    return 0;
}

/* Parses `len` bytes of dump text (taking `text`, NUL-terminated at len) and converts it; the text is freed once
 * converted. A saved report goes to its own reader. */
static lwr_dump_t *parse_owned(char *text, size_t len, const char *name, char *err, size_t errlen)
{
    if (lwr_saved_is_report(text, len)) {
        lwr_dump_t *d = lwr_saved_parse(text, len, name, err, errlen);
        free(text);
        return d;
    }
    ctx_t c = { name, "", err, errlen };
    size_t n = 0;
    char *pre = unescape_prepass(&c, text, len, &n);
    if (!pre)
        return NULL;
    lwr_dump_t *d = calloc(1, sizeof *d);
    json_t *root = NULL;
    bool streamed = false;
    int rc = -1;
    if (!d || !(d->file = strdup(name))) {
        lwr_read_fail(&c, "out of memory");
    } else if (read_members(&c, pre, n, d, &root, &streamed) == 0) {
        rc = 0;
        if (!streamed && json_is_object(root) && json_object_get(root, "leakwatch_dump")) {
            /* `sites` came before the version (or is not an array): convert it from the tree. */
            int bad = 0;
            json_t *arr = known_version(json_object_get(root, "leakwatch_dump"))
                              ? get_array(&c, root, "sites", true, &bad)
                              : NULL;
            size_t cap = 0;
            rc = bad;
            for (size_t i = 0; arr && rc == 0 && i < json_array_size(arr); i++)
                rc = read_site(&c, json_array_get(arr, i), i, d, &cap);
        }
        if (rc == 0)
            rc = read_root(&c, root, d);
    }
    free(pre);
    json_decref(root);
    if (rc != 0) {
        lwr_dump_free(d);
        return NULL;
    }
    return d;
}

lwr_dump_t *lwr_dump_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        if (errlen > 0)
            snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    return parse_owned(copy, len, name, err, errlen);
}

char *lwr_read_file(const char *path, uint64_t max, bool regular_only, size_t *len, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO (or a device) must not hang the reader in open; fstat then tells what it is. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    const char *why = NULL;
    char limit[32];
    snprintf(limit, sizeof limit, max % (1u << 20) == 0 ? "%llu MiB" : "%llu bytes",
             (unsigned long long)(max % (1u << 20) == 0 ? max >> 20 : max));
    if (fd < 0 || fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (regular_only && !S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (S_ISDIR(st.st_mode))
        why = strerror(EISDIR);
    else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
        why = "too large";
    else if (!S_ISREG(st.st_mode) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        why = strerror(errno);  /* a pipe (`<(cmd)`) is read as it comes, blocking */
    if (why) {
        if (errlen > 0)
            snprintf(err, errlen, strcmp(why, "too large") == 0 ? "%s: larger than %s, refused" : "%s: %s",
                     lwr_show(path), strcmp(why, "too large") == 0 ? limit : why);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    /* A regular file is read into a buffer of its size; only a file that grows (or a pipe) makes it grow. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *text = malloc(cap);
    while (text) {
        char probe[4096];
        bool full = n + 1 == cap;
        ssize_t r = full ? read(fd, probe, sizeof probe) : read(fd, text + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            if (errlen > 0)
                snprintf(err, errlen, "%s: %s", lwr_show(path), strerror(errno));
            free(text);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        if ((uint64_t)n + (uint64_t)r > max) {
            /* A device or pipe without end (/dev/zero), or a file that grew after fstat. */
            if (errlen > 0)
                snprintf(err, errlen, "%s: larger than %s, refused", lwr_show(path), limit);
            free(text);
            close(fd);
            return NULL;
        }
        if (full) {
            size_t ncap = cap * 2 > n + (size_t)r + 1 ? cap * 2 : n + (size_t)r + 1;
            if (ncap > max + 2)
                ncap = (size_t)max + 2;
            char *t = realloc(text, ncap);
            if (!t) {
                free(text);
                text = NULL;
                break;
            }
            text = t;
            cap = ncap;
            memcpy(text + n, probe, (size_t)r);
        }
        n += (size_t)r;
    }
    close(fd);
    if (!text) {
        if (errlen > 0)
            snprintf(err, errlen, "%s: out of memory", lwr_show(path));
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

uint64_t lwr_note_sampling(const char *cmd, lwr_dump_t *const *v, size_t n)
{
    size_t sampled = 0;
    uint64_t mean = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] && v[i]->sample_bytes) {
            if (!sampled++)
                mean = v[i]->sample_bytes;
        }
    }
    if (sampled)
        fprintf(stderr,
                "leakwatch %s: note: heap counts and bytes are estimates: %zu of %zu dumps were sampled "
                "(LEAKWATCH_SAMPLE=%" PRIu64 ", one block per %" PRIu64 " bytes allocated on average)\n",
                cmd, sampled, n, mean, mean);
    return mean;
}

lwr_dump_t *lwr_dump_load(const char *path, char *err, size_t errlen)
{
    size_t n = 0;
    char *text = lwr_read_file(path, LWR_DUMP_MAX_BYTES, true, &n, err, errlen);
    if (!text)
        return NULL;
    return parse_owned(text, n, path, err, errlen);
}

const lwr_module_t *lwr_dump_module_of(const lwr_dump_t *dump, uint64_t address)
{
    size_t lo = 0, hi = dump->nmodules;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dump->modules[mid].start <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* lo is the first module starting above address; the candidate is just before it. Ranges do not
     * overlap in a real process, but a hand-written dump might, so check the range itself. */
    if (lo > 0 && address < dump->modules[lo - 1].end)
        return &dump->modules[lo - 1];
    return NULL;
}

void lwr_dump_free(lwr_dump_t *d)
{
    if (!d)
        return;
    if (d->saved_report)
        lwr_saved_free(d);
    for (size_t i = 0; i < d->nread_warnings; i++) {
        free(d->warnings[i].type);
        free(d->warnings[i].handle);
        free(d->warnings[i].message);
        free(d->warnings[i].frames);
        free(d->warnings[i].other_frames);
    }
    free(d->warnings);
    for (size_t i = 0; i < d->nmodules; i++) {
        free(d->modules[i].path);
        free(d->modules[i].build_id);
    }
    free(d->modules);
    for (size_t i = 0; i < d->nsites; i++) {
        for (size_t j = 0; j < d->sites[i].nsamples; j++) {
            free(d->sites[i].samples[j].handle);
            free(d->sites[i].samples[j].detail);
            free(d->sites[i].samples[j].thread_state);
        }
        free(d->sites[i].samples);
        free(d->sites[i].frames);
        free(d->sites[i].indirect_sites);
        if (d->sites[i].held_by) {
            free(d->sites[i].held_by->root);
            free(d->sites[i].held_by->path);
            free(d->sites[i].held_by);
        }
    }
    free(d->sites);
    for (size_t i = 0; i < d->argc; i++)
        free(d->argv[i]);
    free(d->argv);
    free(d->exe);
    free(d->reason);
    free(d->file);
    free(d);
}

/* Reads a dump file into lwr_dump_t with jansson, checking every member it uses and naming what is wrong. */
#include "dump.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[LWR_KIND_COUNT] = { "heap", "fd", "socket", "thread", "timer" };

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

/* Everything a failed check needs to write its message. */
typedef struct {
    const char *name;
    char *err;
    size_t errlen;
} ctx_t;

__attribute__((format(printf, 2, 3)))
static int fail(ctx_t *c, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->errlen > 0)
        snprintf(c->err, c->errlen, "%s: %s", c->name, msg);
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
        return required ? fail(c, "%s%s: missing", where, key) : 0;
    if (!json_is_integer(v))
        return fail(c, "%s%s: expected an integer, found %s", where, key, type_name(v));
    if (json_integer_value(v) < 0)
        return fail(c, "%s%s: negative value %lld", where, key, (long long)json_integer_value(v));
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
        return fail(c, "%s%s: expected an integer, found %s", where, key, type_name(v));
    *present = true;
    *out = json_integer_value(v);
    return 0;
}

/* Copies a string member. Absent or null: *out stays NULL unless `required`. */
static int get_str(ctx_t *c, json_t *obj, const char *where, const char *key, bool required, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || (json_is_null(v) && !required))
        return required ? fail(c, "%s%s: missing", where, key) : 0;
    if (!json_is_string(v))
        return fail(c, "%s%s: expected a string, found %s", where, key, type_name(v));
    *out = strdup(json_string_value(v));
    if (!*out)
        return fail(c, "out of memory");
    return 0;
}

/* Parses "0x" followed by 1 to 16 hex digits. Returns 0 or -1. */
static int parse_hex(const char *s, uint64_t *out)
{
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return -1;
    s += 2;
    size_t n = strlen(s);
    if (n == 0 || n > 16 || strspn(s, "0123456789abcdefABCDEF") != n)
        return -1;
    *out = strtoull(s, NULL, 16);
    return 0;
}

static int get_addr_value(ctx_t *c, json_t *v, const char *where, uint64_t *out)
{
    if (!json_is_string(v))
        return fail(c, "%s: expected an address string like \"0x1f00\", found %s", where, type_name(v));
    if (parse_hex(json_string_value(v), out) != 0)
        return fail(c, "%s: \"%.40s\" is not an address like \"0x1f00\"", where, json_string_value(v));
    return 0;
}

static int get_addr(ctx_t *c, json_t *obj, const char *where, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    char at[160];
    snprintf(at, sizeof at, "%s%s", where, key);
    if (!v)
        return fail(c, "%s: missing", at);
    return get_addr_value(c, v, at, out);
}

/* Returns the array member `key`, NULL when absent (allowed unless `required`); sets *bad on a wrong type. */
static json_t *get_array(ctx_t *c, json_t *obj, const char *key, bool required, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            *bad = fail(c, "%s: missing", key);
        return NULL;
    }
    if (!json_is_array(v)) {
        *bad = fail(c, "%s: expected an array, found %s", key, type_name(v));
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
        return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(arr, i);
        lwr_module_t *mod = &d->modules[i];
        char where[64];
        d->nmodules = i + 1;
        snprintf(where, sizeof where, "modules[%zu].", i);
        if (!json_is_object(m))
            return fail(c, "modules[%zu]: expected an object, found %s", i, type_name(m));
        if (get_str(c, m, where, "path", true, &mod->path) || get_str(c, m, where, "build_id", false, &mod->build_id)
            || get_addr(c, m, where, "bias", &mod->bias) || get_addr(c, m, where, "start", &mod->start)
            || get_addr(c, m, where, "end", &mod->end))
            return -1;
        if (!mod->build_id && !(mod->build_id = strdup("")))
            return fail(c, "out of memory");
        if (mod->end < mod->start)
            return fail(c, "modules[%zu]: end lies below start", i);
    }
    return 0;
}

static int read_samples(ctx_t *c, json_t *s, size_t si, lwr_dump_site_t *site)
{
    json_t *arr = json_object_get(s, "samples");
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return fail(c, "sites[%zu].samples: expected an array, found %s", si, type_name(arr));
    size_t n = json_array_size(arr);
    site->samples = calloc(n ? n : 1, sizeof *site->samples);
    if (!site->samples)
        return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        lwr_sample_t *smp = &site->samples[i];
        char where[80];
        bool has_age;
        site->nsamples = i + 1;
        smp->age_ms = -1;
        snprintf(where, sizeof where, "sites[%zu].samples[%zu].", si, i);
        if (!json_is_object(o))
            return fail(c, "sites[%zu].samples[%zu]: expected an object, found %s", si, i, type_name(o));
        if (get_str(c, o, where, "handle", true, &smp->handle) || get_uint(c, o, where, "size", false, &smp->size)
            || get_opt_int(c, o, where, "age_ms", &has_age, &smp->age_ms)
            || get_str(c, o, where, "detail", false, &smp->detail))
            return -1;
        if (!has_age)
            smp->age_ms = -1;
    }
    return 0;
}

static int read_sites(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    int bad = 0;
    json_t *arr = get_array(c, root, "sites", true, &bad);
    if (!arr)
        return bad;
    size_t n = json_array_size(arr);
    d->sites = calloc(n ? n : 1, sizeof *d->sites);
    if (!d->sites)
        return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        char where[48];
        snprintf(where, sizeof where, "sites[%zu].", i);
        if (!json_is_object(s))
            return fail(c, "sites[%zu]: expected an object, found %s", i, type_name(s));
        json_t *kind = json_object_get(s, "kind");
        if (!kind || !json_is_string(kind))
            return fail(c, "sites[%zu].kind: expected a string, found %s", i, kind ? type_name(kind) : "nothing");
        int k = lwr_kind_from_name(json_string_value(kind), json_string_length(kind));
        if (k < 0) {
            /* A kind added by a newer library: readers ignore what they do not know. */
            d->skipped_sites++;
            continue;
        }
        lwr_dump_site_t *site = &d->sites[d->nsites++];
        site->kind = (lwr_kind_t)k;
        json_t *cls = json_object_get(s, "class");
        if (cls && !json_is_null(cls)) {
            if (!json_is_string(cls))
                return fail(c, "sites[%zu].class: expected a string, found %s", i, type_name(cls));
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
            return fail(c, "sites[%zu].frames: expected an array, found %s", i, fr ? type_name(fr) : "nothing");
        size_t nf = json_array_size(fr);
        site->frames = calloc(nf ? nf : 1, sizeof *site->frames);
        if (!site->frames)
            return fail(c, "out of memory");
        for (size_t f = 0; f < nf; f++) {
            char at[64];
            snprintf(at, sizeof at, "sites[%zu].frames[%zu]", i, f);
            if (get_addr_value(c, json_array_get(fr, f), at, &site->frames[f]))
                return -1;
            site->nframes = f + 1;
        }
        if (read_samples(c, s, i, site))
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
            to->count += d->sites[i].count;
            to->bytes += d->sites[i].bytes;
        }
        return 0;
    }
    if (!json_is_object(t))
        return fail(c, "totals: expected an object, found %s", type_name(t));
    for (int k = 0; k < LWR_KIND_COUNT; k++) {
        json_t *o = json_object_get(t, kind_names[k]);
        char where[48];
        snprintf(where, sizeof where, "totals.%s.", kind_names[k]);
        if (!o)
            continue;
        if (!json_is_object(o))
            return fail(c, "totals.%s: expected an object, found %s", kind_names[k], type_name(o));
        if (get_uint(c, o, where, "count", true, &d->totals[k].count)
            || get_uint(c, o, where, "bytes", false, &d->totals[k].bytes))
            return -1;
    }
    json_t *r = json_object_get(t, "reachable");
    if (r) {
        if (!json_is_object(r))
            return fail(c, "totals.reachable: expected an object, found %s", type_name(r));
        if (get_uint(c, r, "totals.reachable.", "count", true, &d->reachable.count)
            || get_uint(c, r, "totals.reachable.", "bytes", false, &d->reachable.bytes))
            return -1;
    } else {
        for (size_t i = 0; i < d->nsites; i++)
            if (d->sites[i].cls == LWR_CLASS_REACHABLE) {
                d->reachable.count += d->sites[i].count;
                d->reachable.bytes += d->sites[i].bytes;
            }
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
        return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(arr, i);
        if (!json_is_string(a))
            return fail(c, "argv[%zu]: expected a string, found %s", i, type_name(a));
        if (!(d->argv[i] = strdup(json_string_value(a))))
            return fail(c, "out of memory");
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
        if (!s || strncmp(s, "0x", 2) != 0)
            continue;
        unsigned long long v = strtoull(s + 2, &end, 16);
        if (*end == '\0' && end != s + 2)
            (*out)[(*n)++] = v;
    }
    return 0;
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
        const char *handle = json_string_value(json_object_get(o, "handle"));
        const char *message = json_string_value(json_object_get(o, "message"));
        json_t *count = json_object_get(o, "count");
        w->count = json_is_integer(count) && json_integer_value(count) > 0 ? (uint64_t)json_integer_value(count) : 1;
        if (!(w->type = strdup(type)) || (handle && !(w->handle = strdup(handle)))
            || (message && !(w->message = strdup(message)))
            || read_addr_list(json_object_get(o, "frames"), &w->frames, &w->nframes) != 0
            || read_addr_list(json_object_get(o, "other_frames"), &w->other_frames, &w->nother) != 0)
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
        return fail(c, "lost: expected an object, found %s", type_name(lost));
    return get_uint(c, lost, "lost.", "records", false, &d->lost_records)
        || get_uint(c, lost, "lost.", "sites", false, &d->lost_sites)
        || get_uint(c, lost, "lost.", "warnings", false, &d->lost_warnings) ? -1 : 0;
}

static int read_root(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    if (!json_is_object(root))
        return fail(c, "not a leakwatch dump (the document is %s, not an object)", type_name(root));
    json_t *ver = json_object_get(root, "leakwatch_dump");
    if (!ver)
        return fail(c, "not a leakwatch dump (no \"leakwatch_dump\" member)");
    if (!json_is_integer(ver))
        return fail(c, "leakwatch_dump: expected an integer, found %s", type_name(ver));
    if (json_integer_value(ver) != 1)
        return fail(c, "dump format version %lld is not supported (this leakwatch reads version 1)",
                    (long long)json_integer_value(ver));
    d->version = 1;

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
        || read_argv(c, root, d) || read_modules(c, root, d) || read_sites(c, root, d) || read_totals(c, root, d))
        return -1;
    if (read_lost(c, root, d))
        return -1;
    json_t *w = json_object_get(root, "warnings");
    if (w && json_is_array(w)) {
        d->nwarnings = json_array_size(w);
        if (read_warnings(w, d) != 0)
            return fail(c, "out of memory");
    }
    qsort(d->modules, d->nmodules, sizeof *d->modules, cmp_module);
    return 0;
}

static lwr_dump_t *finish(json_t *root, json_error_t *jerr, const char *name, char *err, size_t errlen)
{
    ctx_t c = { name, err, errlen };
    if (!root) {
        fail(&c, "line %d, column %d: %s", jerr->line, jerr->column, jerr->text);
        return NULL;
    }
    lwr_dump_t *d = calloc(1, sizeof *d);
    if (!d || !(d->file = strdup(name))) {
        fail(&c, "out of memory");
        free(d);
        json_decref(root);
        return NULL;
    }
    if (read_root(&c, root, d) != 0) {
        lwr_dump_free(d);
        d = NULL;
    }
    json_decref(root);
    return d;
}

lwr_dump_t *lwr_dump_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    return finish(root, &jerr, name, err, errlen);
}

lwr_dump_t *lwr_dump_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errlen > 0)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    return finish(root, &jerr, path, err, errlen);
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
        }
        free(d->sites[i].samples);
        free(d->sites[i].frames);
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

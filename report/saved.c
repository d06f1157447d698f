/* Reads a saved JSON report (docs/FORMAT.md, `leakwatch_report: 1`) back into lwr_dump_t: sites with their counts,
 * bytes, classes, samples, pids and symbolized frames, processes, warnings and unchecked entries. */
#include "saved.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef lwr_read_ctx_t ctx_t;

bool lwr_saved_is_report(const char *t, size_t n)
{
    size_t i = 0;
    while (i < n && strchr(" \t\r\n", t[i]))
        i++;
    if (i < n && t[i] == '{') {
        for (i++; i < n && strchr(" \t\r\n", t[i]); i++)
            ;
        static const char key[] = "\"leakwatch_report\"";
        if (n - i >= sizeof key - 1 && memcmp(t + i, key, sizeof key - 1) == 0)
            return true;
    }
    /* a report edited by hand may put its members in another order: only then is the text parsed twice */
    if (!memmem(t, n, "\"leakwatch_report\"", 18))
        return false;
    json_t *root = json_loadb(t, n, 0, NULL);
    bool is = json_is_object(root) && json_object_get(root, "leakwatch_report")
              && !json_object_get(root, "leakwatch_dump");
    json_decref(root);
    return is;
}

/* The member `key` of `obj`, which must be of JSON type `type` (JSON_TRUE stands for either boolean), or NULL
 * when absent and allowed to be (`required` false; also null when `nullable`). Returns 0 or -1 (said). */
static int member(ctx_t *c, json_t *obj, const char *where, const char *key, json_type type, bool required,
                  bool nullable, json_t **out)
{
    static const char *const names[] = { "an object", "an array", "a string", "an integer", "a number",
                                         "a boolean", "a boolean", "null" };
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || (nullable && json_is_null(v)))
        return !v && required ? lwr_read_fail(c, "%s%s: missing", where, key) : 0;
    bool ok = json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v));
    if (!ok)
        return lwr_read_fail(c, "%s%s: expected %s", where, key, names[type]);
    *out = v;
    return 0;
}

/* A non-negative integer member into *out (left as it is when absent and not required). */
static int get_count(ctx_t *c, json_t *obj, const char *where, const char *key, bool required, uint64_t *out)
{
    json_t *v;
    if (member(c, obj, where, key, JSON_INTEGER, required, false, &v) != 0)
        return -1;
    if (v && json_integer_value(v) < 0)
        return lwr_read_fail(c, "%s%s: negative", where, key);
    if (v)
        *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A process number (a positive integer that fits a long) into *out. */
static int get_pid(ctx_t *c, json_t *obj, const char *where, const char *key, bool required, bool nullable,
                   long *out)
{
    json_t *v;
    if (member(c, obj, where, key, JSON_INTEGER, required, nullable, &v) != 0)
        return -1;
    if (v && (json_integer_value(v) <= 0 || json_integer_value(v) > INT32_MAX))
        return lwr_read_fail(c, "%s%s: not a process number", where, key);
    if (v)
        *out = (long)json_integer_value(v);
    return 0;
}

/* A copy of a string member, NULL when absent or null (allowed unless `required`). Sets *oom when out of memory. */
static int get_str(ctx_t *c, json_t *obj, const char *where, const char *key, bool required, char **out)
{
    json_t *v;
    *out = NULL;
    if (member(c, obj, where, key, JSON_STRING, required, !required, &v) != 0)
        return -1;
    if (v && !(*out = strdup(json_string_value(v))))
        return lwr_read_fail(c, "out of memory");
    return 0;
}

static int read_frames(ctx_t *c, json_t *arr, const char *where, lwr_known_frame_t **out, size_t *n)
{
    size_t len = json_array_size(arr);
    *out = calloc(len ? len : 1, sizeof **out);
    *n = 0;
    if (!*out)
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < len; i++) {
        char at[160];
        json_t *f = json_array_get(arr, i), *addr, *off;
        lwr_known_frame_t *k = &(*out)[i];
        uint64_t line = 0, column = 0;
        snprintf(at, sizeof at, "%s[%zu].", where, i);
        if (!json_is_object(f))
            return lwr_read_fail(c, "%s[%zu]: expected an object", where, i);
        (*n)++;
        if (get_str(c, f, at, "function", false, &k->function) || get_str(c, f, at, "file", false, &k->file)
            || get_str(c, f, at, "module", false, &k->module) || get_count(c, f, at, "line", false, &line)
            || get_count(c, f, at, "column", false, &column) || member(c, f, at, "address", JSON_STRING, true, false, &addr)
            || member(c, f, at, "offset", JSON_STRING, false, false, &off))
            return -1;
        if (line > UINT32_MAX || column > UINT32_MAX)
            return lwr_read_fail(c, "%s%s: too large", at, line > UINT32_MAX ? "line" : "column");
        k->line = (unsigned)line;
        k->column = (unsigned)column;
        if (lwr_parse_addr(json_string_value(addr), json_string_length(addr), &k->address) != 0)
            return lwr_read_fail(c, "%saddress: not a hexadecimal address", at);
        k->offset = k->address;
        if (off && lwr_parse_addr(json_string_value(off), json_string_length(off), &k->offset) != 0)
            return lwr_read_fail(c, "%soffset: not a hexadecimal offset", at);
    }
    return 0;
}

/* Copies the known frames' addresses into the plain frame list a dump has. */
static int addresses(ctx_t *c, const lwr_known_frame_t *k, size_t n, uint64_t **out)
{
    *out = malloc((n ? n : 1) * sizeof **out);
    if (!*out)
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++)
        (*out)[i] = k[i].address;
    return 0;
}

/* The grouping members of a site (`indirect_count`, `indirect_bytes`, `cycle`, `direct_count`, `direct_bytes`,
 * `root_site`, `indirect_sites`), the site ids kept as ids until every site is read (resolve_ids). */
static int read_grouping(ctx_t *c, json_t *o, const char *at, lwr_dump_site_t *s)
{
    json_t *ic, *cycle, *root, *list;
    if (member(c, o, at, "indirect_count", JSON_INTEGER, false, false, &ic)
        || member(c, o, at, "cycle", JSON_TRUE, false, false, &cycle)
        || member(c, o, at, "root_site", JSON_INTEGER, false, false, &root)
        || member(c, o, at, "indirect_sites", JSON_ARRAY, false, false, &list))
        return -1;
    s->root_site = SIZE_MAX;
    if (root && (json_integer_value(root) <= 0 || (uint64_t)json_integer_value(root) >= SIZE_MAX))
        return lwr_read_fail(c, "%sroot_site: not a site id", at);
    if (root)
        s->root_site = (size_t)json_integer_value(root);
    if (!ic)
        return 0;
    s->attributed = true;
    s->cycle = cycle && json_is_true(cycle);
    if (get_count(c, o, at, "indirect_count", true, &s->indirect_count)
        || get_count(c, o, at, "indirect_bytes", true, &s->indirect_bytes)
        || get_count(c, o, at, "direct_count", s->cycle, &s->direct_count)
        || get_count(c, o, at, "direct_bytes", s->cycle, &s->direct_bytes))
        return -1;
    size_t n = json_array_size(list);
    if (!(s->indirect_sites = calloc(n ? n : 1, sizeof *s->indirect_sites)))
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return lwr_read_fail(c, "%sindirect_sites[%zu]: not a site id", at, i);
        s->indirect_sites[s->nindirect_sites++] = (size_t)json_integer_value(v);
    }
    return 0;
}

/* The index of the site whose id is `id` (ids ascend with the sites), or SIZE_MAX. */
static size_t site_of_id(const uint64_t *ids, size_t n, size_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id ? lo : SIZE_MAX;
}

/* Turns the site ids of the grouping into indexes into d->sites, as a dump has them; `ids` holds each site's id
 * (0: it had none). An id no site has is an error. */
static int resolve_ids(ctx_t *c, lwr_dump_t *d, const uint64_t *ids)
{
    for (size_t i = 1; i < d->nsites; i++)
        if (ids[i] && ids[i] <= ids[i - 1])
            return lwr_read_fail(c, "sites[%zu].id: the ids do not ascend", i);
    for (size_t i = 0; i < d->nsites; i++) {
        lwr_dump_site_t *s = &d->sites[i];
        if (s->root_site != SIZE_MAX && (s->root_site = site_of_id(ids, d->nsites, s->root_site)) == SIZE_MAX)
            return lwr_read_fail(c, "sites[%zu].root_site: no site has that id", i);
        for (size_t k = 0; k < s->nindirect_sites; k++)
            if ((s->indirect_sites[k] = site_of_id(ids, d->nsites, s->indirect_sites[k])) == SIZE_MAX)
                return lwr_read_fail(c, "sites[%zu].indirect_sites[%zu]: no site has that id", i, k);
    }
    return 0;
}

static int read_site(ctx_t *c, json_t *o, size_t si, lwr_dump_t *d, uint64_t *id)
{
    char at[64];
    json_t *kind, *cls, *frames, *samples, *pids;
    snprintf(at, sizeof at, "sites[%zu].", si);
    if (!json_is_object(o))
        return lwr_read_fail(c, "sites[%zu]: expected an object", si);
    if (member(c, o, at, "kind", JSON_STRING, true, false, &kind)
        || member(c, o, at, "class", JSON_STRING, false, false, &cls)
        || member(c, o, at, "frames", JSON_ARRAY, true, false, &frames)
        || member(c, o, at, "samples", JSON_ARRAY, false, false, &samples)
        || member(c, o, at, "pids", JSON_ARRAY, false, false, &pids))
        return -1;
    int k = lwr_kind_from_name(json_string_value(kind), json_string_length(kind));
    if (k < 0) {
        d->skipped_sites++;     /* a kind of a newer leakwatch: left out, as in dumps */
        return 0;
    }
    lwr_dump_site_t *s = &d->sites[d->nsites++];
    s->kind = (lwr_kind_t)k;
    s->oldest_age_ms = s->median_age_ms = -1;
    s->json_index = si;
    *id = 0;
    if (get_count(c, o, at, "id", false, id) || read_grouping(c, o, at, s))
        return -1;
    const char *cn = cls ? json_string_value(cls) : "";
    s->cls = strcmp(cn, "definite") == 0    ? LWR_CLASS_DEFINITE
             : strcmp(cn, "indirect") == 0  ? LWR_CLASS_INDIRECT
             : strcmp(cn, "reachable") == 0 ? LWR_CLASS_REACHABLE
                                            : LWR_CLASS_NONE;
    char where[80];
    snprintf(where, sizeof where, "%sframes", at);
    uint64_t oldest = UINT64_MAX, median = UINT64_MAX;
    if (get_count(c, o, at, "oldest_age_ms", false, &oldest) || get_count(c, o, at, "median_age_ms", false, &median))
        return -1;
    if (oldest <= INT64_MAX)
        s->oldest_age_ms = (int64_t)oldest;
    if (median <= INT64_MAX)
        s->median_age_ms = (int64_t)median;
    if (get_count(c, o, at, "count", true, &s->count) || get_count(c, o, at, "bytes", true, &s->bytes)
        || read_frames(c, frames, where, &s->known, &s->nframes) || addresses(c, s->known, s->nframes, &s->frames))
        return -1;
    size_t ns = json_array_size(samples);
    if (ns > LWR_MAX_SAMPLES)
        ns = LWR_MAX_SAMPLES;   /* a report keeps at most that many; a longer list is not one leakwatch wrote */
    if (!(s->samples = calloc(ns ? ns : 1, sizeof *s->samples)))
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < ns; i++) {
        char sat[96];
        json_t *so = json_array_get(samples, i);
        lwr_sample_t *smp = &s->samples[i];
        snprintf(sat, sizeof sat, "%ssamples[%zu].", at, i);
        if (!json_is_object(so))
            return lwr_read_fail(c, "%ssamples[%zu]: expected an object", at, i);
        s->nsamples++;
        smp->age_ms = -1;
        if (get_pid(c, so, sat, "pid", false, false, &smp->pid) || get_str(c, so, sat, "handle", true, &smp->handle)
            || get_count(c, so, sat, "size", false, &smp->size) || get_str(c, so, sat, "detail", false, &smp->detail))
            return -1;
    }
    size_t np = json_array_size(pids);
    if (!(s->pids = calloc(np ? np : 1, sizeof *s->pids)))
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < np; i++) {
        json_t *p = json_array_get(pids, i);
        if (!json_is_integer(p) || json_integer_value(p) <= 0 || json_integer_value(p) > INT32_MAX)
            return lwr_read_fail(c, "%spids[%zu]: not a process number", at, i);
        s->pids[s->npids++] = (long)json_integer_value(p);
    }
    return 0;
}

static int read_total(ctx_t *c, json_t *totals, const char *key, lwr_total_t *t)
{
    char at[48];
    json_t *o;
    snprintf(at, sizeof at, "totals.%s.", key);
    if (member(c, totals, "totals.", key, JSON_OBJECT, true, false, &o) != 0)
        return -1;
    return get_count(c, o, at, "count", true, &t->count) || get_count(c, o, at, "bytes", true, &t->bytes) ? -1 : 0;
}

static int read_process(ctx_t *c, json_t *o, size_t pi, lwr_dump_t *d)
{
    char at[64];
    json_t *args, *status, *lost;
    snprintf(at, sizeof at, "processes[%zu].", pi);
    if (!json_is_object(o))
        return lwr_read_fail(c, "processes[%zu]: expected an object", pi);
    d->ppid = -1;
    d->saved_report = true;
    if (get_pid(c, o, at, "pid", true, false, &d->pid) || get_pid(c, o, at, "ppid", false, true, &d->ppid)
        || get_str(c, o, at, "executable", false, &d->exe) || get_str(c, o, at, "dump", false, &d->dump_name)
        || member(c, o, at, "arguments", JSON_ARRAY, false, false, &args)
        || member(c, o, at, "exit_status", JSON_INTEGER, false, true, &status)
        || get_count(c, o, at, "dropped", false, &d->dropped)
        || member(c, o, at, "lost", JSON_OBJECT, false, false, &lost))
        return -1;
    if (status && (json_integer_value(status) < 0 || json_integer_value(status) > 255))
        return lwr_read_fail(c, "%sexit_status: not an exit status", at);
    d->has_exit_status = status != NULL;
    d->exit_status = status ? (int)json_integer_value(status) : 0;
    char lat[80];
    snprintf(lat, sizeof lat, "%slost.", at);
    if (lost && (get_count(c, lost, lat, "records", false, &d->lost_records)
                 || get_count(c, lost, lat, "sites", false, &d->lost_sites)
                 || get_count(c, lost, lat, "warnings", false, &d->lost_warnings)))
        return -1;
    size_t na = json_array_size(args);
    if (!(d->argv = calloc(na + 1, sizeof *d->argv)))
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < na; i++) {
        json_t *a = json_array_get(args, i);
        if (!json_is_string(a))
            return lwr_read_fail(c, "%sarguments[%zu]: expected a string", at, i);
        if (!(d->argv[d->argc++] = strdup(json_string_value(a))))
            return lwr_read_fail(c, "out of memory");
    }
    return 0;
}

static int read_warning(ctx_t *c, json_t *o, size_t wi, lwr_dump_warning_t *w)
{
    char at[64], where[96];
    json_t *frames, *other;
    snprintf(at, sizeof at, "warnings[%zu].", wi);
    if (!json_is_object(o))
        return lwr_read_fail(c, "warnings[%zu]: expected an object", wi);
    w->count = 1;
    if (get_str(c, o, at, "type", true, &w->type) || get_pid(c, o, at, "pid", false, false, &w->pid)
        || get_str(c, o, at, "handle", false, &w->handle) || get_str(c, o, at, "message", false, &w->message)
        || get_count(c, o, at, "count", false, &w->count)
        || member(c, o, at, "frames", JSON_ARRAY, false, false, &frames)
        || member(c, o, at, "other_frames", JSON_ARRAY, false, false, &other))
        return -1;
    snprintf(where, sizeof where, "%sframes", at);
    if (read_frames(c, frames, where, &w->known, &w->nframes) || addresses(c, w->known, w->nframes, &w->frames))
        return -1;
    snprintf(where, sizeof where, "%sother_frames", at);
    return read_frames(c, other, where, &w->known_other, &w->nother)
                   || addresses(c, w->known_other, w->nother, &w->other_frames)
               ? -1
               : 0;
}

static int read_unchecked(ctx_t *c, json_t *arr, lwr_dump_t *d)
{
    size_t n = json_array_size(arr);
    d->has_unchecked = true;
    if (!(d->unchecked = calloc(n ? n : 1, sizeof *d->unchecked)))
        return lwr_read_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char at[48];
        json_t *o = json_array_get(arr, i);
        lwr_dump_unchecked_t *u = &d->unchecked[i];
        snprintf(at, sizeof at, "unchecked[%zu].", i);
        if (!json_is_object(o))
            return lwr_read_fail(c, "unchecked[%zu]: expected an object", i);
        d->nunchecked++;
        if (get_pid(c, o, at, "pid", true, false, &u->pid) || get_str(c, o, at, "executable", false, &u->executable)
            || get_str(c, o, at, "reason", true, &u->reason))
            return -1;
    }
    return 0;
}

static int read_report(ctx_t *c, json_t *root, lwr_dump_t *d)
{
    json_t *ver, *totals, *sites, *procs, *warnings, *unchecked;
    if (!json_is_object(root))
        return lwr_read_fail(c, "expected an object");
    if (member(c, root, "", "leakwatch_report", JSON_INTEGER, true, false, &ver) != 0)
        return -1;
    if (json_integer_value(ver) != 1)
        return lwr_read_fail(c, "leakwatch_report: unsupported version %" JSON_INTEGER_FORMAT
                                " (this leakwatch reads 1)",
                    json_integer_value(ver));
    if (member(c, root, "", "totals", JSON_OBJECT, true, false, &totals)
        || member(c, root, "", "sites", JSON_ARRAY, true, false, &sites)
        || member(c, root, "", "processes", JSON_ARRAY, true, false, &procs)
        || member(c, root, "", "warnings", JSON_ARRAY, false, false, &warnings)
        || member(c, root, "", "unchecked", JSON_ARRAY, false, false, &unchecked))
        return -1;
    for (int k = 0; k < LWR_KIND_COUNT; k++) {
        /* reports saved before the mmap kind have no total for it: none leaked */
        if (k == LWR_MMAP && !json_object_get(totals, "mmap"))
            continue;
        if (read_total(c, totals, lwr_kind_name((lwr_kind_t)k), &d->totals[k]) != 0)
            return -1;
    }
    if (json_object_get(totals, "reachable") && read_total(c, totals, "reachable", &d->reachable) != 0)
        return -1;
    d->version = 1;
    d->saved_report = true;
    d->ppid = -1;
    d->uptime_ms = d->time_unix_ms = -1;
    if (!(d->sites = calloc(json_array_size(sites) + 1, sizeof *d->sites)))
        return lwr_read_fail(c, "out of memory");
    uint64_t *ids = calloc(json_array_size(sites) + 1, sizeof *ids);
    if (!ids)
        return lwr_read_fail(c, "out of memory");
    int bad = 0;
    for (size_t i = 0; i < json_array_size(sites) && !bad; i++)
        bad = read_site(c, json_array_get(sites, i), i, d, &ids[d->nsites]) != 0;
    bad = bad || resolve_ids(c, d, ids) != 0;
    free(ids);
    if (bad)
        return -1;
    lwr_dump_t **tail = &d->more;
    for (size_t i = 0; i < json_array_size(procs); i++) {
        lwr_dump_t *p = d;
        if (i > 0) {
            /* every other process is a dump of its own without sites, so that a report lists it */
            if (!(p = *tail = calloc(1, sizeof *p)) || !(p->file = strdup(c->name)))
                return lwr_read_fail(c, "out of memory");
            p->uptime_ms = p->time_unix_ms = -1;
            p->version = 1;
            tail = &p->more;
        }
        if (read_process(c, json_array_get(procs, i), i, p) != 0)
            return -1;
    }
    size_t nw = json_array_size(warnings);
    if (!(d->warnings = calloc(nw ? nw : 1, sizeof *d->warnings)))
        return lwr_read_fail(c, "out of memory");
    d->nwarnings = nw;
    for (size_t i = 0; i < nw; i++) {
        d->nread_warnings++;
        if (read_warning(c, json_array_get(warnings, i), i, &d->warnings[i]) != 0)
            return -1;
    }
    return unchecked ? read_unchecked(c, unchecked, d) : 0;
}

lwr_dump_t *lwr_saved_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    ctx_t c = { name, "saved report: ", err, errlen };
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        lwr_read_fail(&c, "line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    lwr_dump_t *d = calloc(1, sizeof *d);
    int rc = !d || !(d->file = strdup(name)) ? lwr_read_fail(&c, "out of memory") : read_report(&c, root, d);
    json_decref(root);
    if (rc != 0) {
        lwr_dump_free(d);
        return NULL;
    }
    return d;
}

static void free_known(lwr_known_frame_t *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) {
        free(k[i].function);
        free(k[i].file);
        free(k[i].module);
    }
    free(k);
}

void lwr_saved_free(lwr_dump_t *d)
{
    for (size_t i = 0; i < d->nsites; i++) {
        free_known(d->sites[i].known, d->sites[i].nframes);
        free(d->sites[i].pids);
    }
    for (size_t i = 0; i < d->nread_warnings; i++) {
        free_known(d->warnings[i].known, d->warnings[i].nframes);
        free_known(d->warnings[i].known_other, d->warnings[i].nother);
    }
    for (size_t i = 0; i < d->nunchecked; i++) {
        free(d->unchecked[i].executable);
        free(d->unchecked[i].reason);
    }
    free(d->unchecked);
    free(d->dump_name);
    lwr_dump_free(d->more);
}

void lwr_saved_symbol(const lwr_known_frame_t *k, lwr_symbol_t *out)
{
    out->function = k->function;
    out->file = k->file;
    out->line = k->line;
    out->column = k->column;
    out->module = k->module;
    out->offset = k->offset;
}

int lwr_saved_stack(lwr_stack_t *st, const lwr_dump_site_t *ds)
{
    if (ds->nframes > st->cap) {
        lwr_symbol_t *p = realloc(st->syms, ds->nframes * sizeof *p);
        if (p)
            st->syms = p;
        uint64_t *a = realloc(st->addrs, ds->nframes * sizeof *a);
        if (a)
            st->addrs = a;
        if (!p || !a)
            return -1;
        st->cap = ds->nframes;
    }
    for (size_t i = 0; i < ds->nframes; i++) {
        lwr_saved_symbol(&ds->known[i], &st->syms[i]);
        st->addrs[i] = ds->known[i].address;
    }
    st->n = ds->nframes;
    return 0;
}

int lwr_saved_add_unchecked(lwr_report_t *r, const lwr_dump_t *d)
{
    if (!d->has_unchecked)
        return 0;
    r->has_unchecked = true;
    if (d->nunchecked == 0)
        return 0;
    lwr_unchecked_t *v = realloc(r->unchecked, (r->nunchecked + d->nunchecked) * sizeof *v);
    if (!v)
        return -1;
    r->unchecked = v;
    for (size_t i = 0; i < d->nunchecked; i++) {
        int oom = 0;
        lwr_unchecked_t *u = &r->unchecked[r->nunchecked];
        u->pid = d->unchecked[i].pid;
        u->executable = lwr_dup_or_null(d->unchecked[i].executable, &oom);
        u->reason = lwr_dup_or_null(d->unchecked[i].reason, &oom);
        if (oom) {
            free(u->executable);
            free(u->reason);
            return -1;
        }
        r->nunchecked++;
    }
    return 0;
}

/* Matches call sites across a series of dumps by their symbolized frames, for diff, trend and triage. */
#include "series.h"

#include "escape.h"
#include "keybuf.h"
#include "map.h"
#include "progress.h"
#include "render_ci.h"

#include <dirent.h>
#include <errno.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- time order ---- */

static int one_pid(lwr_dump_t *const *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i]->pid != d[0]->pid)
            return 0;
    return 1;
}

static int cmp3(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_same_process(const void *a, const void *b)
{
    const lwr_dump_t *x = *(lwr_dump_t *const *)a, *y = *(lwr_dump_t *const *)b;
    if (x->uptime_ms >= 0 && y->uptime_ms >= 0 && x->uptime_ms != y->uptime_ms)
        return cmp3(x->uptime_ms, y->uptime_ms);
    return cmp3(x->seq, y->seq);
}

static int cmp_processes(const void *a, const void *b)
{
    const lwr_dump_t *x = *(lwr_dump_t *const *)a, *y = *(lwr_dump_t *const *)b;
    if (x->time_unix_ms >= 0 && y->time_unix_ms >= 0 && x->time_unix_ms != y->time_unix_ms)
        return cmp3(x->time_unix_ms, y->time_unix_ms);
    if (x->pid != y->pid)
        return cmp3(x->pid, y->pid);
    return cmp3(x->seq, y->seq);
}

void lwr_series_sort(lwr_dump_t **dumps, size_t n)
{
    if (n > 1)
        qsort(dumps, n, sizeof *dumps, one_pid(dumps, n) ? cmp_same_process : cmp_processes);
}

double lwr_series_time_s(const lwr_series_t *s, size_t i)
{
    const lwr_series_dump_t *d = s->dumps;
    if (s->one_process) {
        for (size_t j = 0; j < s->ndumps; j++)
            if (d[j].uptime_ms < 0)
                return (double)i;
        return (double)(d[i].uptime_ms - d[0].uptime_ms) / 1000.0;
    }
    for (size_t j = 0; j < s->ndumps; j++)
        if (d[j].time_unix_ms < 0)
            return (double)i;
    return (double)(d[i].time_unix_ms - d[0].time_unix_ms) / 1000.0;
}

/* ---- building ---- */

static void free_samples(lwr_gsite_t *g)
{
    for (size_t i = 0; i < g->nsamples; i++) {
        free(g->samples[i].handle);
        free(g->samples[i].detail);
    }
    g->nsamples = 0;
}

static int new_gsite(lwr_gsite_t *g, lwr_kind_t kind, const lwr_symbol_t *syms, const uint64_t *addrs, size_t n,
                     size_t ndumps)
{
    int oom = 0;
    memset(g, 0, sizeof *g);
    g->kind = kind;
    g->frames = calloc(n ? n : 1, sizeof *g->frames);
    g->points = calloc(ndumps ? ndumps : 1, sizeof *g->points);
    g->samples = calloc(LWR_MAX_SAMPLES, sizeof *g->samples);
    g->sample_ages = calloc(LWR_MAX_SAMPLES, sizeof *g->sample_ages);
    if (!g->frames || !g->points || !g->samples || !g->sample_ages)
        return -1;
    for (size_t i = 0; i < ndumps; i++)
        g->points[i].oldest_age_ms = g->points[i].median_age_ms = -1;
    g->nframes = n;
    for (size_t i = 0; i < n; i++)
        oom |= lwr_frame_set(&g->frames[i], addrs[i], &syms[i]) != 0;
    return oom ? -1 : 0;
}

/* Adds dump site ds of dump number di (of pid) into g. `fresh` says whether this is the first dump site of
 * dump di that maps to g: then the samples are replaced by this dump's (the newest dump's samples win). */
static int add_point(lwr_gsite_t *g, const lwr_dump_t *d, const lwr_dump_site_t *ds, size_t di, int fresh,
                     lwr_symbolizer_t *sym)
{
    lwr_point_t *p = &g->points[di];
    long pid = d->pid;
    int oom = 0;
    if (fresh || !g->held) {
        lwr_held_free(g->held);
        g->held = lwr_held_make(d, ds, sym);
    }
    if (fresh || ds->count > p->count)
        p->median_age_ms = ds->median_age_ms;
    lwr_count_add(&p->count, ds->count);
    lwr_count_add(&p->bytes, ds->bytes);
    if (ds->oldest_age_ms > p->oldest_age_ms)
        p->oldest_age_ms = ds->oldest_age_ms;
    g->cls = ds->cls;
    if (fresh)
        free_samples(g);
    for (size_t i = 0; i < ds->nsamples && g->nsamples < LWR_MAX_SAMPLES; i++) {
        lwr_report_sample_t *s = &g->samples[g->nsamples];
        s->pid = ds->samples[i].pid ? ds->samples[i].pid : pid;
        s->size = ds->samples[i].size;
        s->handle = lwr_dup_or_null(ds->samples[i].handle, &oom);
        s->detail = lwr_dup_or_null(ds->samples[i].detail, &oom);
        g->sample_ages[g->nsamples++] = ds->samples[i].age_ms;
    }
    return oom ? -1 : 0;
}

static int keep_dump(lwr_series_dump_t *m, const lwr_dump_t *d)
{
    int oom = 0;
    m->file = lwr_dup_or_null(d->file, &oom);
    m->exe = lwr_dup_or_null(d->exe, &oom);
    m->pid = d->pid;
    m->ppid = d->ppid;
    m->seq = d->seq;
    m->uptime_ms = d->uptime_ms;
    m->time_unix_ms = d->time_unix_ms;
    return oom ? -1 : 0;
}

lwr_series_t *lwr_series_build(lwr_dump_t *const *dumps, size_t n, lwr_symbolizer_t *sym)
{
    lwr_series_t *s = calloc(1, sizeof *s);
    lwr_map_t index = LWR_MAP_INIT;
    lwr_keybuf_t key = LWR_KEYBUF_INIT;
    lwr_stack_t st = LWR_STACK_INIT;
    size_t *last_dump = NULL;   /* per site: 1 + the index of the last dump that added to it */
    size_t capsites = 0;
    int oom = !s;
    if (s && !(s->dumps = calloc(n ? n : 1, sizeof *s->dumps)))
        oom = 1;
    if (s)
        s->one_process = one_pid(dumps, n);

    lwr_progress_begin("symbolizing dumps", n);
    for (size_t di = 0; di < n && !oom; di++) {
        const lwr_dump_t *d = dumps[di];
        lwr_progress_tick();
        if (keep_dump(&s->dumps[s->ndumps++], d) != 0)
            oom = 1;
        for (size_t si = 0; si < d->nsites && !oom; si++) {
            const lwr_dump_site_t *ds = &d->sites[si];
            if (ds->count == 0)
                continue;
            if (lwr_stack_symbolize(&st, d, ds, sym) != 0) {
                oom = 1;
                break;
            }
            lwr_site_identity(&key, ds->kind, st.syms, st.n);
            if (key.oom) {
                oom = 1;
                break;
            }
            size_t idx = lwr_map_get(&index, key.p, key.len);
            if (idx == (size_t)-1) {
                if (s->nsites == capsites) {
                    size_t cap = capsites ? capsites * 2 : 64;
                    lwr_gsite_t *p = realloc(s->sites, cap * sizeof *p);
                    if (p)
                        s->sites = p;
                    size_t *l = realloc(last_dump, cap * sizeof *l);
                    if (l)
                        last_dump = l;
                    if (!p || !l) {
                        oom = 1;
                        break;
                    }
                    capsites = cap;
                }
                idx = s->nsites++;
                last_dump[idx] = 0;
                if (new_gsite(&s->sites[idx], ds->kind, st.syms, st.addrs, st.n, n) != 0
                    || lwr_map_put(&index, key.p, key.len, idx) != 0) {
                    oom = 1;
                    break;
                }
            }
            int fresh = last_dump[idx] != di + 1;
            last_dump[idx] = di + 1;
            if (add_point(&s->sites[idx], d, ds, di, fresh, sym) != 0)
                oom = 1;
        }
    }
    lwr_progress_end();
    lwr_stack_free(&st);
    free(last_dump);
    free(key.p);
    lwr_map_clear(&index);
    if (oom) {
        lwr_series_free(s);
        return NULL;
    }
    return s;
}

void lwr_series_free(lwr_series_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nsites; i++) {
        lwr_gsite_t *g = &s->sites[i];
        for (size_t j = 0; j < g->nframes; j++) {
            free(g->frames[j].function);
            free(g->frames[j].file);
            free(g->frames[j].module);
        }
        free(g->frames);
        free(g->points);
        if (g->samples)
            free_samples(g);
        free(g->samples);
        free(g->sample_ages);
        lwr_held_free(g->held);
    }
    free(s->sites);
    for (size_t i = 0; i < s->ndumps; i++) {
        free(s->dumps[i].file);
        free(s->dumps[i].exe);
    }
    free(s->dumps);
    free(s);
}

/* ---- durations ---- */

int lwr_parse_duration(const char *text, int64_t *ms)
{
    if (!text || text[0] < '0' || text[0] > '9')
        return -1;
    uint64_t v = 0;
    const char *p = text;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > (1ull << 53))
            return -1;
        p++;
    }
    uint64_t mult;
    if (strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else
        return -1;
    if (v > (1ull << 53) / mult)
        return -1;
    *ms = (int64_t)(v * mult);
    return 0;
}

void lwr_format_age(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 1000)
        snprintf(buf, len, "%" PRId64 "ms", ms);
    else if (ms < 60 * 1000)
        snprintf(buf, len, "%" PRId64 ".%" PRId64 "s", ms / 1000, (ms % 1000) / 100);
    else if (ms < 3600 * 1000)
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", ms / 60000, (ms / 1000) % 60);
    else if (ms < 86400 * 1000ll)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, (ms / 60000) % 60);
    else
        snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", ms / 86400000, (ms / 3600000) % 24);
}

/* ---- frames ---- */

const lwr_frame_t *lwr_naming_frame(const lwr_gsite_t *g)
{
    const lwr_frame_t *f = lwr_program_frame(g->frames, g->nframes);
    return f ? f : g->nframes ? &g->frames[0] : NULL;
}

json_t *lwr_frame_json(const lwr_frame_t *f)
{
    char addr[24], off[24];
    snprintf(addr, sizeof addr, "0x%" PRIx64, f->address);
    snprintf(off, sizeof off, "0x%" PRIx64, f->offset);
    /* Names that are not UTF-8 (a path of the process) get \xHH for those bytes: jansson takes UTF-8 only. */
    return json_pack("{s:o, s:o, s:I, s:I, s:o, s:s, s:s}", "function", lwr_json_name(f->function), "file",
                     lwr_json_name(f->file), "line", (json_int_t)f->line, "column", (json_int_t)f->column, "module",
                     lwr_json_name(f->module), "address", addr, "offset", off);
}

json_t *lwr_gsite_json(const lwr_gsite_t *g)
{
    json_t *o = json_object(), *frames = json_array(), *samples = json_array();
    int bad = !o || !frames || !samples;
    for (size_t i = 0; i < g->nframes && !bad; i++)
        if (json_array_append_new(frames, lwr_frame_json(&g->frames[i])) != 0)
            bad = 1;
    for (size_t i = 0; i < g->nsamples && !bad; i++) {
        const lwr_report_sample_t *sm = &g->samples[i];
        json_t *so = json_pack("{s:I, s:o, s:I}", "pid", (json_int_t)sm->pid, "handle",
                               lwr_json_name(sm->handle ? sm->handle : ""), "size", (json_int_t)sm->size);
        if (so && g->sample_ages[i] >= 0 && json_object_set_new(so, "age_ms", json_integer(g->sample_ages[i])))
            bad = 1;
        if (so && sm->detail && json_object_set_new(so, "detail", lwr_json_name(sm->detail)))
            bad = 1;
        if (json_array_append_new(samples, so) != 0)
            bad = 1;
    }
    if (!bad && (json_object_set_new(o, "kind", json_string(lwr_kind_name(g->kind)))
                 || (lwr_class_name(g->cls) && json_object_set_new(o, "class", json_string(lwr_class_name(g->cls))))
                 || json_object_set(o, "frames", frames) || json_object_set(o, "samples", samples)))
        bad = 1;
    if (!bad && g->held && json_object_set_new(o, "held_by", lwr_held_json(g->held)))
        bad = 1;
    json_decref(frames);
    json_decref(samples);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

size_t lwr_dump_keep_older(lwr_dump_t *d, int64_t min_ms)
{
    size_t ageless = 0;
    memset(d->totals, 0, sizeof d->totals);
    memset(&d->reachable, 0, sizeof d->reachable);
    for (size_t i = 0; i < d->nsites; i++) {
        lwr_dump_site_t *s = &d->sites[i];
        if (s->count == 0)
            continue;
        if (s->oldest_age_ms < min_ms) {
            ageless += s->oldest_age_ms < 0;
            s->count = s->bytes = 0;
            continue;
        }
        size_t o = 0;
        for (size_t j = 0; j < s->nsamples; j++) {
            lwr_sample_t *sm = &s->samples[j];
            if (sm->age_ms >= 0 && sm->age_ms < min_ms) {
                free(sm->handle);
                free(sm->detail);
            } else {
                s->samples[o++] = *sm;
            }
        }
        s->nsamples = o;
        lwr_total_t *t = s->cls == LWR_CLASS_REACHABLE ? &d->reachable : &d->totals[s->kind];
        lwr_total_add(t, s->count, s->bytes);
    }
    return ageless;
}

int lwr_series_add_dir(const char *dir, lwr_dumplist_t *list)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "leakwatch: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int failed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char path[4096], err[512];
        if (lwr_is_user_dir(dirfd(d), e->d_name)) {
            /* the dumps of workers that changed user (nginx's nobody) are in uid-<N> */
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            failed |= lwr_series_add_dir(path, list) != 0;
            continue;
        }
        if (strncmp(e->d_name, "leakwatch.", 10) != 0 || len < 15 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        lwr_dump_t *dump = lwr_dump_load(path, err, sizeof err);
        lwr_progress_tick();
        if (!dump) {
            lwr_progress_clear();
            fprintf(stderr, "leakwatch: %s\n", err);
            failed = 1;
        } else if (lwr_dumplist_add(list, dump) != 0) {
            failed = 1;
        }
    }
    closedir(d);
    return failed;
}

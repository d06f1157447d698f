/* Builds the report model from dumps: symbolizes every site, merges equal sites across processes, sorts. */
#include "aggregate.h"

#include "keybuf.h"
#include "map.h"
#include "progress.h"
#include "saved.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The site's identity (lwr_site_identity, shared with diff, trend and triage), then its class: sites of different
 * classes are never merged. */
static void site_key(lwr_keybuf_t *b, lwr_kind_t kind, lwr_class_t cls, const lwr_symbol_t *syms, size_t n)
{
    unsigned char c = (unsigned char)cls;
    lwr_site_identity(b, kind, syms, n);
    lwr_keybuf_put(b, &c, 1);
}

char *lwr_dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

int lwr_frame_set(lwr_frame_t *f, uint64_t address, const lwr_symbol_t *s)
{
    int oom = 0;
    f->address = address;
    f->function = lwr_dup_or_null(s->function, &oom);
    f->file = lwr_dup_or_null(s->file, &oom);
    f->module = lwr_dup_or_null(s->module, &oom);
    f->line = s->line;
    f->column = s->column;
    f->offset = s->offset;
    return oom ? -1 : 0;
}

int lwr_stack_symbolize(lwr_stack_t *st, const lwr_dump_t *d, const lwr_dump_site_t *ds, lwr_symbolizer_t *sym)
{
    if (ds->known)
        return lwr_saved_stack(st, ds);     /* a saved report's frames are symbolized already */
    st->n = 0;
    for (size_t f = 0; f < ds->nframes; f++) {
        if (st->n + LWR_MAX_INLINE_FRAMES > st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 64;
            while (cap < st->n + LWR_MAX_INLINE_FRAMES)
                cap *= 2;
            lwr_symbol_t *p = realloc(st->syms, cap * sizeof *p);
            if (p)
                st->syms = p;
            uint64_t *a = realloc(st->addrs, cap * sizeof *a);
            if (a)
                st->addrs = a;
            if (!p || !a)
                return -1;
            st->cap = cap;
        }
        size_t got = 1;
        if (sym) {
            got = lwr_symbolize_all(sym, d, ds->frames[f], &st->syms[st->n], LWR_MAX_INLINE_FRAMES);
        } else {
            const lwr_module_t *m = lwr_dump_module_of(d, ds->frames[f]);
            memset(&st->syms[st->n], 0, sizeof st->syms[st->n]);
            st->syms[st->n].module = m ? m->path : NULL;
            st->syms[st->n].offset = m ? ds->frames[f] - m->bias : ds->frames[f];
        }
        for (size_t g = 0; g < got; g++)
            st->addrs[st->n + g] = ds->frames[f];
        st->n += got;
        if (sym && f == 1 && st->n == got + 1)
            lwr_symbolize_entry(sym, d, &st->syms[0], ds->frames[1]);
    }
    return 0;
}

void lwr_stack_free(lwr_stack_t *st)
{
    free(st->syms);
    free(st->addrs);
    *st = (lwr_stack_t)LWR_STACK_INIT;
}

static void free_site(lwr_site_t *s)
{
    for (size_t i = 0; i < s->nframes; i++) {
        free(s->frames[i].function);
        free(s->frames[i].file);
        free(s->frames[i].module);
    }
    free(s->frames);
    for (size_t i = 0; i < s->nsamples; i++) {
        free(s->samples[i].handle);
        free(s->samples[i].detail);
    }
    free(s->samples);
    free(s->pids);
    free(s->indirect_ids);
    lwr_held_free(s->held);
}

static int new_site(lwr_site_t *site, const lwr_dump_site_t *ds, const lwr_symbol_t *syms, const uint64_t *addrs,
                    size_t n)
{
    int oom = 0;
    memset(site, 0, sizeof *site);
    site->kind = ds->kind;
    site->cls = ds->cls;
    site->oldest_age_ms = site->median_age_ms = -1;
    site->frames = calloc(n ? n : 1, sizeof *site->frames);
    site->samples = calloc(LWR_MAX_SAMPLES, sizeof *site->samples);
    if (!site->frames || !site->samples)
        return -1;
    site->nframes = n;
    for (size_t i = 0; i < n; i++)
        oom |= lwr_frame_set(&site->frames[i], addrs[i], &syms[i]) != 0;
    return oom ? -1 : 0;
}

static int add_pid(lwr_site_t *site, long pid)
{
    size_t i = 0;
    while (i < site->npids && site->pids[i] < pid)
        i++;
    if (i < site->npids && site->pids[i] == pid)
        return 0;
    long *p = realloc(site->pids, (site->npids + 1) * sizeof *p);
    if (!p)
        return -1;
    site->pids = p;
    memmove(p + i + 1, p + i, (site->npids - i) * sizeof *p);
    p[i] = pid;
    site->npids++;
    return 0;
}

/* A thread is named by its start routine's function and line, not its address ("start=thread_main (t.c:12)
 * running"). The address is the routine's entry, not a return address, so it is looked up one byte in (the
 * symbolizer reads the line of `address - 1`). Returns a new string, or NULL to keep the dump's sentence. */
static char *thread_detail(const lwr_sample_t *smp, const lwr_dump_t *d, lwr_symbolizer_t *sym)
{
    if (!smp->thread_start || !sym)
        return NULL;
    lwr_symbol_t s;
    lwr_symbolize(sym, d, smp->thread_start + 1, &s);
    if (!s.function)
        return NULL;
    const char *file = s.file ? strrchr(s.file, '/') : NULL;
    file = file ? file + 1 : s.file;
    char line[32] = "";
    if (file && s.line)
        snprintf(line, sizeof line, ":%u", s.line);
    const char *state = smp->thread_state ? smp->thread_state : "";
    size_t n = strlen(s.function) + (file ? strlen(file) : 0) + strlen(line) + strlen(state) + 16;
    char *out = malloc(n);
    if (!out)
        return NULL;
    snprintf(out, n, "start=%s%s%s%s%s%s%s", s.function, file ? " (" : "", file ? file : "", line, file ? ")" : "",
             state[0] ? " " : "", state);
    return out;
}

static int merge_into(lwr_site_t *site, const lwr_dump_site_t *ds, long pid, const lwr_dump_t *d,
                      lwr_symbolizer_t *sym)
{
    int oom = 0;
    lwr_count_add(&site->count, ds->count);
    lwr_count_add(&site->bytes, ds->bytes);
    if (ds->oldest_age_ms > site->oldest_age_ms)
        site->oldest_age_ms = ds->oldest_age_ms;
    /* Medians of several dumps do not combine; the one of the dump with most handles stands for the site. */
    if (ds->median_age_ms >= 0 && (site->median_age_ms < 0 || ds->count > site->median_count)) {
        site->median_age_ms = ds->median_age_ms;
        site->median_count = ds->count;
    }
    for (size_t i = 0; i < ds->nsamples && site->nsamples < LWR_MAX_SAMPLES; i++) {
        lwr_report_sample_t *s = &site->samples[site->nsamples++];
        s->pid = ds->samples[i].pid ? ds->samples[i].pid : pid;
        s->size = ds->samples[i].size;
        s->handle = lwr_dup_or_null(ds->samples[i].handle, &oom);
        s->detail = ds->kind == LWR_THREAD ? thread_detail(&ds->samples[i], d, sym) : NULL;
        if (!s->detail)
            s->detail = lwr_dup_or_null(ds->samples[i].detail, &oom);
    }
    if (add_pid(site, pid) != 0)
        oom = 1;
    for (size_t i = 0; i < ds->npids; i++)   /* a saved report's site names its processes */
        oom |= add_pid(site, ds->pids[i]) != 0;
    return oom ? -1 : 0;
}

static int add_id(uint64_t **v, size_t *n, uint64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i] == id)
            return 0;
    uint64_t *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return -1;
    p[(*n)++] = id;
    *v = p;
    return 0;
}

/* The grouping of one dump's lost blocks and the holders of its reachable sites, carried over to the report's
 * sites: at[i] is the report site of dump site i (SIZE_MAX for none); ids are build indexes + 1 until sorted. */
static int merge_grouping(lwr_report_t *r, const lwr_dump_t *d, const size_t *at, lwr_symbolizer_t *sym)
{
    for (size_t i = 0; i < d->nsites; i++) {
        const lwr_dump_site_t *ds = &d->sites[i];
        if (at[i] == SIZE_MAX)
            continue;
        lwr_site_t *site = &r->sites[at[i]];
        if (ds->attributed) {
            site->attributed = true;
            site->cycle |= ds->cycle;
            lwr_count_add(&site->indirect_count, ds->indirect_count);
            lwr_count_add(&site->indirect_bytes, ds->indirect_bytes);
            lwr_count_add(&site->direct_count, ds->cycle ? ds->direct_count : ds->count);
            lwr_count_add(&site->direct_bytes, ds->cycle ? ds->direct_bytes : ds->bytes);
            for (size_t k = 0; k < ds->nindirect_sites; k++)
                if (at[ds->indirect_sites[k]] != SIZE_MAX &&
                    add_id(&site->indirect_ids, &site->nindirect, at[ds->indirect_sites[k]] + 1) != 0)
                    return -1;
        }
        if (ds->root_site != SIZE_MAX && !site->root_id && at[ds->root_site] != SIZE_MAX)
            site->root_id = at[ds->root_site] + 1;
        if (ds->held_by && !site->held)
            site->held = lwr_held_make(d, ds, sym);
    }
    return 0;
}

uint64_t lwr_report_sampling(const lwr_report_t *r)
{
    for (size_t i = 0; i < r->nprocesses; i++)
        if (r->processes[i].sample_bytes)
            return r->processes[i].sample_bytes;
    return 0;
}

static int add_process(lwr_process_t *p, const lwr_dump_t *d)
{
    int oom = 0;
    const char *slash = strrchr(d->file, '/');
    p->pid = d->pid;
    p->ppid = d->ppid;
    p->has_exit_status = d->has_exit_status;
    p->exit_status = d->exit_status;
    p->dropped = d->dropped;
    p->lost_records = d->lost_records;
    p->lost_sites = d->lost_sites;
    p->lost_warnings = d->lost_warnings;
    p->sample_bytes = d->sample_bytes;
    p->executable = lwr_dup_or_null(d->exe, &oom);
    p->reason = lwr_dup_or_null(d->reason, &oom);
    p->dump = lwr_dup_or_null(d->saved_report ? d->dump_name : slash ? slash + 1 : d->file, &oom);
    p->arguments = calloc(d->argc + 1, sizeof *p->arguments);
    if (!p->arguments)
        return -1;
    p->nargs = d->argc;
    for (size_t i = 0; i < d->argc; i++)
        p->arguments[i] = lwr_dup_or_null(d->argv[i], &oom);
    return oom ? -1 : 0;
}

/* Symbolizes n addresses of dump d into frames (allocated; *out NULL when n is 0); `known` (a saved report's
 * frames) instead when not NULL. Returns 0 or -1. */
static int symbolize_frames(const lwr_dump_t *d, const uint64_t *addr, size_t n, const lwr_known_frame_t *known,
                            lwr_symbolizer_t *sym, lwr_frame_t **out)
{
    int oom = 0;
    *out = n ? calloc(n, sizeof **out) : NULL;
    if (n && !*out)
        return -1;
    for (size_t i = 0; i < n; i++) {
        lwr_symbol_t s;
        if (known) {
            lwr_saved_symbol(&known[i], &s);
        } else if (sym) {
            lwr_symbolize(sym, d, addr[i], &s);
        } else {
            const lwr_module_t *m = lwr_dump_module_of(d, addr[i]);
            memset(&s, 0, sizeof s);
            s.module = m ? m->path : NULL;
            s.offset = m ? addr[i] - m->bias : addr[i];
        }
        oom |= lwr_frame_set(&(*out)[i], addr[i], &s) != 0;
    }
    return oom ? -1 : 0;
}

static int add_warnings(lwr_report_t *r, const lwr_dump_t *d, lwr_symbolizer_t *sym)
{
    if (d->nread_warnings == 0)
        return 0;
    lwr_warning_t *v = realloc(r->warnings, (r->nwarnings + d->nread_warnings) * sizeof *v);
    if (!v)
        return -1;
    r->warnings = v;
    for (size_t i = 0; i < d->nread_warnings; i++) {
        const lwr_dump_warning_t *dw = &d->warnings[i];
        lwr_warning_t *w = &r->warnings[r->nwarnings++];
        int oom = 0;
        memset(w, 0, sizeof *w);
        w->pid = dw->pid ? dw->pid : d->pid;
        w->count = dw->count;
        w->type = lwr_dup_or_null(dw->type, &oom);
        w->handle = lwr_dup_or_null(dw->handle, &oom);
        w->message = lwr_dup_or_null(dw->message, &oom);
        if (oom || symbolize_frames(d, dw->frames, dw->nframes, dw->known, sym, &w->frames) != 0)
            return -1;
        w->nframes = dw->nframes;
        if (symbolize_frames(d, dw->other_frames, dw->nother, dw->known_other, sym, &w->other_frames) != 0)
            return -1;
        w->nother = dw->nother;
    }
    return 0;
}

static void free_frames(lwr_frame_t *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].function);
        free(f[i].file);
        free(f[i].module);
    }
    free(f);
}

static int cmp_process(const void *a, const void *b)
{
    const lwr_process_t *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

lwr_report_t *lwr_report_build(lwr_dump_t *const *dumps, size_t n, lwr_symbolizer_t *sym)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    lwr_map_t index = LWR_MAP_INIT;
    lwr_keybuf_t key = LWR_KEYBUF_INIT;
    lwr_stack_t st = LWR_STACK_INIT;
    size_t capsites = 0;
    int oom = !r;
    size_t nprocs = n;
    for (size_t di = 0; di < n; di++)
        for (const lwr_dump_t *m = dumps[di]->more; m; m = m->more)
            nprocs++;   /* the other processes of a saved report */
    if (r && !(r->processes = calloc(nprocs ? nprocs : 1, sizeof *r->processes)))
        oom = 1;

    lwr_progress_begin("symbolizing dumps", n);
    for (size_t di = 0; di < n && !oom; di++) {
        const lwr_dump_t *d = dumps[di];
        lwr_progress_tick();
        if (add_process(&r->processes[r->nprocesses++], d) != 0)
            oom = 1;
        for (const lwr_dump_t *m = d->more; m && !oom; m = m->more)
            oom = add_process(&r->processes[r->nprocesses++], m) != 0;
        if (lwr_saved_add_unchecked(r, d) != 0)
            oom = 1;
        for (int k = 0; k < LWR_KIND_COUNT; k++)
            lwr_total_add(&r->totals[k], d->totals[k].count, d->totals[k].bytes);
        if (add_warnings(r, d, sym) != 0)
            oom = 1;
        lwr_total_add(&r->reachable, d->reachable.count, d->reachable.bytes);
        size_t *at = malloc((d->nsites + 1) * sizeof *at);
        if (!at)
            oom = 1;
        for (size_t si = 0; si < d->nsites && !oom; si++) {
            const lwr_dump_site_t *ds = &d->sites[si];
            at[si] = SIZE_MAX;
            if (ds->count == 0)
                continue;   /* nothing is held there: not a site of the report */
            if (lwr_stack_symbolize(&st, d, ds, sym) != 0) {
                oom = 1;
                break;
            }
            site_key(&key, ds->kind, ds->cls, st.syms, st.n);
            if (key.oom) {
                oom = 1;
                break;
            }
            size_t idx = lwr_map_get(&index, key.p, key.len);
            if (idx == (size_t)-1) {
                if (r->nsites == capsites) {
                    size_t cap = capsites ? capsites * 2 : 64;
                    lwr_site_t *p = realloc(r->sites, cap * sizeof *p);
                    if (!p) {
                        oom = 1;
                        break;
                    }
                    r->sites = p;
                    capsites = cap;
                }
                idx = r->nsites++;
                if (new_site(&r->sites[idx], ds, st.syms, st.addrs, st.n) != 0 || lwr_map_put(&index, key.p, key.len, idx) != 0) {
                    oom = 1;
                    break;
                }
                r->sites[idx].id = idx + 1;
            }
            if (merge_into(&r->sites[idx], ds, d->pid, d, sym) != 0)
                oom = 1;
            at[si] = idx;
        }
        if (!oom && merge_grouping(r, d, at, sym) != 0)
            oom = 1;
        free(at);
    }
    lwr_progress_end();
    lwr_stack_free(&st);
    free(key.p);
    lwr_map_clear(&index);
    if (oom) {
        lwr_report_free(r);
        return NULL;
    }
    qsort(r->processes, r->nprocesses, sizeof *r->processes, cmp_process);
    lwr_report_sort(r);
    return r;
}

lwr_total_t lwr_site_group_total(const lwr_site_t *s)
{
    lwr_total_t t = { s->count, s->bytes };
    if (s->attributed) {
        t = (lwr_total_t){ s->direct_count, s->direct_bytes };
        lwr_total_add(&t, s->indirect_count, s->indirect_bytes);
    }
    return t;
}

bool lwr_site_is_indirect(const lwr_site_t *s)
{
    return s->kind == LWR_HEAP && s->cls == LWR_CLASS_INDIRECT && !s->cycle;
}

static int rank(const lwr_site_t *s)
{
    return s->cls == LWR_CLASS_REACHABLE ? 2 : lwr_site_is_indirect(s) ? 1 : 0;
}

/* Sites are built in input order; a stable sort (merge sort) keeps equal sites in that order, so the output is
 * deterministic. */
static int site_before(const lwr_site_t *a, const lwr_site_t *b)
{
    if (rank(a) != rank(b))
        return rank(a) < rank(b); /* leaks first, their indirect blocks next, reachable blocks last */
    lwr_total_t x = lwr_site_group_total(a), y = lwr_site_group_total(b);
    if (x.bytes != y.bytes)
        return x.bytes > y.bytes;
    return x.count > y.count;
}

/* After a sort: each site's id becomes its place, and the ids the sites hold follow. */
static void renumber(lwr_report_t *r)
{
    uint64_t top = 0;
    for (size_t i = 0; i < r->nsites; i++)
        top = r->sites[i].id > top ? r->sites[i].id : top;
    uint64_t *to = calloc(top + 1, sizeof *to);
    if (!to)
        return; /* the old ids stay: still unique, and every reference still holds */
    for (size_t i = 0; i < r->nsites; i++)
        to[r->sites[i].id] = i + 1;
    for (size_t i = 0; i < r->nsites; i++) {
        lwr_site_t *s = &r->sites[i];
        s->id = i + 1;
        s->root_id = s->root_id <= top ? to[s->root_id] : 0;
        size_t k = 0;
        for (size_t j = 0; j < s->nindirect; j++)
            if (s->indirect_ids[j] <= top && to[s->indirect_ids[j]])
                s->indirect_ids[k++] = to[s->indirect_ids[j]];
        s->nindirect = k;
    }
    free(to);
}

const lwr_site_t *lwr_report_site_by_id(const lwr_report_t *r, uint64_t id)
{
    /* ids are places once sorted; after a removal, the site is at or before its place */
    for (size_t i = id <= r->nsites ? id : r->nsites; id && i-- > 0;)
        if (r->sites[i].id == id)
            return &r->sites[i];
    return NULL;
}

static void merge_sort(lwr_site_t *v, lwr_site_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(v, tmp, h);
    merge_sort(v + h, tmp, n - h);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        tmp[o++] = site_before(&v[j], &v[i]) ? v[j++] : v[i++];
    while (i < h)
        tmp[o++] = v[i++];
    while (j < n)
        tmp[o++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static void sort_sites(lwr_report_t *r)
{
    if (r->nsites < 2)
        return;
    lwr_site_t *tmp = malloc(r->nsites * sizeof *tmp);
    if (!tmp) {
        /* Out of memory: fall back to an in-place insertion sort, also stable. */
        for (size_t i = 1; i < r->nsites; i++) {
            lwr_site_t x = r->sites[i];
            size_t j = i;
            while (j > 0 && site_before(&x, &r->sites[j - 1])) {
                r->sites[j] = r->sites[j - 1];
                j--;
            }
            r->sites[j] = x;
        }
        return;
    }
    merge_sort(r->sites, tmp, r->nsites);
    free(tmp);
}

void lwr_report_sort(lwr_report_t *r)
{
    sort_sites(r);
    renumber(r);
}

uint64_t lwr_report_count(const lwr_report_t *r, lwr_kindset_t kinds)
{
    uint64_t n = 0;
    for (int k = 0; k < LWR_KIND_COUNT; k++)
        if (kinds & (1u << k))
            lwr_count_add(&n, r->totals[k].count);
    return n;
}

size_t lwr_report_leak_sites(const lwr_report_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nsites; i++)
        n += r->sites[i].cls != LWR_CLASS_REACHABLE;
    return n;
}

/* An indirect site leaves the groups that listed it, and its blocks its root's indirect total (all of them: the
 * dumps do not say how its blocks split when several roots hold some). */
static void leave_groups(lwr_report_t *r, const lwr_site_t *gone)
{
    for (size_t i = 0; i < r->nsites; i++) {
        lwr_site_t *s = &r->sites[i];
        size_t k = 0;
        for (size_t j = 0; j < s->nindirect; j++)
            if (s->indirect_ids[j] != gone->id)
                s->indirect_ids[k++] = s->indirect_ids[j];
        s->nindirect = k;
        if (s->id == gone->root_id) {
            s->indirect_count -= gone->count < s->indirect_count ? gone->count : s->indirect_count;
            s->indirect_bytes -= gone->bytes < s->indirect_bytes ? gone->bytes : s->indirect_bytes;
        }
    }
}

void lwr_report_remove_site(lwr_report_t *r, size_t i)
{
    if (i >= r->nsites)
        return;
    if (lwr_site_is_indirect(&r->sites[i]))
        leave_groups(r, &r->sites[i]);
    free_site(&r->sites[i]);
    memmove(&r->sites[i], &r->sites[i + 1], (r->nsites - i - 1) * sizeof *r->sites);
    r->nsites--;
}

static void free_warning(lwr_warning_t *w)
{
    free(w->type);
    free(w->handle);
    free(w->message);
    free_frames(w->frames, w->nframes);
    free_frames(w->other_frames, w->nother);
}

void lwr_report_remove_warning(lwr_report_t *r, size_t i)
{
    if (i >= r->nwarnings)
        return;
    free_warning(&r->warnings[i]);
    memmove(&r->warnings[i], &r->warnings[i + 1], (r->nwarnings - i - 1) * sizeof *r->warnings);
    r->nwarnings--;
}

void lwr_report_free(lwr_report_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsites; i++)
        free_site(&r->sites[i]);
    free(r->sites);
    for (size_t i = 0; i < r->nsupps; i++) {
        free(r->supps[i].pattern);
        free(r->supps[i].file);
    }
    free(r->supps);
    for (size_t i = 0; i < r->nprocesses; i++) {
        lwr_process_t *p = &r->processes[i];
        for (size_t j = 0; j < p->nargs; j++)
            free(p->arguments[j]);
        free(p->arguments);
        free(p->executable);
        free(p->reason);
        free(p->dump);
    }
    free(r->processes);
    for (size_t i = 0; i < r->nunchecked; i++) {
        free(r->unchecked[i].executable);
        free(r->unchecked[i].reason);
    }
    free(r->unchecked);
    for (size_t i = 0; i < r->nwarnings; i++)
        free_warning(&r->warnings[i]);
    free(r->warnings);
    free(r);
}

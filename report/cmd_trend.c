/* `leakwatch trend`: ranks call sites by steady growth over a series of dumps of one program. */
#include "cli.h"
#include "escape.h"
#include "render.h"
#include "series.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: leakwatch trend [--format text|json] [--top N] [--output FILE] [--include-exit] [--debug-dir DIR]...\n"
    "                       [--sysroot DIR] DUMP...\n"
    "\n"
    "Ranks the call sites of a series of dumps (at least two, e.g. LEAKWATCH_DUMP_INTERVAL dumps of a service)\n"
    "by steady growth, so that a cache that only grows stands out from a pool that goes up and down. The dumps\n"
    "are put in time order (uptime_ms, then seq; wall-clock time for dumps of several processes), whatever the\n"
    "order of the arguments. A directory argument contributes every dump file in it.\n"
    "\n"
    "For each site: the least-squares slope of bytes and of count over time (per second), the fraction of\n"
    "intervals between consecutive dumps in which it grew (bytes, or count when bytes are equal) and in which\n"
    "it shrank, and a score: slope * max(0, grew - shrank). Sites with a positive score come first, by the bytes\n"
    "score, then the count score; a site that shrinks as often as it grows scores 0, whatever its size.\n"
    "\n"
    "The series is what the program held while it ran: the exit dump of a process that also has dumps taken\n"
    "while it ran (reason signal, interval or program) is left out, since it is written after the program's\n"
    "teardown freed what it frees (a service that empties its caches at exit would look as if it stopped\n"
    "growing); a note on stderr says how many were. exec dumps (warnings only, no sites) are always left out.\n"
    "\n"
    "  --format text|json   text for people (the default) or JSON (`leakwatch_trend: 1`)\n"
    "  --top N              text: show the N best-ranked growing sites with their stacks (default 10, 0 for all)\n"
    "  --output FILE        write to FILE instead of standard output\n"
    "  --include-exit       keep the exit dumps in the series\n"
    LWR_SYM_OPTS_USAGE
    "\n"
    "Exit status: 0; 1 when a dump could not be read or the output could not be written; 2 on a usage error\n"
    "(fewer than two dumps to rank).\n";

/* Whether the dump's reason is `reason` ("exit": the final dump; "exec": written as the image was replaced). */
static bool is_reason(const lwr_dump_t *d, const char *reason)
{
    return d->reason && strcmp(d->reason, reason) == 0;
}

size_t lwr_trend_select(lwr_dump_t **dumps, size_t *n, bool include_exit, size_t *exec_out)
{
    size_t kept = 0, exits = 0, execs = 0;
    bool *drop = calloc(*n ? *n : 1, sizeof *drop);
    if (exec_out)
        *exec_out = 0;
    if (!drop)
        return 0;
    /* decided on the whole list before any dump is freed: a process's running dump may come after its exit dump */
    for (size_t i = 0; i < *n; i++) {
        drop[i] = is_reason(dumps[i], "exec");
        if (!drop[i] && !include_exit && is_reason(dumps[i], "exit"))
            for (size_t j = 0; j < *n && !drop[i]; j++)
                drop[i] = dumps[j]->pid == dumps[i]->pid && !is_reason(dumps[j], "exit")
                          && !is_reason(dumps[j], "exec");
    }
    for (size_t i = 0; i < *n; i++) {
        if (drop[i]) {
            execs += is_reason(dumps[i], "exec");
            exits += is_reason(dumps[i], "exit");
            lwr_dump_free(dumps[i]);
        } else {
            dumps[kept++] = dumps[i];
        }
    }
    free(drop);
    *n = kept;
    if (exec_out)
        *exec_out = execs;
    return exits;
}

static double slope(const double *x, const double *y, size_t n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    return sxx > 0 ? sxy / sxx : 0;
}

static int cmp_desc(double a, double b)
{
    return a > b ? -1 : a < b;
}

static const lwr_series_t *rank_series;

static int cmp_trend(const void *pa, const void *pb)
{
    const lwr_trend_t *a = pa, *b = pb;
    int pos_a = a->score_bytes > 0 || a->score_count > 0, pos_b = b->score_bytes > 0 || b->score_count > 0;
    if (pos_a != pos_b)
        return pos_b - pos_a;
    int c = 0;
    if (pos_a && !(c = cmp_desc(a->score_bytes, b->score_bytes)))
        c = cmp_desc(a->score_count, b->score_count);
    if (!c)
        c = cmp_desc(a->grew, b->grew);
    size_t last = rank_series->ndumps - 1;
    const lwr_point_t *x = &rank_series->sites[a->site].points[last], *y = &rank_series->sites[b->site].points[last];
    if (!c)
        c = cmp_desc((double)x->bytes, (double)y->bytes);
    if (!c)
        c = cmp_desc((double)x->count, (double)y->count);
    return c ? c : (a->site < b->site ? -1 : a->site > b->site);
}

/* Room for the per-process computation over n dumps: times, bytes, counts and the dumps' indices. */
typedef struct {
    double *x, *yb, *yc;
    size_t *idx;
} scratch_t;

static int scratch_new(scratch_t *w, size_t n)
{
    size_t m = n ? n : 1;
    w->x = malloc(m * sizeof *w->x);
    w->yb = malloc(m * sizeof *w->yb);
    w->yc = malloc(m * sizeof *w->yc);
    w->idx = malloc(m * sizeof *w->idx);
    return w->x && w->yb && w->yc && w->idx ? 0 : -1;
}

static void scratch_free(scratch_t *w)
{
    free(w->x);
    free(w->yb);
    free(w->yc);
    free(w->idx);
}

/* One process's part of a site's trend: its dumps in the series' order are idx[0..n). */
typedef struct {
    double slope_bytes, slope_count;
    size_t up, down, intervals;
} proc_trend_t;

/* The indices of the dumps of the process of dump `first` (in order) into idx; returns how many. */
static size_t dumps_of(const lwr_series_t *s, size_t first, size_t *idx)
{
    size_t n = 0;
    for (size_t i = first; i < s->ndumps; i++)
        if (s->dumps[i].pid == s->dumps[first].pid)
            idx[n++] = i;
    return n;
}

/* Whether dump i is the first of its process in the series. */
static int first_of_process(const lwr_series_t *s, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (s->dumps[j].pid == s->dumps[i].pid)
            return 0;
    return 1;
}

/* The trend of site g over the dumps idx[0..n) of one process, time from uptime when every dump has it. Returns
 * 0 when the site held nothing in any of them (the process then says nothing about it). */
static int process_trend(const lwr_series_t *s, const lwr_gsite_t *g, const scratch_t *w, size_t n, proc_trend_t *p)
{
    const size_t *idx = w->idx;
    double *x = w->x, *yb = w->yb, *yc = w->yc;
    int held = 0, uptimes = 1;
    memset(p, 0, sizeof *p);
    for (size_t k = 0; k < n; k++) {
        uptimes &= s->dumps[idx[k]].uptime_ms >= 0;
        held |= g->points[idx[k]].count > 0;
    }
    if (!held || n < 2)
        return 0;
    for (size_t k = 0; k < n; k++) {
        x[k] = uptimes ? (double)s->dumps[idx[k]].uptime_ms / 1000.0 : lwr_series_time_s(s, idx[k]);
        yb[k] = (double)g->points[idx[k]].bytes;
        yc[k] = (double)g->points[idx[k]].count;
        if (k == 0)
            continue;
        const lwr_point_t *a = &g->points[idx[k - 1]], *b = &g->points[idx[k]];
        if (b->bytes > a->bytes || (b->bytes == a->bytes && b->count > a->count))
            p->up++;
        else if (b->bytes < a->bytes || (b->bytes == a->bytes && b->count < a->count))
            p->down++;
    }
    p->intervals = n - 1;
    p->slope_bytes = slope(x, yb, n);
    p->slope_count = slope(x, yc, n);
    return 1;
}

lwr_trend_t *lwr_trend_rank(const lwr_series_t *s)
{
    size_t n = s->ndumps;
    lwr_trend_t *t = calloc(s->nsites ? s->nsites : 1, sizeof *t);
    scratch_t w;
    if (scratch_new(&w, n) != 0 || !t || n < 2) {
        free(t);
        scratch_free(&w);
        return NULL;
    }
    for (size_t si = 0; si < s->nsites; si++) {
        const lwr_gsite_t *g = &s->sites[si];
        lwr_trend_t *r = &t[si];
        size_t up = 0, down = 0, intervals = 0;
        r->site = si;
        for (size_t first = 0; first < n; first++) {
            proc_trend_t p;
            if (!first_of_process(s, first) || !process_trend(s, g, &w, dumps_of(s, first, w.idx), &p))
                continue;
            r->slope_bytes += p.slope_bytes;
            r->slope_count += p.slope_count;
            up += p.up;
            down += p.down;
            intervals += p.intervals;
        }
        r->grew = intervals ? (double)up / (double)intervals : 0;
        r->shrank = intervals ? (double)down / (double)intervals : 0;
        double steady = r->grew - r->shrank > 0 ? r->grew - r->shrank : 0;
        r->score_bytes = r->slope_bytes > 0 ? r->slope_bytes * steady : 0;
        r->score_count = r->slope_count > 0 ? r->slope_count * steady : 0;
    }
    rank_series = s;
    if (s->nsites > 1)
        qsort(t, s->nsites, sizeof *t, cmp_trend);
    rank_series = NULL;
    scratch_free(&w);
    return t;
}

/* The processes of the series as people name them: a process whose parent is in the series with the same
 * executable is a worker of that master; workers of one master that is not in the series still share it. */
static const lwr_series_dump_t *master_of(const lwr_series_t *s, const lwr_series_dump_t *d)
{
    if (d->ppid <= 0 || !d->exe)
        return NULL;
    for (size_t i = 0; i < s->ndumps; i++)
        if (s->dumps[i].pid == d->ppid && s->dumps[i].exe && strcmp(s->dumps[i].exe, d->exe) == 0)
            return &s->dumps[i];
    return NULL;
}

static int same_service(const lwr_series_t *s, const lwr_series_dump_t *a, const lwr_series_dump_t *b)
{
    if (!a->exe || !b->exe || strcmp(a->exe, b->exe) != 0)
        return a->pid == b->pid;
    const lwr_series_dump_t *ma = master_of(s, a), *mb = master_of(s, b);
    long ra = ma ? ma->pid : a->pid, rb = mb ? mb->pid : b->pid;
    return ra == rb || (a->ppid > 0 && a->ppid == b->ppid);
}

/* Rounds to 3 decimals so that JSON output is stable and readable. */
static double round3(double v)
{
    double r = (double)(int64_t)(v * 1000 + (v >= 0 ? 0.5 : -0.5));
    return r / 1000;
}

/* Per process of a series of several, the site's own trend there: pid, slopes, grew, shrank. */
static json_t *site_processes_json(const lwr_series_t *s, const lwr_gsite_t *g)
{
    size_t n = s->ndumps;
    scratch_t w;
    json_t *a = scratch_new(&w, n) == 0 ? json_array() : NULL;
    for (size_t first = 0; first < n && a; first++) {
        proc_trend_t p;
        if (!first_of_process(s, first) || !process_trend(s, g, &w, dumps_of(s, first, w.idx), &p))
            continue;
        json_t *o = json_pack("{s:I, s:f, s:f, s:f, s:f}", "pid", (json_int_t)s->dumps[first].pid,
                              "slope_bytes_per_s", round3(p.slope_bytes), "slope_count_per_s", round3(p.slope_count),
                              "grew", round3((double)p.up / (double)p.intervals), "shrank",
                              round3((double)p.down / (double)p.intervals));
        if (json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    scratch_free(&w);
    return a;
}

/* The processes of the series: pid, ppid, executable, how many dumps, and the master when it is a worker. */
static json_t *processes_json(const lwr_series_t *s)
{
    size_t *idx = malloc((s->ndumps ? s->ndumps : 1) * sizeof *idx);
    json_t *a = idx ? json_array() : NULL;
    for (size_t i = 0; i < s->ndumps && a; i++) {
        if (!first_of_process(s, i))
            continue;
        const lwr_series_dump_t *d = &s->dumps[i], *m = master_of(s, d);
        json_t *o = json_pack("{s:I, s:I, s:I}", "pid", (json_int_t)d->pid, "ppid", (json_int_t)d->ppid, "dumps",
                              (json_int_t)dumps_of(s, i, idx));
        if (o && d->exe && json_object_set_new(o, "executable", lwr_json_name(d->exe)) != 0)
            o = (json_decref(o), NULL);
        if (o && m && json_object_set_new(o, "master", json_integer(m->pid)) != 0)
            o = (json_decref(o), NULL);
        if (json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    free(idx);
    return a;
}

json_t *lwr_trend_json(const lwr_series_t *s, const lwr_trend_t *t)
{
    json_t *root = json_pack("{s:i}", "leakwatch_trend", 1), *dumps = json_array(), *sites = json_array();
    int bad = !root || !dumps || !sites;
    for (size_t i = 0; i < s->ndumps && !bad; i++) {
        const lwr_series_dump_t *d = &s->dumps[i];
        json_t *o = json_pack("{s:o, s:I, s:I, s:f}", "file", lwr_json_name(d->file), "pid", (json_int_t)d->pid, "seq",
                              (json_int_t)d->seq, "time_s", round3(lwr_series_time_s(s, i)));
        if (o && d->uptime_ms >= 0 && json_object_set_new(o, "uptime_ms", json_integer(d->uptime_ms)))
            bad = 1;
        if (json_array_append_new(dumps, o) != 0)
            bad = 1;
    }
    for (size_t i = 0; i < s->nsites && !bad; i++) {
        const lwr_trend_t *r = &t[i];
        const lwr_gsite_t *g = &s->sites[r->site];
        json_t *series = json_array();
        for (size_t j = 0; j < s->ndumps && series; j++)
            if (json_array_append_new(series, json_pack("{s:I, s:I}", "count", (json_int_t)g->points[j].count, "bytes",
                                                        (json_int_t)g->points[j].bytes)) != 0)
                bad = 1;
        json_t *o = json_pack("{s:s}", "kind", lwr_kind_name(g->kind));
        json_t *rest = lwr_gsite_json(g);
        json_t *n = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "score_bytes", round3(r->score_bytes), "score_count",
                              round3(r->score_count), "slope_bytes_per_s", round3(r->slope_bytes), "slope_count_per_s",
                              round3(r->slope_count), "grew", round3(r->grew), "shrank", round3(r->shrank), "series",
                              series);
        if (n && !s->one_process && json_object_set_new(n, "processes", site_processes_json(s, g)) != 0)
            bad = 1;
        if (!o || !n || !rest || json_object_update(o, n) != 0 || json_object_update(o, rest) != 0
            || json_array_append(sites, o) != 0)
            bad = 1;
        json_decref(rest);
        json_decref(n);
        json_decref(o);
    }
    if (!bad && (json_object_set(root, "dumps", dumps) || json_object_set(root, "sites", sites)))
        bad = 1;
    if (!bad && !s->one_process && json_object_set_new(root, "processes", processes_json(s)) != 0)
        bad = 1;
    json_decref(dumps);
    json_decref(sites);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* "12 dumps of 3 processes, one service (prefork_service: master 2669, workers 2672 2673) over 2.1s; ..." */
static void processes_header(FILE *out, const lwr_series_t *s, const char *span, size_t growing)
{
    size_t procs = 0, services = 0;
    for (size_t i = 0; i < s->ndumps; i++) {
        if (!first_of_process(s, i))
            continue;
        procs++;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = first_of_process(s, j) && same_service(s, &s->dumps[j], &s->dumps[i]);
        services += !seen;
    }
    fprintf(out, "leakwatch trend: %zu dumps of %zu processes", s->ndumps, procs);
    if (services == 1 && s->dumps[0].exe) {
        const char *exe = strrchr(s->dumps[0].exe, '/');
        const lwr_series_dump_t *master = NULL;
        for (size_t i = 0; i < s->ndumps && !master; i++)
            master = master_of(s, &s->dumps[i]);
        fprintf(out, ", one service (%s", lwr_show(exe ? exe + 1 : s->dumps[0].exe));
        if (master)
            fprintf(out, ": master %ld, workers", master->pid);
        else
            fputs(": workers", out);
        for (size_t i = 0; i < s->ndumps; i++)
            if (first_of_process(s, i) && (!master || s->dumps[i].pid != master->pid))
                fprintf(out, " %ld", s->dumps[i].pid);
        fputc(')', out);
    } else {
        fprintf(out, ", %zu programs or services", services);
    }
    fprintf(out, " over %s; %zu of %zu sites grew steadily\n", span, growing, s->nsites);
}

/* For a series of several processes, one line per process where the site held something:
 * "    pid 2672: +19514.2 bytes/s; bytes: 8200 19600 39000 50000". */
static void per_process_lines(FILE *out, const lwr_series_t *s, const lwr_gsite_t *g)
{
    size_t n = s->ndumps;
    scratch_t w;
    int ok = scratch_new(&w, n) == 0;
    for (size_t first = 0; first < n && ok; first++) {
        proc_trend_t p;
        size_t k = dumps_of(s, first, w.idx), *idx = w.idx;
        if (!first_of_process(s, first) || !process_trend(s, g, &w, k, &p))
            continue;
        if (g->kind == LWR_HEAP)
            fprintf(out, "    pid %ld: %+.1f bytes/s; bytes:", s->dumps[first].pid, p.slope_bytes);
        else
            fprintf(out, "    pid %ld: %+.2f/s; count:", s->dumps[first].pid, p.slope_count);
        for (size_t j = 0; j < k && j < 12; j++)
            fprintf(out, " %" PRIu64, g->kind == LWR_HEAP ? g->points[idx[j]].bytes : g->points[idx[j]].count);
        fputs(k > 12 ? " ...\n" : "\n", out);
    }
    scratch_free(&w);
}

/* What the site holds now: its point in the newest dump of each process, added up. */
static lwr_point_t now_point(const lwr_series_t *s, const lwr_gsite_t *g)
{
    lwr_point_t now = { 0, 0, -1, -1 };
    for (size_t i = 0; i < s->ndumps; i++) {
        int newest = 1;
        for (size_t j = i + 1; j < s->ndumps && newest; j++)
            newest = s->dumps[j].pid != s->dumps[i].pid;
        if (newest) {
            now.count += g->points[i].count;
            now.bytes += g->points[i].bytes;
        }
    }
    return now;
}

static int trend_text(FILE *out, const lwr_series_t *s, const lwr_trend_t *t, uint64_t top)
{
    size_t n = s->ndumps, growing = 0;
    for (size_t i = 0; i < s->nsites; i++)
        growing += t[i].score_bytes > 0 || t[i].score_count > 0;
    char span[32];
    double secs = lwr_series_time_s(s, n - 1);
    lwr_format_age((int64_t)(secs * 1000), span, sizeof span);
    if (s->one_process)
        fprintf(out, "leakwatch trend: %zu dumps of pid %ld (seq %ld to %ld) over %s; %zu of %zu sites grew steadily\n",
                n, s->dumps[0].pid, s->dumps[0].seq, s->dumps[n - 1].seq, span, growing, s->nsites);
    else
        processes_header(out, s, span, growing);
    size_t shown = 0;
    for (size_t i = 0; i < growing && (!top || shown < top); i++, shown++) {
        const lwr_trend_t *r = &t[i];
        const lwr_gsite_t *g = &s->sites[r->site];
        lwr_point_t now = now_point(s, g);
        const lwr_point_t *last = &now;
        fprintf(out, "\n#%zu %s: ", i + 1, lwr_kind_name(g->kind));
        if (g->kind == LWR_HEAP)
            fprintf(out, "%+.1f bytes/s, ", r->slope_bytes);
        fprintf(out, "%+.2f/s, grew in %.0f%% of intervals, shrank in %.0f%%; now %" PRIu64, r->slope_count,
                r->grew * 100, r->shrank * 100, last->count);
        if (g->kind == LWR_HEAP)
            fprintf(out, " blocks, %" PRIu64 " bytes", last->bytes);
        fputc('\n', out);
        if (!s->one_process) {
            per_process_lines(out, s, g);
        } else {
            fputs(g->kind == LWR_HEAP ? "    bytes:" : "    count:", out);
            for (size_t j = 0; j < n && j < 12; j++)
                fprintf(out, " %" PRIu64, g->kind == LWR_HEAP ? g->points[j].bytes : g->points[j].count);
            fputs(n > 12 ? " ...\n" : "\n", out);
        }
        lwr_held_print(out, g->held);
        for (size_t f = 0; f < g->nframes; f++)
            lwr_print_frame(out, f, &g->frames[f]);
    }
    if (growing > shown)
        fprintf(out, "\n(%zu more growing %s; --top 0 shows all)\n", growing - shown,
                growing - shown == 1 ? "site" : "sites");
    if (growing < s->nsites)
        fprintf(out, "\n%zu %s did not grow steadily (flat, shrinking, or up and down as often).\n",
                s->nsites - growing, s->nsites - growing == 1 ? "site" : "sites");
    fflush(out);
    return ferror(out) ? -1 : 0;
}

typedef struct {
    lwr_table_opts_t table;
    bool include_exit;
} trend_opts_t;

static int take_trend_option(const char *cmd, int argc, char **argv, int *i, void *opts)
{
    trend_opts_t *o = opts;
    if (strcmp(argv[*i], "--include-exit") == 0) {
        o->include_exit = true;
        (*i)++;
        return 1;
    }
    return lwr_take_table_option(cmd, argc, argv, i, &o->table);
}

static int trend_main(int argc, char **argv)
{
    trend_opts_t to = { LWR_TABLE_OPTS_INIT, false };
    lwr_table_opts_t o;
    int first;
    int status = lwr_parse_options("trend", usage, argc, argv, take_trend_option, &to, &first);
    o = to.table;
    if (status >= 0)
        return status;
    if (first >= argc)
        return lwr_usage_error("trend", "no dumps given (at least two)");
    lwr_dumplist_t dumps = { NULL, 0, 0 };
    int failed = lwr_load_dumps(argv + first, argc - first, lwr_series_add_dir, &dumps);
    size_t loaded = dumps.n, execs = 0, exits = lwr_trend_select(dumps.v, &dumps.n, to.include_exit, &execs);
    if (dumps.n < 2) {
        lwr_dumplist_free(&dumps);
        if (failed)
            return 1;
        if (loaded >= 2)
            return lwr_usage_error("trend", "a trend needs at least two dumps taken while the program ran; %zu of the "
                                   "%zu given %s left out (%zu exit, %zu exec; --include-exit keeps the exit dumps)",
                                   exits + execs, loaded, exits + execs == 1 ? "was" : "were", exits, execs);
        return lwr_usage_error("trend", "a trend needs at least two dumps");
    }
    if (exits)
        fprintf(stderr, "leakwatch trend: note: %zu exit %s left out (written after the program freed what it frees "
                        "at exit; --include-exit keeps %s)\n", exits, exits == 1 ? "dump" : "dumps",
                exits == 1 ? "it" : "them");
    lwr_series_sort(dumps.v, dumps.n);
    lwr_note_sampling("trend", dumps.v, dumps.n);
    for (size_t j = 1; j < dumps.n; j++)
        if (dumps.v[j]->pid != dumps.v[0]->pid) {
            fprintf(stderr, "leakwatch trend: note: the dumps come from several processes; each process is a "
                            "series of its own, and a site's growth adds up over them (sites matched by symbols, "
                            "as report merges them)\n");
            break;
        }
    signal(SIGPIPE, SIG_IGN);
    lwr_symbolizer_t *sym = lwr_sym_opts_symbolizer(&o.sym);
    lwr_series_t *s = sym ? lwr_series_build(dumps.v, dumps.n, sym) : NULL;
    lwr_dumplist_free(&dumps);
    lwr_trend_t *t = s ? lwr_trend_rank(s) : NULL;
    if (!t) {
        if (sym)
            fprintf(stderr, "leakwatch: out of memory\n");
        failed = 1;
    } else {
        FILE *out = lwr_output_open(o.output);
        if (!out) {
            failed = 1;
        } else {
            int w = strcmp(o.format, "json") == 0 ? lwr_json_write(out, lwr_trend_json(s, t), JSON_INDENT(2))
                                                  : trend_text(out, s, t, o.top);
            failed |= lwr_output_close(out, o.output, "the trend", w);
        }
    }
    free(t);
    lwr_series_free(s);
    lwr_symbolizer_free(sym);
    return failed ? 1 : 0;
}

const lwr_command_t lwr_cmd_trend = {
    "trend",
    "rank call sites by steady growth over a series of dumps",
    usage,
    trend_main,
};

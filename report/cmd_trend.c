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
    "Usage: leakwatch trend [--format text|json] [--top N] [--output FILE] DUMP...\n"
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
    "  --format text|json   text for people (the default) or JSON (`leakwatch_trend: 1`)\n"
    "  --top N              text: show the N best-ranked growing sites with their stacks (default 10, 0 for all)\n"
    "  --output FILE        write to FILE instead of standard output\n"
    "\n"
    "Exit status: 0; 1 when a dump could not be read or the output could not be written; 2 on a usage error\n"
    "(fewer than two dumps).\n";

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

lwr_trend_t *lwr_trend_rank(const lwr_series_t *s)
{
    size_t n = s->ndumps;
    lwr_trend_t *t = calloc(s->nsites ? s->nsites : 1, sizeof *t);
    double *x = malloc((n ? n : 1) * sizeof *x), *yb = malloc((n ? n : 1) * sizeof *yb),
           *yc = malloc((n ? n : 1) * sizeof *yc);
    if (!t || !x || !yb || !yc || n < 2) {
        free(t);
        free(x);
        free(yb);
        free(yc);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = lwr_series_time_s(s, i);
    for (size_t si = 0; si < s->nsites; si++) {
        const lwr_gsite_t *g = &s->sites[si];
        lwr_trend_t *r = &t[si];
        size_t up = 0, down = 0;
        for (size_t i = 0; i < n; i++) {
            yb[i] = (double)g->points[i].bytes;
            yc[i] = (double)g->points[i].count;
            if (i == 0)
                continue;
            const lwr_point_t *p = &g->points[i - 1], *q = &g->points[i];
            if (q->bytes > p->bytes || (q->bytes == p->bytes && q->count > p->count))
                up++;
            else if (q->bytes < p->bytes || (q->bytes == p->bytes && q->count < p->count))
                down++;
        }
        r->site = si;
        r->slope_bytes = slope(x, yb, n);
        r->slope_count = slope(x, yc, n);
        r->grew = (double)up / (double)(n - 1);
        r->shrank = (double)down / (double)(n - 1);
        double steady = r->grew - r->shrank > 0 ? r->grew - r->shrank : 0;
        r->score_bytes = r->slope_bytes > 0 ? r->slope_bytes * steady : 0;
        r->score_count = r->slope_count > 0 ? r->slope_count * steady : 0;
    }
    rank_series = s;
    if (s->nsites > 1)
        qsort(t, s->nsites, sizeof *t, cmp_trend);
    rank_series = NULL;
    free(x);
    free(yb);
    free(yc);
    return t;
}

/* Rounds to 3 decimals so that JSON output is stable and readable. */
static double round3(double v)
{
    double r = (double)(int64_t)(v * 1000 + (v >= 0 ? 0.5 : -0.5));
    return r / 1000;
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
        if (!o || !n || !rest || json_object_update(o, n) != 0 || json_object_update(o, rest) != 0
            || json_array_append(sites, o) != 0)
            bad = 1;
        json_decref(rest);
        json_decref(n);
        json_decref(o);
    }
    if (!bad && (json_object_set(root, "dumps", dumps) || json_object_set(root, "sites", sites)))
        bad = 1;
    json_decref(dumps);
    json_decref(sites);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
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
        fprintf(out, "leakwatch trend: %zu dumps of several processes over %s; %zu of %zu sites grew steadily\n", n,
                span, growing, s->nsites);
    size_t shown = 0;
    for (size_t i = 0; i < growing && (!top || shown < top); i++, shown++) {
        const lwr_trend_t *r = &t[i];
        const lwr_gsite_t *g = &s->sites[r->site];
        const lwr_point_t *last = &g->points[n - 1];
        fprintf(out, "\n#%zu %s: ", i + 1, lwr_kind_name(g->kind));
        if (g->kind == LWR_HEAP)
            fprintf(out, "%+.1f bytes/s, ", r->slope_bytes);
        fprintf(out, "%+.2f/s, grew in %.0f%% of intervals, shrank in %.0f%%; now %" PRIu64, r->slope_count,
                r->grew * 100, r->shrank * 100, last->count);
        if (g->kind == LWR_HEAP)
            fprintf(out, " blocks, %" PRIu64 " bytes", last->bytes);
        fputc('\n', out);
        fputs(g->kind == LWR_HEAP ? "    bytes:" : "    count:", out);
        for (size_t j = 0; j < n && j < 12; j++)
            fprintf(out, " %" PRIu64, g->kind == LWR_HEAP ? g->points[j].bytes : g->points[j].count);
        fputs(n > 12 ? " ...\n" : "\n", out);
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

static int trend_main(int argc, char **argv)
{
    lwr_table_opts_t o = LWR_TABLE_OPTS_INIT;
    int first;
    int status = lwr_parse_options("trend", usage, argc, argv, lwr_take_table_option, &o, &first);
    if (status >= 0)
        return status;
    if (first >= argc)
        return lwr_usage_error("trend", "no dumps given (at least two)");
    lwr_dumplist_t dumps = { NULL, 0, 0 };
    int failed = lwr_load_dumps(argv + first, argc - first, lwr_series_add_dir, &dumps);
    if (dumps.n < 2) {
        lwr_dumplist_free(&dumps);
        if (failed)
            return 1;
        return lwr_usage_error("trend", "a trend needs at least two dumps");
    }
    lwr_series_sort(dumps.v, dumps.n);
    lwr_note_sampling("trend", dumps.v, dumps.n);
    for (size_t j = 1; j < dumps.n; j++)
        if (dumps.v[j]->pid != dumps.v[0]->pid) {
            fprintf(stderr, "leakwatch trend: note: the dumps come from several processes; they are ordered by "
                            "wall-clock time and their sites matched by symbols\n");
            break;
        }
    signal(SIGPIPE, SIG_IGN);
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    lwr_series_t *s = lwr_series_build(dumps.v, dumps.n, sym);
    lwr_dumplist_free(&dumps);
    lwr_trend_t *t = s ? lwr_trend_rank(s) : NULL;
    if (!t) {
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

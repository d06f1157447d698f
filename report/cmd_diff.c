/* `leakwatch diff`: matches the call sites of two dumps by symbolized frames and ranks them by growth. */
#include "cli.h"
#include "escape.h"
#include "render.h"
#include "series.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "Usage: leakwatch diff [--format text|json] [--top N] [--output FILE] [--debug-dir DIR]... [--sysroot DIR]\n"
    "                      OLD NEW\n"
    "\n"
    "Compares two dumps (or saved JSON reports) of the same program (e.g. two LEAKWATCH_DUMP_SIGNAL dumps of a\n"
    "running service) and ranks its call sites by growth. Sites are matched as `leakwatch report` merges them:\n"
    "by their symbolized frames (function, file, line and column of each frame, module and offset where symbols\n"
    "are missing), so two calls in one function are two sites and dumps of different processes of one program\n"
    "match. Every live handle counts, reachable or not: a cache that never evicts is what this is for.\n"
    "\n"
    "  --format text|json   text for people (the default) or JSON with delta_count and delta_bytes per site\n"
    "  --top N              text: show the stacks of the N largest growers (default 10, 0 for all)\n"
    "  --output FILE        write to FILE instead of standard output\n"
    LWR_SYM_OPTS_USAGE
    "\n"
    "Order: the sites that grew, by bytes gained, then by handles gained; then the unchanged ones; then those\n"
    "that shrank or vanished, the largest loss first.\n"
    "\n"
    "Exit status: 0; 1 when a dump could not be read or the output could not be written; 2 on a usage error.\n";

static int64_t delta(uint64_t a, uint64_t b)
{
    return (int64_t)b - (int64_t)a;
}

const char *lwr_diff_status_name(lwr_diff_status_t st)
{
    static const char *const names[] = { "new", "grown", "unchanged", "shrunk", "gone" };
    return names[st];
}

lwr_diff_status_t lwr_diff_status(const lwr_gsite_t *g, size_t a, size_t b)
{
    const lwr_point_t *o = &g->points[a], *n = &g->points[b];
    int64_t db = delta(o->bytes, n->bytes), dc = delta(o->count, n->count);
    if (db > 0 || (db == 0 && dc > 0))
        return o->count == 0 ? LWR_DIFF_NEW : LWR_DIFF_GROWN;
    if (db < 0 || (db == 0 && dc < 0))
        return n->count == 0 ? LWR_DIFF_GONE : LWR_DIFF_SHRUNK;
    return LWR_DIFF_SAME;
}

/* qsort has no context argument: the comparison reads these while lwr_diff_order sorts. */
static const lwr_series_t *order_series;
static size_t order_a, order_b;

static int group(lwr_diff_status_t st)
{
    return st <= LWR_DIFF_GROWN ? 0 : st == LWR_DIFF_SAME ? 1 : 2;
}

static int cmp_desc(int64_t x, int64_t y)
{
    return x > y ? -1 : x < y;
}

static int cmp_order(const void *pa, const void *pb)
{
    size_t i = *(const size_t *)pa, j = *(const size_t *)pb;
    const lwr_gsite_t *x = &order_series->sites[i], *y = &order_series->sites[j];
    int gx = group(lwr_diff_status(x, order_a, order_b)), gy = group(lwr_diff_status(y, order_a, order_b));
    if (gx != gy)
        return gx - gy;
    const lwr_point_t *xo = &x->points[order_a], *xn = &x->points[order_b];
    const lwr_point_t *yo = &y->points[order_a], *yn = &y->points[order_b];
    int64_t xdb = delta(xo->bytes, xn->bytes), ydb = delta(yo->bytes, yn->bytes);
    int64_t xdc = delta(xo->count, xn->count), ydc = delta(yo->count, yn->count);
    int c = 0;
    if (gx == 0)
        c = cmp_desc(xdb, ydb) ? cmp_desc(xdb, ydb) : cmp_desc(xdc, ydc);
    else if (gx == 2)
        c = cmp_desc(ydb, xdb) ? cmp_desc(ydb, xdb) : cmp_desc(ydc, xdc);
    if (c == 0)
        c = cmp_desc((int64_t)xn->bytes, (int64_t)yn->bytes);
    if (c == 0)
        c = cmp_desc((int64_t)xn->count, (int64_t)yn->count);
    return c ? c : (i < j ? -1 : i > j);
}

void lwr_diff_order(const lwr_series_t *s, size_t a, size_t b, size_t *order)
{
    for (size_t i = 0; i < s->nsites; i++)
        order[i] = i;
    order_series = s;
    order_a = a;
    order_b = b;
    if (s->nsites > 1)
        qsort(order, s->nsites, sizeof *order, cmp_order);
    order_series = NULL;
}

static json_t *dump_json(const lwr_series_dump_t *d)
{
    json_t *o = json_pack("{s:o, s:I, s:I}", "file", lwr_json_name(d->file), "pid", (json_int_t)d->pid, "seq", (json_int_t)d->seq);
    if (o && d->uptime_ms >= 0 && json_object_set_new(o, "uptime_ms", json_integer(d->uptime_ms)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *numbers_json(json_t *o, const lwr_point_t *po, const lwr_point_t *pn)
{
    if (!o)
        return NULL;
    json_t *n = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "delta_count", (json_int_t)delta(po->count, pn->count),
                          "delta_bytes", (json_int_t)delta(po->bytes, pn->bytes), "old_count", (json_int_t)po->count,
                          "old_bytes", (json_int_t)po->bytes, "new_count", (json_int_t)pn->count, "new_bytes",
                          (json_int_t)pn->bytes);
    if (!n || json_object_update(o, n) != 0) {
        json_decref(n);
        json_decref(o);
        return NULL;
    }
    json_decref(n);
    return o;
}

json_t *lwr_diff_json(const lwr_series_t *s, size_t a, size_t b)
{
    size_t *order = malloc((s->nsites ? s->nsites : 1) * sizeof *order);
    json_t *root = json_pack("{s:i, s:o, s:o}", "leakwatch_diff", 1, "old", dump_json(&s->dumps[a]), "new",
                             dump_json(&s->dumps[b]));
    json_t *sites = json_array(), *totals = json_object();
    int bad = !order || !root || !sites || !totals;
    lwr_point_t tot[LWR_KIND_COUNT][2];
    memset(tot, 0, sizeof tot);
    if (!bad)
        lwr_diff_order(s, a, b, order);
    for (size_t i = 0; i < s->nsites && !bad; i++) {
        const lwr_gsite_t *g = &s->sites[order[i]];
        const lwr_point_t *po = &g->points[a], *pn = &g->points[b];
        lwr_count_add(&tot[g->kind][0].count, po->count);
        lwr_count_add(&tot[g->kind][0].bytes, po->bytes);
        lwr_count_add(&tot[g->kind][1].count, pn->count);
        lwr_count_add(&tot[g->kind][1].bytes, pn->bytes);
        json_t *o = numbers_json(json_pack("{s:s, s:s}", "kind", lwr_kind_name(g->kind), "status",
                                           lwr_diff_status_name(lwr_diff_status(g, a, b))), po, pn);
        json_t *rest = lwr_gsite_json(g);
        if (!o || !rest
            || (pn->oldest_age_ms >= 0 && json_object_set_new(o, "oldest_age_ms", json_integer(pn->oldest_age_ms)))
            || json_object_update(o, rest) != 0 || json_array_append(sites, o) != 0)
            bad = 1;
        json_decref(rest);
        json_decref(o);
    }
    for (int k = 0; k < LWR_KIND_COUNT && !bad; k++)
        if (json_object_set_new(totals, lwr_kind_name((lwr_kind_t)k), numbers_json(json_object(), &tot[k][0], &tot[k][1])))
            bad = 1;
    if (!bad && (json_object_set(root, "totals", totals) || json_object_set(root, "sites", sites)))
        bad = 1;
    json_decref(sites);
    json_decref(totals);
    free(order);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static const char *const nouns[LWR_KIND_COUNT][2] = {
    { "block", "blocks" }, { "descriptor", "descriptors" }, { "socket", "sockets" },
    { "thread", "threads" }, { "timer", "timers" }, { "mapping", "mappings" },
};

static void describe_dump(FILE *out, const lwr_series_dump_t *d)
{
    const char *slash = d->file ? strrchr(d->file, '/') : NULL;
    char age[32];
    lwr_format_age(d->uptime_ms, age, sizeof age);
    fprintf(out, "%s (pid %ld, seq %ld, up %s)", slash ? lwr_show(slash + 1) : d->file ? lwr_show(d->file) : "?", d->pid,
            d->seq, age);
}

/* "+40960 bytes, +40 blocks (10 -> 50 blocks, 10240 -> 51200 bytes)" or, without bytes, "+2 descriptors (1 -> 3)". */
static void print_change(FILE *out, lwr_kind_t kind, const lwr_point_t *po, const lwr_point_t *pn)
{
    int64_t dc = delta(po->count, pn->count);
    const char *n = nouns[kind][dc != 1 && dc != -1];
    if (kind == LWR_HEAP)
        fprintf(out, "%+" PRId64 " bytes, %+" PRId64 " %s (%" PRIu64 " -> %" PRIu64 " %s, %" PRIu64 " -> %" PRIu64
                " bytes)", delta(po->bytes, pn->bytes), dc, n, po->count, pn->count, nouns[kind][1], po->bytes,
                pn->bytes);
    else
        fprintf(out, "%+" PRId64 " %s (%" PRIu64 " -> %" PRIu64 ")", dc, n, po->count, pn->count);
}

static void print_where(FILE *out, const lwr_gsite_t *g)
{
    const lwr_frame_t *f = lwr_naming_frame(g);
    char where[1024];
    if (!f) {
        fputs(" (no stack)", out);
        return;
    }
    lwr_frame_where(f, where, sizeof where);
    fprintf(out, " at %s", lwr_show(where));
}

static int diff_text(FILE *out, const lwr_series_t *s, size_t a, size_t b, uint64_t top)
{
    size_t *order = malloc((s->nsites ? s->nsites : 1) * sizeof *order);
    if (!order)
        return -1;
    lwr_diff_order(s, a, b, order);
    size_t ngrew = 0, nsame = 0, nshrank = 0;
    lwr_point_t tot[LWR_KIND_COUNT][2];
    memset(tot, 0, sizeof tot);
    for (size_t i = 0; i < s->nsites; i++) {
        const lwr_gsite_t *g = &s->sites[i];
        int gr = group(lwr_diff_status(g, a, b));
        ngrew += gr == 0;
        nsame += gr == 1;
        nshrank += gr == 2;
        lwr_count_add(&tot[g->kind][0].count, g->points[a].count);
        lwr_count_add(&tot[g->kind][0].bytes, g->points[a].bytes);
        lwr_count_add(&tot[g->kind][1].count, g->points[b].count);
        lwr_count_add(&tot[g->kind][1].bytes, g->points[b].bytes);
    }
    fputs("leakwatch diff: ", out);
    describe_dump(out, &s->dumps[a]);
    fputs(" -> ", out);
    describe_dump(out, &s->dumps[b]);
    fputc('\n', out);
    const char *sep = "";
    for (int k = 0; k < LWR_KIND_COUNT; k++) {
        if (tot[k][0].count == 0 && tot[k][1].count == 0)
            continue;
        fprintf(out, "%s%s ", sep, lwr_kind_name((lwr_kind_t)k));
        print_change(out, (lwr_kind_t)k, &tot[k][0], &tot[k][1]);
        sep = "; ";
    }
    fprintf(out, "%s%zu %s grew, %zu shrank or vanished, %zu unchanged\n", sep[0] ? "\n" : "", ngrew,
            ngrew == 1 ? "site" : "sites", nshrank, nsame);
    size_t shown = 0;
    for (size_t i = 0; i < s->nsites; i++) {
        const lwr_gsite_t *g = &s->sites[order[i]];
        lwr_diff_status_t st = lwr_diff_status(g, a, b);
        if (group(st) != 0 || (top && shown >= top))
            continue;
        shown++;
        const lwr_point_t *pn = &g->points[b];
        fprintf(out, "\n%s: ", lwr_kind_name(g->kind));
        print_change(out, g->kind, &g->points[a], pn);
        if (st == LWR_DIFF_NEW)
            fputs(", new site", out);
        if (pn->oldest_age_ms >= 0) {
            char age[32];
            lwr_format_age(pn->oldest_age_ms, age, sizeof age);
            fprintf(out, ", oldest %s", age);
        }
        fputc('\n', out);
        lwr_held_print(out, g->held);
        for (size_t f = 0; f < g->nframes; f++)
            lwr_print_frame(out, f, &g->frames[f]);
        if (g->nsamples) {
            fputs("    samples: ", out);
            for (size_t j = 0; j < g->nsamples && j < 3; j++) {
                fputs(j ? ", " : "", out);
                lwr_print_sample(out, g->kind, &g->samples[j], false);
            }
            fputs(pn->count > 3 && g->nsamples >= 3 ? ", ...\n" : "\n", out);
        }
    }
    if (shown < ngrew)
        fprintf(out, "\n(%zu more %s grew; --top 0 shows all)\n", ngrew - shown, ngrew - shown == 1 ? "site" : "sites");
    if (nshrank)
        fputs("\nshrank or vanished:\n", out);
    for (size_t i = 0; i < s->nsites; i++) {
        const lwr_gsite_t *g = &s->sites[order[i]];
        lwr_diff_status_t st = lwr_diff_status(g, a, b);
        if (group(st) != 2)
            continue;
        fprintf(out, "  %s: %s", lwr_kind_name(g->kind), st == LWR_DIFF_GONE ? "gone, " : "");
        print_change(out, g->kind, &g->points[a], &g->points[b]);
        print_where(out, g);
        fputc('\n', out);
    }
    free(order);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

static int diff_main(int argc, char **argv)
{
    lwr_table_opts_t o = LWR_TABLE_OPTS_INIT;
    const char *files[2];
    int nfiles = 0, opts_done = 0;
    for (int i = 1; i < argc;) {
        int r;
        if (!opts_done && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
            fputs(usage, stdout);
            return 0;
        }
        if (!opts_done && strcmp(argv[i], "--") == 0) {
            opts_done = 1;
            i++;
            continue;
        }
        if (!opts_done && (r = lwr_take_table_option("diff", argc, argv, &i, &o)) != 0) {
            if (r < 0)
                return LWR_EXIT_USAGE;
            continue;
        }
        if (!opts_done && argv[i][0] == '-' && argv[i][1] != '\0')
            return lwr_usage_error("diff", "unknown option '%s'", argv[i]);
        if (nfiles == 2)
            return lwr_usage_error("diff", "give exactly two dumps, OLD and NEW ('%s' is a third)", argv[i]);
        files[nfiles++] = argv[i++];
    }
    if (nfiles < 2)
        return lwr_usage_error("diff", "give two dumps, OLD and NEW");

    for (int j = 0; j < 2; j++) {
        struct stat st;
        if (stat(files[j], &st) == 0 && S_ISDIR(st.st_mode))  /* report and trend take one: say what diff takes */
            return lwr_usage_error("diff", "'%s' is a directory: give two dump files (leakwatch.<pid>.<seq>.json) "
                                   "or saved JSON reports", lwr_show(files[j]));
    }
    lwr_dump_t *d[2] = { NULL, NULL };
    for (int j = 0; j < 2; j++) {
        char err[512];
        if (!(d[j] = lwr_dump_load(files[j], err, sizeof err))) {
            fprintf(stderr, "leakwatch: %s\n", lwr_show(err));
            lwr_dump_free(d[0]);
            return 1;
        }
    }
    lwr_note_sampling("diff", d, 2);
    if (d[0]->pid == d[1]->pid && d[0]->uptime_ms > d[1]->uptime_ms && d[1]->uptime_ms >= 0)
        fprintf(stderr, "leakwatch diff: note: NEW (%s) was taken before OLD (%s); growth is shown from OLD to NEW\n",
                lwr_show(files[1]), lwr_show(files[0]));
    signal(SIGPIPE, SIG_IGN);
    lwr_symbolizer_t *sym = lwr_sym_opts_symbolizer(&o.sym);
    lwr_series_t *s = sym ? lwr_series_build(d, 2, sym) : NULL;
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
    int rc = 0;
    if (!s) {
        if (sym)
            fprintf(stderr, "leakwatch: out of memory\n");
        rc = 1;
    } else {
        FILE *out = lwr_output_open(o.output);
        if (!out) {
            rc = 1;
        } else {
            int w = strcmp(o.format, "json") == 0 ? lwr_json_write(out, lwr_diff_json(s, 0, 1), JSON_INDENT(2))
                                                  : diff_text(out, s, 0, 1, o.top);
            rc = lwr_output_close(out, o.output, "the diff", w);
        }
    }
    lwr_series_free(s);
    lwr_symbolizer_free(sym);
    return rc;
}

const lwr_command_t lwr_cmd_diff = {
    "diff",
    "rank call sites by growth between two dumps",
    usage,
    diff_main,
};

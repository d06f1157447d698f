/* `leakwatch report`: renders saved dump files (or directories of dumps) as text or JSON. */
#include "aggregate.h"
#include "ci.h"
#include "cli.h"
#include "flame.h"
#include "render.h"
#include "render_ci.h"
#include "render_pprof.h"
#include "run_extras.h"
#include "series.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: leakwatch report [--format text|json|folded|svg|pprof|sarif|junit] [--weight bytes|count]\n"
    "                        [--older-than DURATION] [--suppressions FILE]... [--no-default-suppressions]\n"
    "                        [--baseline FILE] [--show-reachable] [--show-indirect] [--gen-suppressions]\n"
    "                        [--debug-dir DIR]... [--sysroot DIR] [--output FILE] DUMP...\n"
    "\n"
    "Symbolizes the dumps, merges their call sites across processes and prints one report.\n"
    "A DUMP is a dump file (leakwatch.<pid>.<seq>.json), a saved JSON report (run --json, --format json) or a\n"
    "directory; of a directory, the newest dump of each process is read. Dump files named one by one are all\n"
    "read, even several of the same process.\n"
    "\n"
    "  --format text|json   text for people (the default) or the JSON report of docs/FORMAT.md\n"
    "  --format folded      collapsed stacks for flame-graph tools: `[kind];outermost;...;innermost WEIGHT`\n"
    "  --format svg         a flame graph drawn as a standalone SVG (tooltips per frame, colors by kind)\n"
    "  --format pprof       a pprof profile (gzip-compressed protobuf) for `go tool pprof` and profilers that\n"
    "                       read pprof: every live handle, reachable blocks included, per kind `<kind>_objects`\n"
    "                       and for the heap `heap_space` (the default sample type); needs --output or a pipe\n"
    "  --weight bytes|count  what folded and svg weigh stacks by (default bytes; count also shows descriptors,\n"
    "                       sockets, threads and timers, which have no bytes)\n"
    "  --older-than DURATION  only sites whose oldest live handle is at least DURATION old (500ms, 30s, 5m, 1h);\n"
    "                       a shown site keeps its count and bytes, its samples are those at least that old,\n"
    "                       the totals sum the shown sites (dumps record the oldest, the median and five sample\n"
    "                       ages per site, not every handle's)\n"
    "  --output FILE        write to FILE instead of standard output\n"
    "  --format sarif|junit  a SARIF 2.1.0 log or JUnit XML, as `leakwatch run --sarif/--junit` writes them\n"
    "  --suppressions FILE  hide the sites FILE's lines match (as `leakwatch run`); repeatable, read after the\n"
    "                       files of LEAKWATCH_SUPPRESSIONS; a bad line or an unreadable file exits with 2\n"
    "  --no-default-suppressions  do not apply the built-in list for the runtime's own memory\n"
    "  --baseline FILE      mark the sites found in an earlier JSON report or baseline file\n"
    "  --show-reachable     list the heap blocks still reachable at exit in the text report too\n"
    "  --lsan               apply LSAN_OPTIONS (suppressions=, exitcode=, log_path=, max_leaks=) as the library\n"
    "                       does when it reports at exit by hand\n"
    "  --gen-suppressions   after the text report, a suppression line per site that hides exactly it\n"
    LWR_SYM_OPTS_USAGE
    "  --show-indirect      list the indirect leaks' sites under the leak that holds them in the text report too\n"
    "\n"
    "Exit status: 0; 1 when a dump could not be read (it is named on stderr and the others are still\n"
    "reported) or the output could not be written; 2 on a usage error.\n";

/* The formats of the CI options, else text. */
static int render_ci_or_text(FILE *out, const lwr_report_t *rep, const char *format)
{
    if (strcmp(format, "sarif") == 0)
        return lwr_render_sarif(out, rep);
    if (strcmp(format, "junit") == 0)
        return lwr_render_junit(out, rep);
    return lwr_render_text(out, rep);
}

typedef struct {
    const char *format, *output;
    lwr_weight_t weight;
    int64_t older_than;     /* -1: no --older-than */
    lwr_ci_t ci;
    bool lsan;              /* --lsan */
    lwr_sym_opts_t sym;     /* --debug-dir, --sysroot */
} options_t;

/* An lwr_option_fn for the options of `leakwatch report`. */
static int take_option(const char *cmd, int argc, char **argv, int *i, void *opts)
{
    options_t *o = opts;
    const char *v;
    int r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--format", &v)) > 0) {
        if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0 && strcmp(v, "folded") != 0 && strcmp(v, "svg") != 0
            && strcmp(v, "pprof") != 0 && strcmp(v, "sarif") != 0 && strcmp(v, "junit") != 0) {
            lwr_usage_error(cmd, "unknown format '%s' (text, json, folded, svg, pprof, sarif or junit)", v);
            return -1;
        }
        o->format = v;
    }
    if (r != 0)
        return r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--weight", &v)) > 0) {
        if (strcmp(v, "bytes") != 0 && strcmp(v, "count") != 0) {
            lwr_usage_error(cmd, "unknown weight '%s' (bytes or count)", v);
            return -1;
        }
        o->weight = strcmp(v, "bytes") == 0 ? LWR_WEIGHT_BYTES : LWR_WEIGHT_COUNT;
    }
    if (r != 0)
        return r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--older-than", &v)) > 0
        && lwr_parse_duration(v, &o->older_than) != 0) {
        lwr_usage_error(cmd, "bad duration '%s' for --older-than (a number and ms, s, m or h: 500ms, 30s, 5m, 1h)",
                        v);
        return -1;
    }
    if (r == 0 && strcmp(argv[*i], "--lsan") == 0) {
        o->lsan = true;
        (*i)++;
        return 1;
    }
    if (r != 0 || (r = lwr_ci_take_option(cmd, argc, argv, i, false, &o->ci)) != 0)
        return r;
    if ((r = lwr_take_sym_option(cmd, argc, argv, i, &o->sym)) != 0)
        return r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--output", &v)) > 0)
        o->output = v;
    return r;
}

static int report_main(int argc, char **argv)
{
    options_t o = { "text", NULL, LWR_WEIGHT_BYTES, -1, LWR_CI_INIT, false, LWR_SYM_OPTS_INIT };
    int first;
    int status = lwr_parse_options("report", usage, argc, argv, take_option, &o, &first);
    if (status < 0 && first >= argc)
        status = lwr_usage_error("report", "no dump given");
    for (int j = first + 1; status < 0 && j < argc; j++)
        if (argv[j][0] == '-' && argv[j][1] != '\0' && strcmp(argv[first - 1], "--") != 0)
            status = lwr_usage_error("report", "options go before the dumps ('%s')", argv[j]);
    if (status >= 0) {
        lwr_ci_free(&o.ci);
        return status;
    }
    bool pprof = strcmp(o.format, "pprof") == 0;
    if (pprof && !o.output && isatty(STDOUT_FILENO)) {
        lwr_ci_free(&o.ci);
        return lwr_usage_error("report", "a pprof profile is binary: give --output FILE or redirect the output");
    }
    lwr_lsan_t lsan = { 0 };
    if (o.lsan && (lwr_lsan_parse(getenv("LSAN_OPTIONS"), &lsan) != 0
                   || lwr_lsan_add_suppressions(&lsan, &o.ci, "report") != 0)) {
        lwr_lsan_free(&lsan);
        lwr_ci_free(&o.ci);
        return LWR_EXIT_USAGE;
    }
    int ci_status = lwr_ci_load("report", &o.ci);   /* bad suppressions or baseline: exit 2 before any dump */
    if (ci_status != 0) {
        lwr_lsan_free(&lsan);
        lwr_ci_free(&o.ci);
        return ci_status;
    }
    lwr_dumplist_t dumps = { NULL, 0, 0 };
    int failed = lwr_load_dumps(argv + first, argc - first, lwr_collect_dir, &dumps);
    if (dumps.n == 0) {
        /* Nothing to report: a report of zero processes would read as "no leaks", which is not what happened. */
        fprintf(stderr, failed ? "leakwatch: no dump could be read\n"
                               : "leakwatch: no dumps (leakwatch.PID.N.json) in what was given\n");
        lwr_dumplist_free(&dumps);
        lwr_ci_free(&o.ci);
        lwr_lsan_free(&lsan);
        return 1;
    }
    lwr_dumplist_sort(&dumps);
    lwr_note_sampling("report", dumps.v, dumps.n);
    if (o.older_than >= 0) {
        size_t ageless = 0;
        for (size_t j = 0; j < dumps.n; j++)
            ageless += lwr_dump_keep_older(dumps.v[j], o.older_than);
        if (ageless)
            fprintf(stderr, "leakwatch: %zu %s without ages (dumps of an older library) left out by --older-than\n",
                    ageless, ageless == 1 ? "site" : "sites");
    }
    /* A closed output pipe is a write error (exit 1), not a death by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    lwr_symbolizer_t *sym = lwr_sym_opts_symbolizer(&o.sym);
    lwr_report_t *rep = NULL;
    if (sym)
        rep = lwr_report_build(dumps.v, dumps.n, sym);
    /* The report names modules by path; the profile's mappings also need their build-ids, which the dumps hold. */
    lwr_pprof_modules_t mods = LWR_PPROF_MODULES_INIT;
    for (size_t j = 0; rep && pprof && j < dumps.n; j++)
        if (lwr_pprof_modules_add(&mods, dumps.v[j]) != 0) {
            lwr_report_free(rep);
            rep = NULL;
        }
    lwr_dumplist_free(&dumps);
    if (rep && lwr_ci_apply(rep, &o.ci) != 0) {
        lwr_report_free(rep);
        rep = NULL;
    }
    lwr_ci_free(&o.ci);
    if (!rep) {
        bool said = !sym;   /* lwr_sym_opts_symbolizer said it */
        lwr_pprof_modules_free(&mods);
        lwr_symbolizer_free(sym);
        lwr_lsan_free(&lsan);
        if (!said)
            fprintf(stderr, "leakwatch: out of memory\n");
        return 1;
    }
    if (o.lsan) {
        int st = lwr_lsan_report(&lsan, rep);
        lwr_pprof_modules_free(&mods);
        lwr_lsan_free(&lsan);
        lwr_report_free(rep);
        lwr_symbolizer_free(sym);
        return st ? st : failed;
    }
    FILE *out = lwr_output_open(o.output);
    if (!out) {
        failed = 1;
    } else {
        int rc = strcmp(o.format, "json") == 0     ? lwr_render_json(out, rep)
                 : strcmp(o.format, "folded") == 0 ? lwr_render_folded(out, rep, o.weight)
                 : strcmp(o.format, "svg") == 0    ? lwr_render_svg(out, rep, o.weight)
                 : pprof                           ? lwr_render_pprof(out, rep, &mods)
                                                   : render_ci_or_text(out, rep, o.format);
        failed |= lwr_output_close(out, o.output, "the report", rc);
    }
    lwr_pprof_modules_free(&mods);
    lwr_report_free(rep);
    lwr_symbolizer_free(sym);
    return failed ? 1 : 0;
}

const lwr_command_t lwr_cmd_report = {
    "report",
    "render saved dumps as text, JSON, SARIF, JUnit, flame graphs or pprof",
    usage,
    report_main,
};

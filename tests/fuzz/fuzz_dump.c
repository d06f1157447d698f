/* libFuzzer harness of the dump reader (report/dump.c, and report/saved.c for saved JSON reports) and what reads its
 * result: the aggregation into a report, the text, JSON and folded renderers, and the series behind diff and trend. */
#include "aggregate.h"
#include "flame.h"
#include "json_arena.h"
#include "render.h"
#include "series.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jansson allocates as in the command: from the arena while sites are parsed (report/json_arena.c) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lwr_json_arena_install();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null_out;
    if (!null_out)
        null_out = fopen("/dev/null", "w");
    char err[512];
    lwr_dump_t *d = lwr_dump_parse((const char *)data, size, "fuzz.json", err, sizeof err);
    if (!d)
        return 0;
    for (size_t i = 0; i < d->nsites; i++)
        for (size_t f = 0; f < d->sites[i].nframes; f++)
            (void)lwr_dump_module_of(d, d->sites[i].frames[f]);
    lwr_report_t *r = lwr_report_build(&d, 1, NULL);
    if (r) {
        lwr_report_sort(r);
        lwr_render_text(null_out, r);
        lwr_render_json(null_out, r);
        lwr_render_folded(null_out, r, LWR_WEIGHT_BYTES);
        lwr_report_free(r);
    }
    lwr_dump_t *two[2] = { d, d };
    lwr_series_t *s = lwr_series_build(two, 2, NULL);
    if (s) {
        json_decref(lwr_diff_json(s, 0, 1));
        lwr_trend_t *t = lwr_trend_rank(s);
        if (t)
            json_decref(lwr_trend_json(s, t));
        free(t);
        lwr_series_free(s);
    }
    lwr_dump_free(d);
    return 0;
}

/* Parses, loads and applies the CI options shared by `leakwatch run` and `leakwatch report`. */
#include "ci.h"

#include "cli.h"
#include "render_ci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int flag(const char *arg, const char *name, bool *out)
{
    if (strcmp(arg, name) != 0)
        return 0;
    *out = true;
    return 1;
}

/* Takes a file-valued option. Returns 1, 0 or -1 as lwr_take_option, refusing an empty value. */
static int file_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **out)
{
    const char *v;
    int r = lwr_take_option(cmd, argc, argv, i, name, &v);
    if (r <= 0)
        return r;
    if (!v[0]) {
        lwr_usage_error(cmd, "%s needs a file name", name);
        return -1;
    }
    *out = v;
    return 1;
}

int lwr_ci_take_option(const char *cmd, int argc, char **argv, int *i, bool outputs, lwr_ci_t *ci)
{
    const char *v = NULL;
    int r;
    if (flag(argv[*i], "--no-default-suppressions", &ci->no_default_supp)
        || flag(argv[*i], "--show-reachable", &ci->show_reachable)
        || flag(argv[*i], "--gen-suppressions", &ci->gen_suppressions)
        || flag(argv[*i], "--show-indirect", &ci->show_indirect)
        || (outputs && flag(argv[*i], "--gate-reachable", &ci->gate_reachable))) {
        (*i)++;
        return 1;
    }
    if ((r = file_option(cmd, argc, argv, i, "--suppressions", &v)) != 0) {
        if (r < 0)
            return -1;
        if (ci->nsupp_files == LWR_MAX_SUPP_FILES) {
            lwr_usage_error(cmd, "more than %d --suppressions files", LWR_MAX_SUPP_FILES);
            return -1;
        }
        ci->supp_files[ci->nsupp_files++] = v;
        return 1;
    }
    if ((r = file_option(cmd, argc, argv, i, "--baseline", &ci->baseline)) != 0)
        return r;
    if (outputs && (r = file_option(cmd, argc, argv, i, "--sarif", &ci->sarif)) != 0)
        return r;
    if (outputs && (r = file_option(cmd, argc, argv, i, "--junit", &ci->junit)) != 0)
        return r;
    return 0;
}

int lwr_ci_load(const char *cmd, lwr_ci_t *ci)
{
    char err[1024];
    if (lwr_supp_setup(&ci->supps, getenv("LEAKWATCH_SUPPRESSIONS"), ci->supp_files, ci->nsupp_files,
                       ci->no_default_supp, err, sizeof err) != 0) {
        fprintf(stderr, "leakwatch %s: suppressions: %s\n", cmd, err);
        return LWR_EXIT_USAGE;
    }
    if (ci->baseline && lwr_baseline_load(&ci->base, ci->baseline, err, sizeof err) != 0) {
        fprintf(stderr, "leakwatch %s: --baseline %s\n", cmd, err);
        return LWR_EXIT_USAGE;
    }
    return 0;
}

int lwr_ci_apply(lwr_report_t *r, const lwr_ci_t *ci)
{
    r->show_reachable = ci->show_reachable;
    r->gen_suppressions = ci->gen_suppressions;
    r->show_indirect = ci->show_indirect;
    if (lwr_supp_apply(r, &ci->supps) != 0)
        return -1;
    if (ci->baseline) {
        lwr_baseline_mark(r, &ci->base);
        r->gate.has_baseline = true;
    }
    return 0;
}

int lwr_ci_write_outputs(const lwr_report_t *r, const lwr_ci_t *ci)
{
    int rc = 0, err;
    if (ci->sarif && (err = lwr_render_to_file(ci->sarif, lwr_render_sarif, r)) != 0) {
        fprintf(stderr, "leakwatch: --sarif %s: %s\n", ci->sarif, strerror(err));
        rc = -1;
    }
    if (ci->junit && (err = lwr_render_to_file(ci->junit, lwr_render_junit, r)) != 0) {
        fprintf(stderr, "leakwatch: --junit %s: %s\n", ci->junit, strerror(err));
        rc = -1;
    }
    return rc;
}

void lwr_ci_free(lwr_ci_t *ci)
{
    lwr_supplist_free(&ci->supps);
    lwr_baseline_free(&ci->base);
}

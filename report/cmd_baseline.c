/* `leakwatch baseline`: turns a JSON report into a baseline file for `leakwatch run --baseline`. */
#include "baseline.h"
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: leakwatch baseline [-o OUT] REPORT.json\n"
    "\n"
    "Writes a baseline from a JSON report (leakwatch run --json, leakwatch report --format json): the call sites\n"
    "of its leaks (reachable sites left out), each with its kind, class, count, bytes and frames. Given to\n"
    "`leakwatch run --baseline OUT`, the leaks at those call sites are still reported but no longer fail the\n"
    "gate. Sites match by kind and by the function and file name of every frame, never by address or line, so\n"
    "a rebuild or an edit elsewhere in a file keeps them matched. A report itself can also serve as a baseline.\n"
    "\n"
    "  -o, --output OUT     write to OUT instead of standard output\n"
    "\n"
    "Exit status: 0; 1 when the report cannot be read or the baseline cannot be written; 2 on a usage error.\n";

static int baseline_main(int argc, char **argv)
{
    const char *output = NULL, *input = NULL;
    int i = 1;
    while (i < argc) {
        const char *v;
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = lwr_take_option("baseline", argc, argv, &i, "--output", &v)) != 0
            || (r = lwr_take_option("baseline", argc, argv, &i, "-o", &v)) != 0) {
            if (r < 0)
                return LWR_EXIT_USAGE;
            if (!v[0])
                return lwr_usage_error("baseline", "-o needs a file name");
            output = v;
            continue;
        }
        if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !input) {
            input = argv[i + 1];
            i += 2;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return lwr_usage_error("baseline", "unknown option '%s'", argv[i]);
        if (input)
            return lwr_usage_error("baseline", "one report only ('%s' and '%s')", input, argv[i]);
        input = argv[i++];
    }
    if (!input)
        return lwr_usage_error("baseline", "no report given");

    json_error_t jerr;
    json_t *report = strcmp(input, "-") == 0 ? json_loadf(stdin, 0, &jerr) : json_load_file(input, 0, &jerr);
    if (!report) {
        if (jerr.line > 0)
            fprintf(stderr, "leakwatch: %s: line %d, column %d: %s\n", input, jerr.line, jerr.column, jerr.text);
        else
            fprintf(stderr, "leakwatch: %s: %s\n", input, jerr.text);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    FILE *out = stdout;
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "leakwatch: %s: %s\n", output, strerror(errno));
        json_decref(report);
        return 1;
    }
    char err[512];
    int rc = lwr_baseline_write(out, report, input, err, sizeof err);
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        snprintf(err, sizeof err, "writing %s failed", output);
        rc = -1;
    }
    if (rc != 0)
        fprintf(stderr, "leakwatch: %s\n", err);
    json_decref(report);
    return rc == 0 ? 0 : 1;
}

const lwr_command_t lwr_cmd_baseline = {
    "baseline",
    "write a baseline from a JSON report, for run --baseline",
    usage,
    baseline_main,
};

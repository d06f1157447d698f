/* Unit tests of the CI outputs: the SARIF log parsed with jansson and checked against the schema's required
 * members and leakwatch's choices (rules, acquiring location, code flow, baseline state); the JUnit XML checked
 * for well-formedness (balanced tags, quoted attributes, escaped text) and for its test cases and failures. */
#include "baseline.h"
#include "render_ci.h"

#include <check.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add_frame(lwr_site_t *s, const char *fn, const char *file, unsigned line, const char *module)
{
    s->frames = realloc(s->frames, (s->nframes + 1) * sizeof *s->frames);
    s->frames[s->nframes++] = (lwr_frame_t){ 0x1000 + s->nframes, fn ? strdup(fn) : NULL, file ? strdup(file) : NULL,
                                             line, module ? strdup(module) : NULL, 0x100 + s->nframes, 0 };
}

static lwr_site_t *new_site(lwr_report_t *r, lwr_kind_t kind, lwr_class_t cls, uint64_t count, uint64_t bytes,
                            long pid)
{
    r->sites = realloc(r->sites, (r->nsites + 1) * sizeof *r->sites);
    lwr_site_t *s = &r->sites[r->nsites++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->cls = cls;
    s->count = count;
    s->bytes = bytes;
    s->samples = calloc(LWR_MAX_SAMPLES, sizeof *s->samples);
    s->npids = 1;
    s->pids = calloc(1, sizeof *s->pids);
    s->pids[0] = pid;
    if (cls != LWR_CLASS_REACHABLE) {
        r->totals[kind].count += count;
        r->totals[kind].bytes += bytes;
    } else {
        r->reachable.count += count;
        r->reachable.bytes += bytes;
    }
    return s;
}

/* Two processes; a heap leak whose innermost frames are in libc (strdup) and whose function name needs escaping,
 * an fd leak in the baseline, a reachable block, a thread leak in the second process. */
static lwr_report_t *ci_report(const char *cwd)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    char file[512];
    snprintf(file, sizeof file, "%s/src/a b&c.c", cwd);
    lwr_site_t *s = new_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 3, 72, 100);
    add_frame(s, "__strdup", "string/strdup.c", 42, "/lib/x86_64-linux-gnu/libc.so.6");
    add_frame(s, "Table<int>::add \"x\" & <y>", file, 41, "/usr/bin/demo");
    add_frame(s, "main", "/elsewhere/main.c", 80, "/usr/bin/demo");
    add_frame(s, NULL, NULL, 0, "/lib/x86_64-linux-gnu/libc.so.6");
    s = new_site(r, LWR_FD, LWR_CLASS_NONE, 1, 0, 100);
    add_frame(s, "open_log", "/elsewhere/log.c", 7, "/usr/bin/demo");
    s->baseline = true;
    s = new_site(r, LWR_HEAP, LWR_CLASS_REACHABLE, 1, 64, 100);
    add_frame(s, "load_config", "/elsewhere/config.c", 3, "/usr/bin/demo");
    s = new_site(r, LWR_THREAD, LWR_CLASS_NONE, 1, 0, 101);
    add_frame(s, NULL, NULL, 0, NULL);
    r->nprocesses = 2;
    r->processes = calloc(2, sizeof *r->processes);
    r->processes[0] = (lwr_process_t){ 100, 1, strdup("/usr/bin/demo"), calloc(1, sizeof(char *)), 0, true, 0,
                                       strdup("leakwatch.100.1.json"), NULL, 0, 0, 0, 0, 0 };
    r->processes[1] = (lwr_process_t){ 101, 100, strdup("/usr/bin/wor<k>er"), calloc(1, sizeof(char *)), 0, true, 0,
                                       strdup("leakwatch.101.1.json"), NULL, 0, 0, 0, 0, 0 };
    lwr_report_gate(r, 0, LWR_ALL_KINDS, false, true);
    return r;
}

static char *render(int (*fn)(FILE *, const lwr_report_t *), const lwr_report_t *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(fn(f, r), 0);
    fclose(f);
    return text;
}

static json_t *get(json_t *obj, const char *path)
{
    /* A dotted path of members and [i] indices: "runs[0].tool.driver.name". */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = obj;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) {
        char *br = strchr(tok, '[');
        if (br)
            *br = '\0';
        if (*tok)
            v = json_object_get(v, tok);
        while (br && v) {
            v = json_array_get(v, strtoul(br + 1, &br, 10));
            br = strchr(br, '[');
        }
    }
    ck_assert_msg(v != NULL, "missing %s", path);
    return v;
}

static const char *str(json_t *obj, const char *path)
{
    json_t *v = get(obj, path);
    ck_assert_msg(json_is_string(v), "%s is not a string", path);
    return json_string_value(v);
}

START_TEST(sarif_has_the_required_members)
{
    char cwd[400];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    lwr_report_t *r = ci_report(cwd);
    char *text = render(lwr_render_sarif, r);
    json_error_t jerr;
    json_t *log = json_loads(text, 0, &jerr);
    ck_assert_msg(log != NULL, "not JSON: %s", jerr.text);

    ck_assert_str_eq(str(log, "version"), "2.1.0");
    ck_assert_msg(strstr(str(log, "$schema"), "sarif-2.1.0") != NULL, "$schema");
    ck_assert_uint_eq(json_array_size(get(log, "runs")), 1);
    ck_assert_str_eq(str(log, "runs[0].tool.driver.name"), "leakwatch");
    ck_assert(json_is_string(get(log, "runs[0].tool.driver.version")));
    json_t *rules = get(log, "runs[0].tool.driver.rules");
    ck_assert_uint_ge(json_array_size(rules), 8);
    for (size_t i = 0; i < json_array_size(rules); i++) {
        ck_assert(json_is_string(json_object_get(json_array_get(rules, i), "id")));
        ck_assert(json_is_string(get(json_array_get(rules, i), "shortDescription.text")));
    }

    /* Three leaks (the reachable block is no result without --gate-reachable). */
    json_t *results = get(log, "runs[0].results");
    ck_assert_uint_eq(json_array_size(results), 3);
    for (size_t i = 0; i < json_array_size(results); i++) {
        json_t *res = json_array_get(results, i);
        const char *rule = str(res, "ruleId");
        json_int_t index = json_integer_value(get(res, "ruleIndex"));
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rules, (size_t)index), "id")), rule);
        ck_assert(strlen(str(res, "message.text")) > 0);
        ck_assert(json_is_array(get(res, "locations")));
    }
    json_t *heap = json_array_get(results, 0);
    ck_assert_str_eq(str(heap, "ruleId"), "leakwatch/heap-definite");
    ck_assert_str_eq(str(heap, "level"), "error");
    ck_assert_msg(strstr(str(heap, "message.text"), "72 bytes in 3 heap blocks leaked (definite)") != NULL, "%s",
                  str(heap, "message.text"));
    /* The location is the program's line, not libc's strdup; below the current directory, relative to SRCROOT. */
    ck_assert_str_eq(str(heap, "locations[0].physicalLocation.artifactLocation.uri"), "src/a%20b%26c.c");
    ck_assert_str_eq(str(heap, "locations[0].physicalLocation.artifactLocation.uriBaseId"), "SRCROOT");
    ck_assert_int_eq(json_integer_value(get(heap, "locations[0].physicalLocation.region.startLine")), 41);
    const char *base = str(log, "runs[0].originalUriBaseIds.SRCROOT.uri");
    ck_assert(strncmp(base, "file:///", 8) == 0 && base[strlen(base) - 1] == '/');
    /* The code flow is the whole stack, outermost first. */
    json_t *flow = get(heap, "codeFlows[0].threadFlows[0].locations");
    ck_assert_uint_eq(json_array_size(flow), 4);
    /* A relative file from the debug information has no base to resolve against: the message names it and the
     * location is the module, an absolute URI. */
    ck_assert_str_eq(str(flow, "[3].location.message.text"), "#0 __strdup string/strdup.c:42");
    ck_assert_str_eq(str(flow, "[3].location.physicalLocation.artifactLocation.uri"),
                     "file:///lib/x86_64-linux-gnu/libc.so.6");
    ck_assert_ptr_null(json_object_get(json_object_get(json_object_get(json_array_get(flow, 3), "location"),
                                                       "physicalLocation"),
                                       "region"));
    ck_assert(strncmp(str(log, "runs[0].tool.driver.informationUri"), "file:///", 8) == 0
              || strncmp(str(log, "runs[0].tool.driver.informationUri"), "https://", 8) == 0);
    ck_assert_str_eq(str(flow, "[1].location.physicalLocation.artifactLocation.uri"), "file:///elsewhere/main.c");
    ck_assert_int_eq(json_integer_value(get(flow, "[1].location.physicalLocation.region.startLine")), 80);
    ck_assert_str_eq(str(heap, "baselineState"), "new");
    ck_assert(json_is_string(get(heap, "partialFingerprints.leakwatchSite/v1")));

    json_t *fd = json_array_get(results, 1);
    ck_assert_str_eq(str(fd, "ruleId"), "leakwatch/fd");
    ck_assert_str_eq(str(fd, "baselineState"), "unchanged");
    ck_assert_str_eq(str(fd, "level"), "warning");
    json_t *thread = json_array_get(results, 2);
    ck_assert_str_eq(str(thread, "ruleId"), "leakwatch/thread");
    ck_assert_uint_eq(json_array_size(get(thread, "locations")), 1);

    json_decref(log);
    free(text);
    lwr_report_free(r);
}
END_TEST

/* A small XML checker: one root element, tags balanced and properly nested, attributes quoted, no raw '<' or
 * '&' outside markup and references, only the five predefined entities and numeric references. Returns NULL or
 * the reason. */
static const char *xml_check(const char *p)
{
    const char *stack[64];
    size_t lens[64], depth = 0;
    int roots = 0;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        if (!p)
            return "unterminated declaration";
        p += 2;
    }
    while (*p) {
        if (*p == '&') {
            static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
            size_t k, ok = 0;
            for (k = 0; k < 5; k++)
                ok |= strncmp(p, ents[k], strlen(ents[k])) == 0;
            if (!ok && p[1] == '#') {
                const char *q = p + 2;
                while (isalnum((unsigned char)*q))
                    q++;
                ok = *q == ';';
            }
            if (!ok)
                return "bad entity";
            p = strchr(p, ';') + 1;
            continue;
        }
        if (*p == '>')
            return "raw '>' in text";
        if (*p != '<') {
            if (depth == 0 && !isspace((unsigned char)*p))
                return "text outside the root element";
            p++;
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing, *q = name;
        while (*q && !isspace((unsigned char)*q) && *q != '>' && *q != '/')
            q++;
        size_t nlen = (size_t)(q - name);
        if (nlen == 0)
            return "empty tag name";
        /* attributes */
        while (*q && *q != '>' && !(q[0] == '/' && q[1] == '>')) {
            if (isspace((unsigned char)*q)) {
                q++;
                continue;
            }
            if (closing)
                return "attribute in a closing tag";
            while (*q && *q != '=' && *q != '>')
                q++;
            if (*q != '=' || q[1] != '"')
                return "unquoted attribute";
            q += 2;
            while (*q && *q != '"') {
                if (*q == '<')
                    return "'<' in an attribute";
                if (*q == '&') {
                    const char *semi = strchr(q, ';');
                    if (!semi || semi - q > 8)
                        return "bad entity in an attribute";
                }
                q++;
            }
            if (*q != '"')
                return "unterminated attribute";
            q++;
        }
        if (!*q)
            return "unterminated tag";
        int empty = q[0] == '/';
        if (closing) {
            if (depth == 0 || lens[depth - 1] != nlen || strncmp(stack[depth - 1], name, nlen) != 0)
                return "mismatched closing tag";
            depth--;
        } else if (!empty) {
            if (depth == 0)
                roots++;
            if (depth == 64)
                return "too deep";
            stack[depth] = name;
            lens[depth++] = nlen;
        } else if (depth == 0) {
            roots++;
        }
        p = q + (empty ? 2 : 1);
    }
    if (depth != 0)
        return "unclosed element";
    return roots == 1 ? NULL : "not exactly one root element";
}

START_TEST(xml_checker_catches_broken_documents)
{
    ck_assert_ptr_null(xml_check("<a x=\"1\"><b/>t &amp; u</a>"));
    ck_assert_ptr_nonnull(xml_check("<a><b></a></b>"));
    ck_assert_ptr_nonnull(xml_check("<a>x & y</a>"));
    ck_assert_ptr_nonnull(xml_check("<a x=\"<\"></a>"));
    ck_assert_ptr_nonnull(xml_check("<a></a><b></b>"));
    ck_assert_ptr_nonnull(xml_check("<a>"));
}
END_TEST

START_TEST(junit_is_well_formed_with_a_failure_per_gated_site)
{
    lwr_report_t *r = ci_report("/nowhere");
    /* A control character in a name cannot appear in XML 1.0, even escaped. */
    free(r->sites[0].frames[2].function);
    r->sites[0].frames[2].function = strdup("ma\x01in");
    char *text = render(lwr_render_junit, r);
    const char *why = xml_check(text);
    ck_assert_msg(why == NULL, "%s:\n%s", why, text);
    ck_assert_msg(strstr(text, "<testsuites name=\"leakwatch\" tests=\"2\" failures=\"2\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "<testcase classname=\"leakwatch\" name=\"demo (pid 100)\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "name=\"wor&lt;k&gt;er (pid 101)\"") != NULL, "%s", text);
    /* the summary is the text report's title of the site: a definite block is "heap: ...", with no class word */
    ck_assert_msg(strstr(text, "<failure type=\"leakwatch/heap-definite\" message=\"heap: 72 bytes in 3 blocks "
                               "at Table&lt;int&gt;::add &quot;x&quot; &amp; &lt;y&gt; a b&amp;c.c:41\">")
                      != NULL,
                  "%s", text);
    ck_assert_msg(!strstr(text, "(definite)"), "%s", text);
    ck_assert_msg(strstr(text, "<failure type=\"leakwatch/thread\" message=\"thread: 1 thread still open (neither "
                               "joined nor detached)\""),
                  "%s", text);
    ck_assert_msg(strstr(text, "#1 Table&lt;int&gt;::add \"x\" &amp; &lt;y&gt; /nowhere/src/a b&amp;c.c:41 (demo)"),
                  "%s", text);
    ck_assert_msg(strstr(text, "ma\xef\xbf\xbdin"), "%s", text);
    ck_assert_msg(strstr(text, "<failure type=\"leakwatch/thread\""), "%s", text);
    /* The fd site is in the baseline: shown, not failed. */
    ck_assert_msg(!strstr(text, "<failure type=\"leakwatch/fd\""), "%s", text);
    ck_assert_msg(strstr(text, "<system-out>fd: 1 descriptor still open at open_log log.c:7 (in baseline)"), "%s",
                  text);
    ck_assert_msg(!strstr(text, "load_config"), "reachable sites are not failures: %s", text);
    free(text);

    /* An indirect site and a cycle's head are titled as the text report titles them. */
    lwr_site_t *ind = new_site(r, LWR_HEAP, LWR_CLASS_INDIRECT, 2, 48, 100);
    add_frame(ind, "make_node", "/elsewhere/tree.c", 12, "/usr/bin/demo");
    lwr_site_t *cyc = new_site(r, LWR_HEAP, LWR_CLASS_INDIRECT, 1, 96, 101);
    add_frame(cyc, "cycle_head", "/elsewhere/tree.c", 30, "/usr/bin/demo");
    cyc->cycle = cyc->attributed = true;
    lwr_report_gate(r, 0, LWR_ALL_KINDS, false, true);
    text = render(lwr_render_junit, r);
    ck_assert_ptr_null(xml_check(text));
    ck_assert_msg(strstr(text, "<failure type=\"leakwatch/heap-indirect\" message=\"heap, indirect (only leaked "
                               "blocks point to them): 48 bytes in 2 blocks at make_node tree.c:12\""),
                  "%s", text);
    ck_assert_msg(strstr(text, "<failure type=\"leakwatch/heap-indirect\" message=\"heap, indirect cycle (no "
                               "definite block reaches it): 96 bytes in 1 block at cycle_head tree.c:30\""),
                  "%s", text);
    free(text);

    /* No process, no failure: still a valid document. */
    lwr_report_t empty;
    memset(&empty, 0, sizeof empty);
    text = render(lwr_render_junit, &empty);
    ck_assert_ptr_null(xml_check(text));
    ck_assert(strstr(text, "tests=\"0\" failures=\"0\""));
    free(text);
    lwr_report_free(r);
}
END_TEST

START_TEST(acquiring_frame_skips_the_runtime)
{
    lwr_report_t *r = ci_report("/x");
    ck_assert_str_eq(lwr_acquiring_frame(&r->sites[0])->function, "Table<int>::add \"x\" & <y>");
    ck_assert_ptr_null(lwr_acquiring_frame(&r->sites[3]));
    ck_assert_str_eq(lwr_rule_id(&r->sites[2]), "leakwatch/heap-reachable");
    char path[] = "/tmp/lwr_sarif_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(lwr_render_to_file(path, lwr_render_sarif, r), 0);
    ck_assert_int_ne(lwr_render_to_file("/nonexistent/dir/x.sarif", lwr_render_sarif, r), 0);
    unlink(path);
    lwr_report_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_sarif");
    TCase *tc = tcase_create("sarif");
    tcase_add_test(tc, sarif_has_the_required_members);
    tcase_add_test(tc, xml_checker_catches_broken_documents);
    tcase_add_test(tc, junit_is_well_formed_with_a_failure_per_gated_site);
    tcase_add_test(tc, acquiring_frame_skips_the_runtime);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

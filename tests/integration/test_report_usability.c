/* Integration tests for what makes a report easy to act on: source columns, operator new[] named as such, the
 * SUMMARY line, ages in the JSON report, generated suppressions, symbols from --debug-dir and --sysroot, and the
 * progress line. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define TREE_SRC "tests/fixtures/tree.c"
#define NO_GATE LWT_ARGV("--max-leaks", "1000000")

/* The 1-based columns of the first two `malloc(` on the line of TREE_SRC holding `@line`. */
static void tree_columns(int *first, int *second)
{
    int line = LWT_MARKER_LINE(TREE_SRC, "@line");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", lwt_root(), TREE_SRC);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    char text[512] = "";
    for (int i = 0; i < line; i++)
        ck_assert(fgets(text, sizeof text, f) != NULL);
    fclose(f);
    char *a = strstr(text, "malloc("), *b = a ? strstr(a + 1, "malloc(") : NULL;
    ck_assert_msg(a && b, "two malloc calls on line %d of %s", line, TREE_SRC);
    *first = (int)(a - text) + 1;
    *second = (int)(b - text) + 1;
}

/* Two allocations on one line are two sites, told apart by the column of each call, in JSON and in text (where
 * --show-indirect lists the tree's indirect sites under its root). */
START_TEST(test_columns)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r =
        lwt_leakwatch(LWT_ARGV("--max-leaks", "1000000", "--show-indirect"), LWT_ARGV(lwt_fixture("tree")), NULL);
    LWT_ASSERT_RUN(r, 0);
    int line = LWT_MARKER_LINE(TREE_SRC, "@line"), c1, c2;
    tree_columns(&c1, &c2);
    LWT_ASSERT_TOTALS(r, "heap", 30, 15 * 24 + 15 * 9, "15 nodes of 24 bytes and 15 labels of 9");
    json_t *sites = json_object_get(r->report, "sites");
    size_t i;
    json_t *site;
    int n1 = 0, n2 = 0;
    json_array_foreach(sites, i, site) {
        json_t *f0 = json_array_get(json_object_get(site, "frames"), 0);
        ck_assert_msg(lwt_int(f0, "line") == line, "every site is allocated on line %d%s", line, lwt_describe(r));
        long long col = lwt_int(f0, "column");
        ck_assert_msg(col == c1 || col == c2, "column %lld is one of the two calls (%d, %d)%s", col, c1, c2,
                      lwt_describe(r));
        n1 += col == c1 && lwt_site_bytes(site) == 24 * lwt_site_count(site);
        n2 += col == c2 && lwt_site_bytes(site) == 9 * lwt_site_count(site);
    }
    /* one site per path from the root for each call: 15 each; merged by line alone they would be 15 (16 with the
     * root's two classes) */
    ck_assert_msg(n1 == 15 && n2 == 15, "15 node sites at column %d, 15 label sites at column %d: %d, %d%s", c1, c2,
                  n1, n2, lwt_describe(r));
    char want[64];
    snprintf(want, sizeof want, "tree.c:%d:%d (tree)\n", line, c1);
    ck_assert_msg(strstr(r->err, want), "the text report shows %s%s", want, lwt_describe(r));
    snprintf(want, sizeof want, "tree.c:%d:%d (tree)\n", line, c2);
    ck_assert_msg(strstr(r->err, want), "the text report shows %s%s", want, lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* `new char[n]` is seen inside operator new, which libstdc++'s operator new[] jumps to: the innermost frame is
 * named operator new[] in JSON and text, and a plain `new` keeps operator new. */
START_TEST(test_array_new)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_cxx")), NULL);
    LWT_ASSERT_RUN(r, 0);
    json_t *arr = LWT_ASSERT_SITE(r, "heap", "use_new_array", 1, 1017);
    json_t *one = LWT_ASSERT_SITE(r, "heap", "use_new", 1, 1018);
    const char *fa = json_string_value(json_object_get(json_array_get(json_object_get(arr, "frames"), 0), "function"));
    const char *fo = json_string_value(json_object_get(json_array_get(json_object_get(one, "frames"), 0), "function"));
    ck_assert_msg(fa && strcmp(fa, "operator new[](unsigned long)") == 0, "new[]: innermost frame '%s'%s",
                  fa ? fa : "(null)", lwt_describe(r));
    ck_assert_msg(fo && strcmp(fo, "operator new(unsigned long)") == 0, "new: innermost frame '%s'%s",
                  fo ? fo : "(null)", lwt_describe(r));
    const char *t = strstr(r->err, "heap: 1017 bytes in 1 block");
    ck_assert_msg(t && strncmp(strchr(t, '\n'), "\n    #0 operator new[](unsigned long) (libstdc++", 47) == 0,
                  "the text report names operator new[]%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* The SUMMARY line comes after the sites and before the gate's line; a clean run stays one line. */
START_TEST(test_summary)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_kinds")), NULL);
    LWT_ASSERT_RUN(r, 23);
    char want[256];
    long long heap = lwt_total_count(r->report, "heap"), bytes = lwt_total_bytes(r->report, "heap");
    long long fds = lwt_total_count(r->report, "fd");
    ck_assert_msg(fds > 1, "fd_kinds leaks descriptors%s", lwt_describe(r));
    snprintf(want, sizeof want, "\nSUMMARY: leakwatch: %lld %s leaked in %lld %s; %lld descriptors\nleakwatch: ", bytes,
             bytes == 1 ? "byte" : "bytes", heap, heap == 1 ? "allocation" : "allocations", fds);
    const char *at = strstr(r->err, want);
    ck_assert_msg(at, "the summary '%s' before the gate line%s", want, lwt_describe(r));
    ck_assert_msg(strstr(at + 1, "leakwatch: ") && strstr(strstr(at + 1, "leakwatch: "), "exit status 23\n"),
                  "the gate's line follows it%s", lwt_describe(r));
    lwt_free(r);

    r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("tree")), NULL);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(strstr(r->err, "\nSUMMARY: leakwatch: 495 bytes leaked in 30 allocations\nleakwatch: 30 leaks"),
                  "the tree's summary%s", lwt_describe(r));
    lwt_free(r);

    r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("clean"), "0"), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(strcmp(r->err, "leakwatch: no leaks (1 process)\n") == 0, "a clean run is one line%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Every artifactLocation under `j` has a base (uriBaseId) or an absolute file:// URI; returns how many there are. */
static int check_artifacts(json_t *j, const lwt_result_t *r)
{
    int n = 0;
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (strcmp(key, "artifactLocation") == 0) {
                const char *uri = json_string_value(json_object_get(v, "uri"));
                ck_assert_msg(uri && (json_object_get(v, "uriBaseId") || strncmp(uri, "file:///", 8) == 0),
                              "artifactLocation '%s' has a base or is absolute%s", uri ? uri : "(null)",
                              lwt_describe(r));
                n++;
            }
            n += check_artifacts(v, r);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
            n += check_artifacts(v, r);
    }
    return n;
}

/* The JUnit file validates against Jenkins' junit-10 structure (tests/fixtures/junit-10.xsd, which refuses a
 * `file` attribute on <testcase>), failures and system-out included; SARIF names its informationUri and every
 * artifact location resolves. */
START_TEST(test_ci_formats)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp(), junit[4096], sarif[4096], xsd[4096], bad[4096];
    snprintf(junit, sizeof junit, "%s/leaks.xml", dir);
    snprintf(sarif, sizeof sarif, "%s/leaks.sarif", dir);
    snprintf(bad, sizeof bad, "%s/bad.xml", dir);
    snprintf(xsd, sizeof xsd, "%s/tests/fixtures/junit-10.xsd", lwt_root());
    /* heap gated, descriptors listed in system-out */
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--kinds", "heap", "--junit", junit, "--sarif", sarif),
                                    LWT_ARGV(lwt_fixture("fd_kinds")), NULL);
    LWT_ASSERT_RUN(r, 23);
    lwt_result_t *x = lwt_exec(LWT_ARGV("xmllint", "--noout", "--schema", xsd, junit), NULL);
    ck_assert_msg(x->exited && x->exit_code == 0, "the JUnit file validates: %s", x->err);
    lwt_free(x);
    FILE *f = fopen(junit, "r");
    char text[1 << 16];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    ck_assert_msg(strstr(text, "<failure") && strstr(text, "<system-out>") && strstr(text, "    #0 "),
                  "failures with stacks and system-out are there: %s", text);

    /* the schema is strict: the attribute the old output had is refused */
    lwt_write_file(bad, "<testsuites><testsuite name=\"s\" tests=\"1\"><testcase name=\"c\" file=\"/bin/x\"/>"
                        "</testsuite></testsuites>\n");
    x = lwt_exec(LWT_ARGV("xmllint", "--noout", "--schema", xsd, bad), NULL);
    ck_assert_msg(x->exited && x->exit_code != 0 && strstr(x->err, "'file'"), "file= is refused: %s", x->err);
    lwt_free(x);

    json_error_t jerr;
    json_t *log = json_load_file(sarif, 0, &jerr);
    ck_assert_msg(log, "SARIF: %s", jerr.text);
    json_t *driver = json_object_get(json_object_get(json_array_get(json_object_get(log, "runs"), 0), "tool"),
                                     "driver");
    const char *info = json_string_value(json_object_get(driver, "informationUri"));
    ck_assert_msg(info && (strncmp(info, "file:///", 8) == 0 || strncmp(info, "https://", 8) == 0),
                  "informationUri is an absolute URI: %s", info ? info : "(null)");
    ck_assert_msg(check_artifacts(log, r) > 0, "the log has artifact locations%s", lwt_describe(r));
    json_decref(log);
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* Runs `sh -c script` with $T, $L (the CLI), $F (the tree fixture) and $P (the library) set; fails the test when it
 * does not exit 0. Returns the result for its output. */
static lwt_result_t *shell(const char *dir, const char *script)
{
    char t[4200], l[4200], f[4200], pl[4200];
    snprintf(t, sizeof t, "T=%s", dir);
    snprintf(l, sizeof l, "L=%s", lwt_cli());
    snprintf(f, sizeof f, "F=%s", lwt_fixture("tree"));
    snprintf(pl, sizeof pl, "P=%s", lwt_lib());
    const char *env[] = { t, l, f, pl, "DEBUGINFOD_URLS=", NULL };
    lwt_opts_t o = { .env = env, .timeout_s = 120 };
    lwt_result_t *r = lwt_exec(LWT_ARGV("sh", "-c", script), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s\nstdout: %s\nstderr: %s", script, r->out, r->err);
    return r;
}

/* An output that cannot be written fails the command (exit 1) and says why; a reader that stopped early (`| head`)
 * gets the exit status only, no message. */
START_TEST(test_failed_output)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_result_t *r = shell(dir, "mkdir \"$T/d\" && LD_PRELOAD=\"$P\" LEAKWATCH_DUMP_DIR=\"$T/d\" LEAKWATCH_REPORT=none "
                                 "\"$F\" >/dev/null; \"$L\" report \"$T/d\" >/dev/full 2>\"$T/full\"; echo full=$?; "
                                 "{ sleep 1; \"$L\" report \"$T/d\" 2>\"$T/pipe\"; echo $? >\"$T/rc\"; } | true; "
                                 "echo pipe=$(cat \"$T/rc\"); cat \"$T/full\" \"$T/pipe\"");
    ck_assert_msg(lwt_out_value(r, "full", -1) == 1 && lwt_out_value(r, "pipe", -1) == 1, "%s", r->out);
    ck_assert_msg(strstr(r->out, "\nleakwatch: writing the report failed: No space left on device\n") != NULL,
                  "the cause is not named:\n%s", r->out);
    const char *first = strstr(r->out, "writing the report failed");
    ck_assert_msg(!strstr(first + 1, "writing the report failed"), "a closed pipe was named:\n%s", r->out);
    lwt_free(r);
    lwt_rmtree(dir);
}
END_TEST

/* A stripped copy of the tree fixture in $T/bin, its debug file in $T/keep.debug, and a dump of it in $T/dumps. */
static const char stripped_tree[] =
    "set -e; mkdir -p $T/bin $T/dumps; cp $F $T/bin/tree; objcopy --only-keep-debug $T/bin/tree $T/keep.debug;"
    "objcopy --strip-all --add-gnu-debuglink=$T/keep.debug $T/bin/tree $T/bin/tree.s; mv $T/bin/tree.s $T/bin/tree;"
    "LD_PRELOAD=$P LEAKWATCH_REPORT=none LEAKWATCH_DUMP_DIR=$T/dumps $T/bin/tree >/dev/null;"
    "ID=$(readelf -n $T/bin/tree | sed -n 's/.*Build ID: *//p'); test -n \"$ID\"; echo $ID > $T/id";

/* Whether `text` has a line like `want` ("    #0 make /", a star, "/tree.c:L:C (tree)" and a newline), where the
 * star stands for the directory of the source. */
static int has_frame(const char *text, const char *want)
{
    const char *star = strchr(want, '*'), *rest = star + 2;     /* after "*" and "/" */
    size_t head = (size_t)(star - want);
    for (const char *p = strstr(text, "    #0 make /"); p; p = strstr(p + 1, "    #0 make /")) {
        const char *nl = strchr(p, '\n'), *tail = strstr(p, rest);
        if (strncmp(p, want, head) == 0 && tail && nl && tail + strlen(rest) == nl + 1 && tail[-1] == '/')
            return 1;
    }
    return 0;
}

/* The report of $T/dumps with `opts` names the tree's functions with their lines and columns. */
static void assert_symbolized(const char *dir, const char *opts)
{
    int line = LWT_MARKER_LINE(TREE_SRC, "@line"), c1, c2;
    tree_columns(&c1, &c2);
    char script[1024], want[128];
    snprintf(script, sizeof script, "$L report %s $T/dumps", opts);
    lwt_result_t *r = shell(dir, script);
    snprintf(want, sizeof want, "    #0 make /%s/%s:%d:%d (tree)\n", "*", "tree.c", line, c1);
    ck_assert_msg(has_frame(r->out, want), "report %s shows '%s':\n%s", opts, want, r->out);
    lwt_free(r);
}

/* A stripped binary whose debug file was copied elsewhere: raw offsets without help; --debug-dir finds the debug
 * file by its debuglink name, by build-id and by the binary's name; --sysroot finds a binary moved under it. */
START_TEST(test_debug_dir_and_sysroot)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_free(shell(dir, stripped_tree));
    lwt_result_t *r = shell(dir, "$L report $T/dumps");
    ck_assert_msg(strstr(r->out, "(tree+0x") && !strstr(r->out, " make "), "stripped: raw offsets\n%s", r->out);
    lwt_free(r);
    lwt_free(shell(dir, "set -e; ID=$(cat $T/id); mkdir -p $T/d1 $T/d2/.build-id/$(echo $ID | cut -c1-2) $T/d3;"
                        "cp $T/keep.debug $T/d1/keep.debug;"
                        "cp $T/keep.debug $T/d2/.build-id/$(echo $ID | cut -c1-2)/$(echo $ID | cut -c3-).debug;"
                        "cp $T/keep.debug $T/d3/tree; rm $T/keep.debug"));
    assert_symbolized(dir, "--debug-dir $T/d1");
    assert_symbolized(dir, "--debug-dir $T/nowhere --debug-dir $T/d2");
    assert_symbolized(dir, "--debug-dir $T/d3");
    /* the binary is gone from its path: found under --sysroot, its debug file in the sysroot's /usr/lib/debug */
    lwt_free(shell(dir, "set -e; ID=$(cat $T/id); mkdir -p $T/sys$T/bin $T/sys/usr/lib/debug;"
                        "mv $T/bin/tree $T/sys$T/bin/tree; cp -r $T/d2/.build-id $T/sys/usr/lib/debug/"));
    assert_symbolized(dir, "--sysroot $T/sys");
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* Every command that symbolizes dumps takes --debug-dir and --sysroot, and names a frame as report does, with its
 * column: diff (text and JSON), trend (JSON), triage (in tmux) and run, on the stripped tree whose debug file is
 * in $T/d1. */
START_TEST(test_symbols_in_every_command)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_free(shell(dir, stripped_tree));
    /* tree.json the dump, empty.json the same dump holding nothing any more */
    lwt_free(shell(dir, "set -e; mkdir -p $T/d1; cp $T/keep.debug $T/d1/; cp $(ls $T/dumps/*.json) $T/tree.json;"
                        "sed 's/\"count\": *[0-9]*/\"count\": 0/g; s/\"bytes\": *[0-9]*/\"bytes\": 0/g'"
                        " $T/tree.json > $T/empty.json"));
    int line = LWT_MARKER_LINE(TREE_SRC, "@line"), c1, c2;
    tree_columns(&c1, &c2);
    char at1[128], at2[128];
    snprintf(at1, sizeof at1, " at make tree.c:%d:%d\n", line, c1);
    snprintf(at2, sizeof at2, " at make tree.c:%d:%d\n", line, c2);
    /* diff NEW OLD: every site of the tree is gone, each listed with where it was acquired */
    lwt_result_t *r = shell(dir, "$L diff --debug-dir $T/d1 $T/tree.json $T/empty.json");
    ck_assert_msg(strstr(r->out, at1) || strstr(r->out, at2), "diff names '%s' with its column:\n%s", at1, r->out);
    lwt_free(r);
    r = shell(dir, "$L diff $T/tree.json $T/empty.json");
    ck_assert_msg(strstr(r->out, " at tree+0x") && !strstr(r->out, " at make "), "without it, raw offsets:\n%s", r->out);
    lwt_free(r);
    r = shell(dir, "$L diff --format json --debug-dir=$T/d1 $T/tree.json $T/empty.json");
    char col1[64], col2[64];
    snprintf(col1, sizeof col1, "\"column\": %d", c1);
    snprintf(col2, sizeof col2, "\"column\": %d", c2);
    ck_assert_msg(strstr(r->out, "\"function\": \"make\"") && (strstr(r->out, col1) || strstr(r->out, col2)),
                  "diff JSON frames carry the column:\n%.2000s", r->out);
    lwt_free(r);
    r = shell(dir, "$L trend --format json --sysroot / --debug-dir $T/d1 $T/tree.json $T/empty.json");
    ck_assert_msg(strstr(r->out, "\"function\": \"make\"") && (strstr(r->out, col1) || strstr(r->out, col2)),
                  "trend JSON:\n%.2000s", r->out);
    lwt_free(r);
    /* run: the stripped binary's report from its debug file */
    r = shell(dir, "$L run --debug-dir $T/d1 --max-leaks 1000000 -- $T/bin/tree 2>&1 >/dev/null");
    char want[128];
    snprintf(want, sizeof want, "    #0 make /%s/%s:%d:%d (tree)\n", "*", "tree.c", line, c1);
    ck_assert_msg(has_frame(r->out, want), "run --debug-dir shows '%s':\n%s", want, r->out);
    lwt_free(r);
    /* triage: the list names the site as diff does */
    const char *tm = lwt_which(LWT_ARGV("/usr/bin/tmux", "/usr/local/bin/tmux"));
    ck_assert_msg(tm != NULL, "tmux is missing: run scripts/install-deps");
    r = shell(dir, "S=lwsym-$$; tmux -L $S new-session -d -s lw -x 120 -y 24 \"$L triage --debug-dir $T/d1 "
                   "$T/tree.json\"; sleep 1; tmux -L $S capture-pane -p -t lw; tmux -L $S kill-server");
    snprintf(at1, sizeof at1, "  make tree.c:%d:%d", line, c1);
    snprintf(at2, sizeof at2, "  make tree.c:%d:%d", line, c2);
    ck_assert_msg(strstr(r->out, at1) || strstr(r->out, at2), "triage lists '%s':\n%s", at1, r->out);
    lwt_free(r);
    /* an empty directory is a usage error in each of them */
    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", "--debug-dir=", "a", "b"), NULL);
    ck_assert_msg(r->exit_code == 2 && strstr(r->err, "--debug-dir needs a directory"), "%s", lwt_describe(r));
    lwt_free(r);
    char dumps[4200];
    snprintf(dumps, sizeof dumps, "%s/dumps", dir);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "diff", dumps, dumps), NULL);
    ck_assert_msg(r->exit_code == 2 && strstr(r->err, "is a directory: give two dump files"), "diff of a directory%s",
                  lwt_describe(r));
    lwt_free(r);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "run", "--sysroot=", "--", "true"), NULL);
    ck_assert_msg(r->exit_code == 2 && strstr(r->err, "--sysroot needs a directory"), "%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* debuginfod: a local server (debuginfod -F on loopback) serves the stripped binary and its debug file by build-id;
 * neither is on disk where the dump says. */
START_TEST(test_debuginfod)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_free(shell(dir, stripped_tree));
    lwt_free(shell(dir, "set -e; mkdir -p $T/srv $T/cache; mv $T/bin/tree $T/keep.debug $T/srv/"));
    /* The server's port: one the kernel gave out and released. The server is ours (its pid in $T/pid) and is
     * stopped by pid. Waiting for its scan polls its metrics, at most 30 s. */
    lwt_result_t *r = shell(dir,
        "PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])');"
        "debuginfod -F $T/srv -p $PORT -d $T/db.sqlite -t0 -g0 >$T/server.log 2>&1 & echo $! > $T/pid;"
        "i=0; until curl -s http://127.0.0.1:$PORT/metrics 2>/dev/null"
        " | grep -q '^scanned_files_total{source=\"file\"} 2$'; do"
        " i=$((i+1)); if [ $i -gt 300 ]; then kill $(cat $T/pid); cat $T/server.log; exit 1; fi; sleep 0.1; done;"
        "DEBUGINFOD_URLS=http://127.0.0.1:$PORT DEBUGINFOD_CACHE_PATH=$T/cache $L report $T/dumps; s=$?;"
        "kill $(cat $T/pid); wait; exit $s");
    int line = LWT_MARKER_LINE(TREE_SRC, "@line"), c1, c2;
    tree_columns(&c1, &c2);
    char want[128];
    snprintf(want, sizeof want, "    #0 make /%s/%s:%d:%d (tree)\n", "*", "tree.c", line, c1);
    ck_assert_msg(has_frame(r->out, want), "debuginfod: '%s' in\n%s", want, r->out);
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* The identity of a JSON report site, for comparing reports: kind, class, then function, line and column of each
 * frame (its offset for a frame without a function). Returns a malloc'd string. */
static char *site_id(json_t *site)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *cls = json_string_value(json_object_get(site, "class"));
    fprintf(f, "%s/%s", json_string_value(json_object_get(site, "kind")), cls ? cls : "-");
    size_t i;
    json_t *fr;
    json_array_foreach(json_object_get(site, "frames"), i, fr) {
        const char *fn = json_string_value(json_object_get(fr, "function"));
        const char *off = json_string_value(json_object_get(fr, "offset"));
        if (fn)
            fprintf(f, "|%s:%lld:%lld", fn, lwt_int(fr, "line"), lwt_int(fr, "column"));
        else    /* a frame without a name is told apart by its place in its module */
            fprintf(f, "|?+%s", off ? off : "?");
    }
    fclose(f);
    return buf;
}

/* `leakwatch report --format json [--suppressions supp] DUMPS` as parsed JSON. */
static json_t *report_of(const char *dumps, const char *supp)
{
    lwt_result_t *r = supp ? lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "json", "--suppressions", supp, dumps),
                                      NULL)
                           : lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "json", dumps), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "report: %s", r->err);
    json_error_t jerr;
    json_t *j = json_loads(r->out, 0, &jerr);
    ck_assert_msg(j, "report JSON: %s", jerr.text);
    lwt_free(r);
    return j;
}

/* The bytes that `# heap: B bytes in ...` comments name, in order. */
static size_t comment_bytes(const char *from, const char *to, unsigned long long *out, size_t max)
{
    size_t n = 0;
    for (const char *p = strstr(from, "\n# heap: "); p && p < to; p = strstr(p + 1, "\n# heap: ")) {
        ck_assert_msg(n < max, "too many comments");
        out[n++] = strtoull(p + 9, NULL, 10);
    }
    return n;
}

/* Each line --gen-suppressions prints for the dumps in `dumps`, given back with --suppressions, hides exactly the
 * sites whose comments it follows: those go, every other site stays, in order. A line follows one comment unless
 * its sites cannot be told apart (the same frames in two classes). Every site gets a comment; `want_sites` is how
 * many sites there are (0: whatever the report has, at least 5); with `positions`, every line names a source
 * position (a program with debug information). */
static void check_generated_dumps(const char *dumps, const char *supp, size_t want_sites, bool positions)
{
    lwt_result_t *gen = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--gen-suppressions", dumps), NULL);
    ck_assert_msg(gen->exited && gen->exit_code == 0, "report --gen-suppressions: %s", gen->err);
    const char *block = strstr(gen->out, "\nsuppressions for the sites above (--gen-suppressions):\n");
    ck_assert_msg(block, "the block of generated lines:\n%s", gen->out);
    ck_assert_msg(strstr(block, "\nSUMMARY: leakwatch: "), "the SUMMARY line comes after it:\n%s", gen->out);
    ck_assert_msg(!strstr(block, " at __libc_start") && !strstr(block, " at malloc") && !strstr(block, " at __strdup"),
                  "comments name the program's frames, not libc's:\n%s", block);
    json_t *all = report_of(dumps, NULL);
    json_t *sites = json_object_get(all, "sites");
    size_t nsites = json_array_size(sites);
    if (want_sites)
        ck_assert_uint_eq(nsites, want_sites);
    else
        ck_assert_msg(nsites >= 5, "%zu sites:\n%s", nsites, gen->out);
    size_t shown = 0, commented = 0, lines = 0;
    for (size_t i = 0; i < nsites; i++) {
        const char *cls = json_string_value(json_object_get(json_array_get(sites, i), "class"));
        shown += !cls || strcmp(cls, "reachable") != 0;     /* the text report lists leaks only */
    }
    const char *prev = block;
    for (const char *p = strstr(block, "\nleak:"); p; prev = p, p = strstr(p + 1, "\nleak:"), lines++) {
        const char *end = strchr(p + 1, '\n');
        char line[4200];
        snprintf(line, sizeof line, "%.*s\n", (int)(end - p - 1), p + 1);
        ck_assert_msg(strstr(block, line) == p + 1, "each line once: %s", line);
        if (positions)
            ck_assert_msg(strstr(line, ".c:") || strstr(line, ".cc:"), "a line names a source position: %s", line);
        unsigned long long want[64];
        size_t nwant = comment_bytes(prev, p, want, 64);
        ck_assert_msg(nwant >= 1, "a comment before %s", line);
        commented += nwant;
        lwt_write_file(supp, line);
        json_t *less = report_of(dumps, supp);
        json_t *left = json_object_get(less, "sites");
        ck_assert_msg(json_array_size(left) == nsites - nwant, "%s hides %zu sites, not %zu", line, nwant,
                      nsites - json_array_size(left));
        /* every other site is still there, in order; the ones gone are those of the comments */
        size_t j = 0, gone = 0;
        for (size_t i = 0; i < nsites; i++) {
            char *a = site_id(json_array_get(sites, i));
            char *b = j < json_array_size(left) ? site_id(json_array_get(left, j)) : NULL;
            if (b && strcmp(a, b) == 0) {
                j++;
            } else {
                ck_assert_msg(gone < nwant, "%s hid %s too", line, a);
                ck_assert_msg(lwt_site_bytes(json_array_get(sites, i)) == (long long)want[gone],
                              "%s hid a site of %lld bytes, its comment says %llu", line,
                              lwt_site_bytes(json_array_get(sites, i)), want[gone]);
                gone++;
            }
            free(a);
            free(b);
        }
        ck_assert_uint_eq(gone, nwant);
        json_decref(less);
    }
    ck_assert_msg(commented == shown, "%zu comments for %zu sites:\n%s", commented, shown, block);
    ck_assert_msg(lines > 0, "lines:\n%s", block);
    json_decref(all);
    lwt_free(gen);
}

/* check_generated_dumps on the dumps of a fixture run under the library. */
static void check_generated(const char *const *argv, size_t want_sites, bool positions)
{
    lwt_result_t *run = lwt_exec_preload(argv, NULL);
    ck_assert_msg(run->exited && run->exit_code == 0, "%s ran%s", argv[0], lwt_describe(run));
    char dumps[4200], supp[4200];
    snprintf(dumps, sizeof dumps, "%s/dumps", run->tmpdir);
    snprintf(supp, sizeof supp, "%s/one.supp", run->tmpdir);
    check_generated_dumps(dumps, supp, want_sites, positions);
    lwt_free(run);
}

/* On the tree (30 sites told apart by column and by the path from the root, none by a single frame) and on C++
 * new, new[] and nothrow new. */
START_TEST(test_gen_suppressions)
{
    LWT_REQUIRE_BUILT();
    check_generated(LWT_ARGV(lwt_fixture("tree")), 30, true);
    check_generated(LWT_ARGV(lwt_fixture("heap_cxx")), 3, true);
}
END_TEST

/* Programs without debug information: Debian's perl (dynamic symbols only; what it never frees at exit, many
 * sites told apart only by frames without a name) and the tree stripped of every symbol (module and offset
 * only). The lines name the program's frames, never libc's malloc, strdup or __libc_start_main. */
START_TEST(test_gen_suppressions_without_debug_info)
{
    LWT_REQUIRE_BUILT();
    check_generated(LWT_ARGV("/usr/bin/perl", "-e", "my $x = {}; $x->{self} = $x; print STDERR 'x' x 3, qq(\n)"), 0,
                    false);
    char *dir = lwt_mkdtemp();
    lwt_free(shell(dir, stripped_tree));
    char dumps[4200], supp[4200];
    snprintf(dumps, sizeof dumps, "%s/dumps", dir);
    snprintf(supp, sizeof supp, "%s/one.supp", dir);
    check_generated_dumps(dumps, supp, 30, false);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* `run --gen-suppressions` prints the same block, before the SUMMARY and the gate's line, with -q too. */
START_TEST(test_run_gen_suppressions)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--gen-suppressions"), LWT_ARGV(lwt_fixture("heap_cxx")), NULL);
    LWT_ASSERT_RUN(r, 23);
    int line = LWT_MARKER_LINE("tests/fixtures/heap_cxx.cc", "@new_array\n");
    char want[256];
    snprintf(want, sizeof want, "\nleak:^operator new[](unsigned long)$;^heap_cxx.cc:%d:", line);
    const char *at = strstr(r->err, want);
    ck_assert_msg(at && strstr(at, "\nSUMMARY: leakwatch: 3054 bytes leaked in 3 allocations\nleakwatch: 3 leaks"),
                  "'%s' before the summary and the gate%s", want, lwt_describe(r));
    lwt_free(r);
    /* -q keeps the generated lines (as valgrind's -q does): the block, the summary, the gate; no stacks */
    r = lwt_leakwatch(LWT_ARGV("-q", "--gen-suppressions"), LWT_ARGV(lwt_fixture("heap_cxx")), NULL);
    LWT_ASSERT_RUN(r, 23);
    const char head[] = "suppressions for the sites above (--gen-suppressions):\n# heap: ";
    ck_assert_msg(strncmp(r->err, head, sizeof head - 1) == 0
                      && strstr(r->err, want + 1)
                      && strstr(r->err, "\nSUMMARY: leakwatch: 3054 bytes leaked in 3 allocations\nleakwatch: 3 leaks")
                      && !strstr(r->err, "    #0 "),
                  "-q: the generated block, then the summary%s", lwt_describe(r));
    size_t nlines = 0;
    for (const char *p = strstr(r->err, "\nleak:"); p; p = strstr(p + 1, "\nleak:"))
        nlines++;
    ck_assert_msg(nlines == 3, "-q: 3 lines, not %zu%s", nlines, lwt_describe(r));
    /* -q with every leak in the baseline: the summary counts them, and a line says why the run passes */
    char base[4200];
    snprintf(base, sizeof base, "%s/report.json", r->tmpdir);
    lwt_result_t *q = lwt_leakwatch(LWT_ARGV("-q", "--baseline", base), LWT_ARGV(lwt_fixture("heap_cxx")), NULL);
    LWT_ASSERT_RUN(q, 0);
    ck_assert_msg(strstr(q->err, "SUMMARY: leakwatch: 3054 bytes leaked in 3 allocations\n")
                      && strstr(q->err, "\nleakwatch: 3 leaks are in the baseline (") && !strstr(q->err, "    #0 "),
                  "-q --baseline%s", lwt_describe(q));
    lwt_free(q);
    lwt_free(r);
}
END_TEST

/* Reading and symbolizing many dumps shows a progress line on a terminal (script(1) gives the command one), erased
 * before the report; nothing without a terminal, and nothing for a few dumps. */
START_TEST(test_progress)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_free(shell(dir, "set -e; mkdir -p $T/one $T/many $T/few;"
                        "LD_PRELOAD=$P LEAKWATCH_REPORT=none LEAKWATCH_DUMP_DIR=$T/one $F >/dev/null;"
                        "D=$(ls $T/one/leakwatch.*.json); i=1000;"
                        "while [ $i -lt 1070 ]; do cp $D $T/many/leakwatch.$i.1.json; i=$((i+1)); done;"
                        "cp $T/many/leakwatch.100?.1.json $T/few/"));
    lwt_result_t *r = shell(dir, "script -qec '$L report $T/many > $T/many.txt' /dev/null");
    ck_assert_msg(strstr(r->out, "\rleakwatch: reading dumps 64")
                      && strstr(r->out, "\rleakwatch: symbolizing dumps 70/70") && strstr(r->out, "\r\033[K"),
                  "a progress line on the terminal: '%s'", r->out);
    ck_assert_msg(!strstr(r->out, "leakwatch: 30 leaks"), "the report went to the file, not the terminal");
    lwt_free(r);
    r = shell(dir, "grep -c '^SUMMARY: leakwatch: ' $T/many.txt");
    ck_assert_msg(strcmp(r->out, "1\n") == 0, "the report is whole: %s", r->out);
    lwt_free(r);
    r = shell(dir, "$L report $T/many > /dev/null");
    ck_assert_msg(r->err_len == 0, "no progress without a terminal: '%s'", r->err);
    lwt_free(r);
    r = shell(dir, "script -qec '$L report $T/few > /dev/null' /dev/null");
    ck_assert_msg(!strstr(r->out, "leakwatch: reading"), "no progress for 10 dumps: '%s'", r->out);
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* A non-PIE executable without symbols: its frames show their address once, `#0 0x40134f (alloc_nopie)`, not
 * beside an offset that is the same number. */
START_TEST(test_nopie_frames_show_the_address_once)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char exe[4200];
    snprintf(exe, sizeof exe, "%s/alloc_nopie", dir);
    lwt_result_t *r = lwt_exec(LWT_ARGV("cp", lwt_fixture("alloc_nopie"), exe), NULL);
    ck_assert_msg(r->exit_code == 0, "%s", lwt_describe(r));
    lwt_free(r);
    r = lwt_exec(LWT_ARGV("strip", exe), NULL);
    ck_assert_msg(r->exit_code == 0, "%s", lwt_describe(r));
    lwt_free(r);
    r = lwt_leakwatch(NULL, LWT_ARGV(exe), NULL);
    LWT_ASSERT_RUN(r, 23);
    /* every frame of the executable: "#i 0xADDRESS (alloc_nopie)" */
    size_t frames = 0;
    for (const char *p = strstr(r->err, " (alloc_nopie"); p; p = strstr(p + 1, " (alloc_nopie")) {
        ck_assert_msg(strncmp(p, " (alloc_nopie)\n", 15) == 0, "a frame of the executable with an offset:%s",
                      lwt_describe(r));
        const char *line = p;
        while (line > r->err && line[-1] != '\n')
            line--;
        unsigned long long a = 0;
        int n = 0;
        ck_assert_msg(sscanf(line, "    #%*u 0x%llx (alloc_nopie)%n", &a, &n) == 1 && n > 0 && a >= 0x400000
                          && a < 0x800000,
                      "not an address of a non-PIE executable: %.60s%s", line, lwt_describe(r));
        frames++;
    }
    ck_assert_msg(frames >= 10, "%zu frames of the executable%s", frames, lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report_usability");
    TCase *tc = tcase_create("positions and summary");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_columns);
    tcase_add_test(tc, test_array_new);
    tcase_add_test(tc, test_summary);
    tcase_add_test(tc, test_failed_output);
    suite_add_tcase(s, tc);

    tc = tcase_create("generated suppressions");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_gen_suppressions);
    tcase_add_test(tc, test_gen_suppressions_without_debug_info);
    tcase_add_test(tc, test_run_gen_suppressions);
    suite_add_tcase(s, tc);

    tc = tcase_create("CI formats");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_ci_formats);
    tcase_add_test(tc, test_nopie_frames_show_the_address_once);
    suite_add_tcase(s, tc);

    tc = tcase_create("symbols elsewhere");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_debug_dir_and_sysroot);
    tcase_add_test(tc, test_debuginfod);
    tcase_add_test(tc, test_symbols_in_every_command);
    suite_add_tcase(s, tc);

    tc = tcase_create("progress");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_progress);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}

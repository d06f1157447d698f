/* Unit tests of suppressions: glob matching with LeakSanitizer's anchors, parsing and its file:line errors,
 * unreadable files, the built-in list together with a user's file, what each entry hid and which matched nothing. */
#include "ci.h"
#include "render_ci.h"
#include "render.h"
#include "suppress.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(glob_matches_like_leaksanitizer)
{
    /* No anchor: the pattern may match any part of the name. */
    ck_assert(lwr_supp_glob("alloc", "xmalloc"));
    ck_assert(lwr_supp_glob("make_table", "make_table"));
    ck_assert(!lwr_supp_glob("make_tables", "make_table"));
    /* `*` matches any run, '/' included. */
    ck_assert(lwr_supp_glob("lib*.so", "/usr/lib/libfoo.so.1"));
    ck_assert(lwr_supp_glob("src/*/util.c", "/home/x/src/net/tcp/util.c"));
    ck_assert(lwr_supp_glob("*", "anything"));
    ck_assert(lwr_supp_glob("a*b*c", "xxaYYbZZcxx"));
    ck_assert(!lwr_supp_glob("a*b*c", "xxaYYcZZbxx"));
    /* Anchors. */
    ck_assert(lwr_supp_glob("^make", "make_table"));
    ck_assert(!lwr_supp_glob("^table", "make_table"));
    ck_assert(lwr_supp_glob("table$", "make_table"));
    ck_assert(!lwr_supp_glob("make$", "make_table"));
    ck_assert(lwr_supp_glob("^make_table$", "make_table"));
    ck_assert(!lwr_supp_glob("^make_table$", "make_table2"));
    /* A later occurrence can satisfy the end anchor (a matcher that stops at the first one would say no). */
    ck_assert(lwr_supp_glob("a$", "aba"));
    ck_assert(lwr_supp_glob("^a*a$", "aba"));
    ck_assert(!lwr_supp_glob("^a*a$", "ab"));
    /* C++ names keep their punctuation. */
    ck_assert(lwr_supp_glob("^(anonymous namespace)::pool::pool", "(anonymous namespace)::pool::pool(void)"));
    ck_assert(lwr_supp_glob("std::vector<int*", "std::vector<int, std::allocator<int> >::push_back"));
    /* Empty and missing names never match, even `*`. */
    ck_assert(!lwr_supp_glob("*", ""));
    ck_assert(!lwr_supp_glob("*", NULL));
}
END_TEST

static void expect_error(const char *text, const char *want)
{
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256] = "";
    ck_assert_int_eq(lwr_supp_parse(&l, text, strlen(text), "supp.txt", err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' should contain '%s'", err, want);
    lwr_supplist_free(&l);
}

START_TEST(parse_reads_types_comments_and_blanks)
{
    const char text[] = "# a comment\n"
                        "\n"
                        "leak:make_table\n"
                        "   leak : ^libfoo.so$  \r\n"
                        "fd:open_log\n"
                        "socket:listen_on\n"
                        "thread:worker_main\n"
                        "\t# indented comment\n"
                        "timer:arm_timer";
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256] = "";
    ck_assert_msg(lwr_supp_parse(&l, text, strlen(text), "supp.txt", err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(l.n, 6);
    ck_assert_int_eq(l.v[0].kind, LWR_HEAP);
    ck_assert_str_eq(l.v[0].pattern, "make_table");
    ck_assert_uint_eq(l.v[0].line, 3);
    ck_assert_str_eq(l.v[0].file, "supp.txt");
    ck_assert(!l.v[0].builtin);
    ck_assert_str_eq(l.v[1].pattern, "^libfoo.so$");
    ck_assert_uint_eq(l.v[1].line, 4);
    ck_assert_int_eq(l.v[2].kind, LWR_FD);
    ck_assert_int_eq(l.v[3].kind, LWR_SOCKET);
    ck_assert_int_eq(l.v[4].kind, LWR_THREAD);
    ck_assert_int_eq(l.v[5].kind, LWR_TIMER);
    ck_assert_uint_eq(l.v[5].line, 9);
    lwr_supplist_free(&l);
}
END_TEST

START_TEST(malformed_lines_name_file_and_line)
{
    expect_error("leak:a\nheap:b\n", "supp.txt:2: unknown suppression type 'heap'");
    expect_error("# x\n\nleak:\n", "supp.txt:3: empty pattern after 'leak:'");
    expect_error("leak:   \n", "supp.txt:1: empty pattern");
    expect_error("leak:a\nfd:b\nmake_table\n", "supp.txt:3: expected TYPE:PATTERN");
    expect_error("interceptor_via_fun:x\n", "supp.txt:1: unknown suppression type 'interceptor_via_fun'");
}
END_TEST

START_TEST(unreadable_files_are_errors)
{
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256] = "";
    ck_assert_int_eq(lwr_supp_load(&l, "/nonexistent/supp.txt", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/nonexistent/supp.txt: No such file") != NULL, "%s", err);
    /* A directory cannot be read as a file either. */
    ck_assert_int_eq(lwr_supp_load(&l, "/", err, sizeof err), -1);
    ck_assert_msg(strncmp(err, "/: ", 3) == 0, "%s", err);
    /* Through the environment variable too, and an empty part is skipped. */
    char dir[] = "/tmp/lwr_supp_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char a[64], b[64], env[160];
    snprintf(a, sizeof a, "%s/a.supp", dir);
    snprintf(b, sizeof b, "%s/b.supp", dir);
    FILE *f = fopen(a, "w");
    fputs("leak:from_a\n", f);
    fclose(f);
    f = fopen(b, "w");
    fputs("fd:from_b\n", f);
    fclose(f);
    snprintf(env, sizeof env, "%s::%s", a, b);
    const char *files[] = { b };
    ck_assert_msg(lwr_supp_setup(&l, env, files, 1, true, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.v[0].pattern, "from_a");
    ck_assert_str_eq(l.v[1].pattern, "from_b");
    ck_assert_str_eq(l.v[2].file, b);
    lwr_supplist_free(&l);
    snprintf(env, sizeof env, "%s:%s/missing.supp", a, dir);
    ck_assert_int_eq(lwr_supp_setup(&l, env, NULL, 0, false, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "missing.supp: No such file") != NULL, "%s", err);
    lwr_supplist_free(&l);
    unlink(a);
    unlink(b);
    rmdir(dir);
}
END_TEST

/* Adds a site of one frame per (function, file, module) triple. */
static void add_site(lwr_report_t *r, lwr_kind_t kind, lwr_class_t cls, uint64_t count, uint64_t bytes,
                     const char *const *frames, size_t nframes)
{
    r->sites = realloc(r->sites, (r->nsites + 1) * sizeof *r->sites);
    lwr_site_t *s = &r->sites[r->nsites++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->cls = cls;
    s->count = count;
    s->bytes = bytes;
    s->nframes = nframes;
    s->frames = calloc(nframes, sizeof *s->frames);
    for (size_t i = 0; i < nframes; i++) {
        const char *fn = frames[3 * i], *file = frames[3 * i + 1], *mod = frames[3 * i + 2];
        s->frames[i] = (lwr_frame_t){ 0x1000 + i, fn ? strdup(fn) : NULL, file ? strdup(file) : NULL, 10,
                                      mod ? strdup(mod) : NULL, 0x100 + i, 0 };
    }
    s->samples = calloc(LWR_MAX_SAMPLES, sizeof *s->samples);
    s->npids = 1;
    s->pids = calloc(1, sizeof *s->pids);
    s->pids[0] = 42;
    if (cls == LWR_CLASS_REACHABLE) {
        r->reachable.count += count;
        r->reachable.bytes += bytes;
    } else {
        r->totals[kind].count += count;
        r->totals[kind].bytes += bytes;
    }
}

/* A report like a real program's: a runtime TLS block, a program leak, a cache the user suppresses, a reachable
 * locale block of libc and a leaked descriptor. */
static lwr_report_t *program_report(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    const char *tls[] = { "allocate_dtv", "dl-tls.c", "/lib64/ld-linux-x86-64.so.2",
                          "_dl_allocate_tls", "dl-tls.c", "/lib64/ld-linux-x86-64.so.2",
                          "start_worker", "/src/app/pool.c", "/usr/bin/app",
                          "main", "/src/app/main.c", "/usr/bin/app" };
    const char *leak[] = { "parse_args", "/src/app/args.c", "/usr/bin/app", "main", "/src/app/main.c", "/usr/bin/app" };
    const char *cache[] = { "cache_put", "/src/app/cache.c", "/usr/bin/app", "main", "/src/app/main.c", "/usr/bin/app" };
    const char *locale[] = { "_nl_intern_locale_data", NULL, "/lib/x86_64-linux-gnu/libc.so.6", "setlocale", NULL,
                             "/lib/x86_64-linux-gnu/libc.so.6", "main", "/src/app/main.c", "/usr/bin/app" };
    const char *fd[] = { "open_log", "/src/app/log.c", "/usr/bin/app" };
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 1, 304, tls, 4);
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 2, 64, leak, 2);
    add_site(r, LWR_HEAP, LWR_CLASS_INDIRECT, 3, 48, cache, 2);
    add_site(r, LWR_HEAP, LWR_CLASS_REACHABLE, 4, 1000, locale, 3);
    add_site(r, LWR_FD, LWR_CLASS_NONE, 1, 0, fd, 1);
    r->nprocesses = 0;
    return r;
}

static const lwr_supp_use_t *use_of(const lwr_report_t *r, const char *pattern)
{
    for (size_t i = 0; i < r->nsupps; i++)
        if (strcmp(r->supps[i].pattern, pattern) == 0)
            return &r->supps[i];
    ck_abort_msg("no use of %s", pattern);
    return NULL;
}

START_TEST(builtin_and_user_suppressions_together_keep_other_leaks)
{
    lwr_report_t *r = program_report();
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256];
    const char user[] = "leak:cache_put\nfd:no_such_function\nleak:^main$x\n";
    ck_assert(lwr_supp_parse(&l, user, strlen(user), "app.supp", err, sizeof err) == 0);
    ck_assert_int_eq(lwr_supp_add_builtin(&l), 0);
    ck_assert_int_eq(lwr_supp_apply(r, &l), 0);

    /* Exactly the program's own leak and the descriptor remain. */
    ck_assert_uint_eq(r->nsites, 2);
    ck_assert_str_eq(r->sites[0].frames[0].function, "parse_args");
    ck_assert_int_eq(r->sites[1].kind, LWR_FD);
    ck_assert_uint_eq(r->totals[LWR_HEAP].count, 2);
    ck_assert_uint_eq(r->totals[LWR_HEAP].bytes, 64);
    ck_assert_uint_eq(r->totals[LWR_FD].count, 1);
    ck_assert_uint_eq(r->reachable.count, 0);

    const lwr_supp_use_t *u = use_of(r, "cache_put");
    ck_assert(!u->builtin);
    ck_assert_str_eq(u->file, "app.supp");
    ck_assert_uint_eq(u->line, 1);
    ck_assert_uint_eq(u->hidden.count, 3);
    ck_assert_uint_eq(u->hidden.bytes, 48);
    u = use_of(r, "^_dl_allocate_tls");
    ck_assert(u->builtin);
    ck_assert_uint_eq(u->hidden.count, 1);
    ck_assert_uint_eq(u->hidden.bytes, 304);
    u = use_of(r, "^_nl_intern_locale_data$");
    ck_assert_uint_eq(u->hidden.count, 0);
    ck_assert_uint_eq(u->reachable.count, 4);
    ck_assert_uint_eq(use_of(r, "no_such_function")->sites, 0);
    ck_assert_uint_eq(use_of(r, "^main$x")->sites, 0);

    /* JSON: suppressed lists what hid something, unused_suppressions the user's lines that matched nothing. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(lwr_render_json(f, r), 0);
    fclose(f);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    json_t *supp = json_object_get(root, "suppressed"), *unused = json_object_get(root, "unused_suppressions");
    ck_assert_uint_eq(json_array_size(supp), 3);
    json_t *first = json_array_get(supp, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "pattern")), "cache_put");
    ck_assert_str_eq(json_string_value(json_object_get(first, "kind")), "heap");
    ck_assert_str_eq(json_string_value(json_object_get(first, "file")), "app.supp");
    ck_assert_int_eq(json_integer_value(json_object_get(first, "line")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "count")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "bytes")), 48);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(supp, 1), "file")), "<built-in>");
    ck_assert_uint_eq(json_array_size(unused), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(unused, 0), "pattern")), "no_such_function");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(unused, 0), "kind")), "fd");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(unused, 1), "line")), 3);
    json_decref(root);
    free(text);

    /* Text: the summary of what each suppression hid, then the unused ones. */
    text = NULL;
    f = open_memstream(&text, &len);
    ck_assert_int_eq(lwr_render_text(f, r), 0);
    fclose(f);
    ck_assert_msg(strstr(text, "leakwatch: 3 leaks at 2 sites in 0 processes: heap 2 blocks (64 bytes), fd 1\n"),
                  "%s", text);
    ck_assert_msg(strstr(text, "\nsuppressions used:\n"
                               "    leak:cache_put (app.supp:1): 3 blocks (48 bytes)\n"
                               "    leak:^_dl_allocate_tls (built-in): 1 block (304 bytes)\n"
                               "\n"
                               "suppressions that matched nothing:\n"
                               "    fd:no_such_function (app.supp:2)\n"
                               "    leak:^main$x (app.supp:3)\n"),
                  "%s", text);
    ck_assert_msg(!strstr(text, "_nl_intern_locale_data"), "built-ins hiding reachable blocks are quiet: %s", text);
    free(text);
    lwr_supplist_free(&l);
    lwr_report_free(r);
}
END_TEST

START_TEST(no_default_suppressions_leaves_runtime_sites)
{
    lwr_report_t *r = program_report();
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256];
    ck_assert(lwr_supp_setup(&l, NULL, NULL, 0, true, err, sizeof err) == 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(lwr_supp_apply(r, &l), 0);
    ck_assert_uint_eq(r->nsites, 5);
    ck_assert(r->has_suppressions);
    lwr_supplist_free(&l);
    lwr_report_free(r);
}
END_TEST

START_TEST(suppressions_match_files_and_modules_by_path_or_base_name)
{
    lwr_report_t *r = program_report();
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256];
    const char user[] = "leak:^args.c$\nfd:^/usr/bin/app$\nthread:main\n";
    ck_assert(lwr_supp_parse(&l, user, strlen(user), "s", err, sizeof err) == 0);
    ck_assert(!lwr_supp_matches(&l.v[0], &r->sites[0]));
    ck_assert(lwr_supp_matches(&l.v[0], &r->sites[1]));     /* file base name */
    ck_assert(lwr_supp_matches(&l.v[1], &r->sites[4]));     /* module full path, fd kind */
    ck_assert(!lwr_supp_matches(&l.v[1], &r->sites[1]));    /* right module, wrong kind */
    ck_assert(!lwr_supp_matches(&l.v[2], &r->sites[1]));    /* thread: never a heap site */
    lwr_supplist_free(&l);

    /* An anchored pattern is tried on every name of a frame that begins with its first byte: the base name of a
     * module, a position by the file's base name or full path. */
    const char anchored[] = "leak:^libc.so\nleak:^args.c:10$\nleak:^/src/app/cache.c:10$\nleak:^/src/app/args\n"
                            "leak:^bin/app\n";
    ck_assert(lwr_supp_parse(&l, anchored, strlen(anchored), "a", err, sizeof err) == 0);
    ck_assert(lwr_supp_matches(&l.v[0], &r->sites[3]));     /* module base name */
    ck_assert(!lwr_supp_matches(&l.v[0], &r->sites[1]));
    ck_assert(lwr_supp_matches(&l.v[1], &r->sites[1]));     /* position, file base name */
    ck_assert(lwr_supp_matches(&l.v[2], &r->sites[2]));     /* position, full path */
    ck_assert(!lwr_supp_matches(&l.v[2], &r->sites[1]));
    ck_assert(lwr_supp_matches(&l.v[3], &r->sites[1]));     /* full path */
    ck_assert(!lwr_supp_matches(&l.v[4], &r->sites[1]));    /* no name begins so */
    lwr_supplist_free(&l);

    /* an empty file name leaves the position ":10", a module path ending in '/' the place "+0x100" */
    const char *odd[] = { "odd_fn", "", "/usr/lib/" };
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 1, 8, odd, 1);
    const char bare[] = "leak:^:10$\nleak:^+0x100$\n";
    ck_assert(lwr_supp_parse(&l, bare, strlen(bare), "b", err, sizeof err) == 0);
    ck_assert(lwr_supp_matches(&l.v[0], &r->sites[r->nsites - 1]));
    ck_assert(lwr_supp_matches(&l.v[1], &r->sites[r->nsites - 1]));
    ck_assert(!lwr_supp_matches(&l.v[0], &r->sites[1]));
    lwr_supplist_free(&l);

    /* The libstdc++ entry needs every frame inside _dl_init's call_init to be libstdc++'s own. */
    lwr_report_t *s = calloc(1, sizeof *s);
    const char *pool[] = { NULL, NULL, "/usr/lib/libstdc++.so.6", "call_init", "dl-init.c", "/lib64/ld-linux.so.2" };
    const char *user_ctor[] = { "operator new(unsigned long)", NULL, "/usr/lib/libstdc++.so.6",
                                "make_registry", "/src/reg.cc", "/usr/lib/libreg.so",
                                "call_init", "dl-init.c", "/lib64/ld-linux.so.2" };
    add_site(s, LWR_HEAP, LWR_CLASS_REACHABLE, 1, 72704, pool, 2);
    add_site(s, LWR_HEAP, LWR_CLASS_DEFINITE, 1, 16, user_ctor, 3);
    ck_assert_int_eq(lwr_supp_add_builtin(&l), 0);
    ck_assert_int_eq(lwr_supp_apply(s, &l), 0);
    ck_assert_uint_eq(s->nsites, 1);
    ck_assert_str_eq(s->sites[0].frames[1].function, "make_registry");
    lwr_supplist_free(&l);
    lwr_report_free(s);
    lwr_report_free(r);
}
END_TEST

/* Adds a heap site of frames given as (function, file, line, column, module, offset) with no debug information
 * for the program: functions known from dynamic symbols, the others by module and offset only. */
typedef struct {
    const char *fn, *file;
    unsigned line, column;
    const char *mod;
    uint64_t offset;
} nodebug_frame_t;

static void add_nodebug_site(lwr_report_t *r, lwr_class_t cls, uint64_t bytes, const nodebug_frame_t *fr, size_t n)
{
    const char *none[] = { "x", NULL, "m" };
    add_site(r, LWR_HEAP, cls, 1, bytes, none, 1);
    lwr_site_t *s = &r->sites[r->nsites - 1];
    free(s->frames[0].function);
    free(s->frames[0].module);
    free(s->frames);
    s->frames = calloc(n, sizeof *s->frames);
    s->nframes = n;
    for (size_t i = 0; i < n; i++)
        s->frames[i] = (lwr_frame_t){ 0x5555000000 + fr[i].offset, fr[i].fn ? strdup(fr[i].fn) : NULL,
                                      fr[i].file ? strdup(fr[i].file) : NULL, fr[i].line,
                                      strdup(fr[i].mod), fr[i].offset, fr[i].column };
}

/* The hidden sites' bytes, in report order, after applying `line` alone to a copy of report(). */
static void hidden_by(lwr_report_t *(*report)(void), const char *line, char *out, size_t len)
{
    lwr_report_t *r = report();
    size_t before = r->nsites;
    uint64_t *bytes = calloc(before, sizeof *bytes);
    for (size_t i = 0; i < before; i++)
        bytes[i] = r->sites[i].bytes;
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256];
    ck_assert_msg(lwr_supp_parse(&l, line, strlen(line), "gen", err, sizeof err) == 0, "%s: %s", line, err);
    ck_assert_int_eq(lwr_supp_apply(r, &l), 0);
    out[0] = '\0';
    for (size_t i = 0, j = 0; i < before; i++) {
        if (j < r->nsites && r->sites[j].bytes == bytes[i]) {
            j++;
            continue;
        }
        snprintf(out + strlen(out), len - strlen(out), "%s%" PRIu64, out[0] ? "," : "", bytes[i]);
    }
    free(bytes);
    lwr_supplist_free(&l);
    lwr_report_free(r);
}

/* Debian's perl: no DWARF for perl itself, libc's debug file installed. Sites differ only by an unnamed frame;
 * one has libc's strdup innermost; the indirect one has the same frames as a definite one. */
static lwr_report_t *nodebug_report(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    const char *libc = "/lib/x86_64-linux-gnu/libc.so.6", *perl = "/usr/bin/perl";
#define START { "__libc_start_call_main", "../sysdeps/nptl/libc_start_call_main.h", 58, 16, libc, 0x271ca }
    const nodebug_frame_t a[] = { { "Perl_safesysmalloc", NULL, 0, 0, perl, 0xf6f96 },
                                  { NULL, NULL, 0, 0, perl, 0x1b9ec8 },
                                  { "main", NULL, 0, 0, perl, 0x4a3d6 }, START };
    const nodebug_frame_t b[] = { { "Perl_safesysmalloc", NULL, 0, 0, perl, 0xf6f96 },
                                  { NULL, NULL, 0, 0, perl, 0x1baf55 },
                                  { "main", NULL, 0, 0, perl, 0x4a3d6 }, START };
    const nodebug_frame_t c[] = { { "__strdup", "./string/strdup.c", 42, 15, libc, 0x9a0a6 },
                                  { NULL, NULL, 0, 0, perl, 0x1b97c0 },
                                  { "main", NULL, 0, 0, perl, 0x4a3d6 }, START };
#undef START
    add_nodebug_site(r, LWR_CLASS_DEFINITE, 656, a, 4);
    add_nodebug_site(r, LWR_CLASS_DEFINITE, 96, b, 4);
    add_nodebug_site(r, LWR_CLASS_DEFINITE, 6, c, 4);
    add_nodebug_site(r, LWR_CLASS_INDIRECT, 29492, a, 4);
    return r;
}

START_TEST(generated_lines_without_debug_information)
{
    lwr_report_t *r = nodebug_report();
    /* the program's frame, not libc's strdup nor __libc_start_call_main, which have positions */
    ck_assert_ptr_eq(lwr_acquiring_frame(&r->sites[0]), &r->sites[0].frames[0]);
    ck_assert_ptr_eq(lwr_acquiring_frame(&r->sites[2]), &r->sites[2].frames[1]);
    static const char *const want[] = { "leak:^Perl_safesysmalloc$;^perl+0x1b9ec8$",
                                        "leak:^Perl_safesysmalloc$;^perl+0x1baf55$",
                                        "leak:^strdup.c:42:15$;^perl+0x1b97c0$",
                                        "leak:^Perl_safesysmalloc$;^perl+0x1b9ec8$" };
    static const char *const hides[] = { "656,29492", "96", "6", "656,29492" };
    for (size_t i = 0; i < 4; i++) {
        char *line = lwr_supp_generate(r, i);
        ck_assert_msg(line && strcmp(line, want[i]) == 0, "site %zu: '%s', not '%s'", i, line, want[i]);
        char gone[128];
        hidden_by(nodebug_report, line, gone, sizeof gone);
        ck_assert_msg(strcmp(gone, hides[i]) == 0, "%s hides %s, not %s", line, gone, hides[i]);
        free(line);
    }
    /* the place in a module matches by base name and full path, and only a frame there */
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256];
    const char text[] = "leak:/usr/bin/perl+0x1baf55\nleak:^perl+0x1baf5$\n";
    ck_assert(lwr_supp_parse(&l, text, strlen(text), "s", err, sizeof err) == 0);
    ck_assert(lwr_supp_matches(&l.v[0], &r->sites[1]) && !lwr_supp_matches(&l.v[0], &r->sites[0]));
    ck_assert(!lwr_supp_matches(&l.v[1], &r->sites[1]));
    lwr_supplist_free(&l);

    /* the text report prints the shared line once, after both sites' comments */
    r->gen_suppressions = true;
    char *text_out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text_out, &len);
    ck_assert_int_eq(lwr_render_text(f, r), 0);
    fclose(f);
    const char *block = strstr(text_out, "\nsuppressions for the sites above (--gen-suppressions):\n");
    ck_assert_msg(block, "%s", text_out);
    ck_assert_msg(strstr(block, "# heap: 656 bytes in 1 block at Perl_safesysmalloc\n"
                                "# heap: 29492 bytes in 1 block at Perl_safesysmalloc\n"
                                "leak:^Perl_safesysmalloc$;^perl+0x1b9ec8$\n"), "%s", block);
    ck_assert_msg(strstr(block, "# heap: 6 bytes in 1 block at perl+0x1b97c0\nleak:^strdup.c:42:15$;^perl+0x1b97c0$\n"),
                  "%s", block);
    const char *first = strstr(block, "leak:^Perl_safesysmalloc$;^perl+0x1b9ec8$");
    ck_assert_msg(!strstr(first + 1, "leak:^Perl_safesysmalloc$;^perl+0x1b9ec8$"), "one line, not two:\n%s", block);
    free(text_out);
    lwr_report_free(r);
}
END_TEST

START_TEST(ci_options_load_errors_exit_2)
{
    lwr_ci_t ci = LWR_CI_INIT;
    char *argv[] = { "run", "--suppressions", "/nonexistent.supp", "--show-reachable", "--", "true", NULL };
    int i = 1;
    ck_assert_int_eq(lwr_ci_take_option("run", 6, argv, &i, true, &ci), 1);
    ck_assert_int_eq(lwr_ci_take_option("run", 6, argv, &i, true, &ci), 1);
    ck_assert_int_eq(lwr_ci_take_option("run", 6, argv, &i, true, &ci), 0);
    ck_assert(ci.show_reachable);
    ck_assert_uint_eq(ci.nsupp_files, 1);
    ck_assert_int_eq(lwr_ci_load("run", &ci), 2);
    lwr_ci_free(&ci);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report_suppress");
    TCase *tc = tcase_create("suppress");
    tcase_add_test(tc, glob_matches_like_leaksanitizer);
    tcase_add_test(tc, parse_reads_types_comments_and_blanks);
    tcase_add_test(tc, malformed_lines_name_file_and_line);
    tcase_add_test(tc, unreadable_files_are_errors);
    tcase_add_test(tc, builtin_and_user_suppressions_together_keep_other_leaks);
    tcase_add_test(tc, no_default_suppressions_leaves_runtime_sites);
    tcase_add_test(tc, suppressions_match_files_and_modules_by_path_or_base_name);
    tcase_add_test(tc, ci_options_load_errors_exit_2);
    tcase_add_test(tc, generated_lines_without_debug_information);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

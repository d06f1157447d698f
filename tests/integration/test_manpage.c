/* Integration tests of docs/leakwatch.1 and docs/leakwatch.7: they render without a groff warning, and they stay
 * in step with the code (every command, every option `leakwatch help CMD` prints, every LEAKWATCH_* variable the
 * code reads, every exit status of cli.h, every LSAN_OPTIONS option mapped); `make install` puts them, the bash
 * completion and the rest where they belong, `make uninstall` takes them away again; the completion completes. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwtest.h"

#define PAGE "docs/leakwatch.1"
#define PAGE7 "docs/leakwatch.7"
#define COMPLETION "scripts/leakwatch.bash-completion"

/* A list of distinct strings. */
typedef struct {
    char *v[256];
    size_t n;
} names_t;

static int names_has(const names_t *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

static void names_add(names_t *l, const char *s, size_t len)
{
    char *c = strndup(s, len);
    ck_assert_ptr_nonnull(c);
    if (names_has(l, c) || l->n == sizeof l->v / sizeof l->v[0]) {
        free(c);
        return;
    }
    l->v[l->n++] = c;
}

static void names_free(names_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

/* The contents of ROOT/relpath, failing the test when it cannot be read. */
static char *read_source(const char *relpath)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", lwt_root(), relpath);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    size_t got;
    while (s && (got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            s = realloc(s, cap *= 2);
    }
    fclose(f);
    ck_assert_ptr_nonnull(s);
    s[n] = '\0';
    return s;
}

/* The page's source as a reader sees its words: `\-` is `-`, font changes, `\&`, `\%` and comments are gone,
 * `\(dq` is `"`. Line structure (requests at the start of lines) is kept. */
static char *page_plain(void)
{
    char *src = read_source(PAGE);
    char *out = malloc(strlen(src) + 1), *o = out;
    ck_assert_ptr_nonnull(out);
    for (const char *p = src; *p;) {
        if ((p == src || p[-1] == '\n') && strncmp(p, ".\\\"", 3) == 0) {
            while (*p && *p != '\n')
                p++;
            if (*p)
                p++;
            continue;
        }
        if (p[0] == '\\' && p[1] == '-') {
            *o++ = '-';
            p += 2;
        } else if (p[0] == '\\' && p[1] == 'f' && p[2]) {
            p += 3;
        } else if (p[0] == '\\' && (p[1] == '&' || p[1] == '%')) {
            p += 2;
        } else if (strncmp(p, "\\(dq", 4) == 0) {
            *o++ = '"';
            p += 4;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    free(src);
    return out;
}

/* The lines of `text` from the first line starting with `start` up to (not including) the next line that starts
 * with one of the requests in `ends` (space-separated, e.g. ".SS .SH"). A fresh string; fails the test when no
 * line starts with `start`. */
static char *block(const char *text, const char *start, const char *ends)
{
    const char *b = NULL;
    size_t sl = strlen(start);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, start, sl) == 0) {
            b = p;
            break;
        }
    ck_assert_msg(b != NULL, "%s has no line starting with '%s'", PAGE, start);
    const char *e = strchr(b, '\n');
    while (e && e[1]) {
        const char *line = e + 1;
        int end = 0;
        for (const char *t = ends; *t && !end;) {
            size_t tl = strcspn(t, " ");
            end = strncmp(line, t, tl) == 0 && (line[tl] == ' ' || line[tl] == '\n' || line[tl] == '\0');
            t += tl;
            t += *t == ' ';
        }
        if (end)
            break;
        e = strchr(line, '\n');
    }
    return strndup(b, e ? (size_t)(e - b) + 1 : strlen(b));
}

static int option_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Whether `word` occurs in `text` as a whole word (not inside a longer option or name). */
static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        if ((p == text || !option_char(p[-1])) && !option_char(p[n]))
            return 1;
    return 0;
}

/* Adds the option at `p` (`-o` or `--name`) to `l`; returns its length, 0 when `p` is no option. */
static size_t take_option_word(const char *p, names_t *l)
{
    if (p[0] != '-')
        return 0;
    if (p[1] == '-' && islower((unsigned char)p[2])) {
        size_t n = 2;
        while (option_char(p[n]))
            n++;
        names_add(l, p, n);
        return n;
    }
    if (isalpha((unsigned char)p[1]) && !option_char(p[2])) {
        names_add(l, p, 2);
        return 2;
    }
    return 0;
}

/* The options a command's help text offers, into `all`, and as the groups of names a reader may know an option
 * by, into `groups` (names separated by blanks): each option of the `Usage:` lines alone, and the leading option
 * of every line of the option list (indented, starting with `-`) with its aliases, as in `-o, --output OUT`. */
static void help_options(const char *help, names_t *all, names_t *groups)
{
    const char *p = strstr(help, "Usage:");
    ck_assert_msg(p != NULL, "no Usage: line in\n%s", help);
    for (p += 6; *p && !(p[0] == '\n' && p[1] == '\n'); p++) {
        names_t one = { .n = 0 };
        size_t n = (p[-1] == '[' || p[-1] == ' ') ? take_option_word(p, &one) : 0;
        if (n) {
            names_add(all, one.v[0], n);
            names_add(groups, one.v[0], n);
            p += n - 1;
        }
        names_free(&one);
    }
    for (const char *line = help; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *q = line;
        while (*q == ' ')
            q++;
        if (q - line < 2 || *q != '-')
            continue;
        names_t aliases = { .n = 0 };
        for (;;) {
            size_t n = take_option_word(q, &aliases);
            if (!n)
                break;
            q += n;
            if (q[0] == ' ' && q[1] && q[1] != ' ' && q[1] != '-')
                q += 1 + strcspn(q + 1, " \n");  /* its value: FILE, text|json */
            if (strncmp(q, ", -", 3) != 0)
                break;
            q += 2;
        }
        char group[256] = "";
        for (size_t i = 0; i < aliases.n; i++) {
            names_add(all, aliases.v[i], strlen(aliases.v[i]));
            snprintf(group + strlen(group), sizeof group - strlen(group), "%s%s", i ? " " : "", aliases.v[i]);
        }
        if (aliases.n)
            names_add(groups, group, strlen(group));
        names_free(&aliases);
    }
}

/* Whether `text` has one of the blank-separated names of `group` as a whole word. */
static int has_one_of(const char *text, const char *group)
{
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", group);
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        if (has_word(text, w))
            return 1;
    return 0;
}

/* The options named on `line`: words starting with `-` after a blank, a quote or the line's start. */
static void line_options(const char *line, size_t len, names_t *l)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] == '-' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '"')) {
            size_t n = take_option_word(line + i, l);
            i += n ? n - 1 : 0;
        }
}

/* The options of the .OP lines of a synopsis block, or of the tags (the line after each .TP) of a section. */
static void tagged_options(const char *blk, const char *request, names_t *l)
{
    int tp = strcmp(request, ".TP") == 0;
    for (const char *line = blk; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *named = NULL;
        if (tp && strncmp(line, ".TP\n", 4) == 0)
            named = line + 4;
        else if (!tp && strncmp(line, ".OP ", 4) == 0)
            named = line + 4;
        if (named)
            line_options(named, strcspn(named, "\n"), l);
    }
}

/* The commands `leakwatch --help` lists (the words after two blanks under "Commands:"), `help` included. */
static void commands(names_t *l)
{
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "--help"), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    const char *p = strstr(r->out, "Commands:\n");
    ck_assert_msg(p != NULL, "%s", lwt_describe(r));
    for (p = strchr(p, '\n') + 1; strncmp(p, "  ", 2) == 0 && islower((unsigned char)p[2]);
         p = strchr(p, '\n') + 1) {
        names_add(l, p + 2, strcspn(p + 2, " \n"));
    }
    ck_assert_msg(l->n >= 7 && names_has(l, "run") && names_has(l, "help"), "commands of%s", lwt_describe(r));
    lwt_free(r);
}

/* The source of `page` (ROOT-relative), once groff renders it without a warning and it holds ASCII only. */
static char *clean_page(const char *page)
{
    const char *groff = lwt_which(LWT_ARGV("/usr/bin/groff", "groff"));
    ck_assert_msg(groff != NULL, "groff not found (scripts/install-deps installs groff-base)");
    lwt_opts_t o = { .cwd = lwt_root() };
    /* -ww: every warning; -z: no output, only the diagnostics; utf8 and ascii are what man uses on a terminal */
    static const char *const devices[] = { "-Tutf8", "-Tascii" };
    for (size_t i = 0; i < 2; i++) {
        lwt_result_t *r = lwt_exec(LWT_ARGV(groff, "-man", devices[i], "-ww", "-z", page), &o);
        ck_assert_msg(r->exited && r->exit_code == 0 && r->err_len == 0, "groff warns about %s:%s", page,
                      lwt_describe(r));
        lwt_free(r);
    }
    /* Without preconv, groff reads bytes as Latin-1: anything but ASCII renders as garbage. */
    char *src = read_source(page);
    for (const char *p = src; *p; p++)
        ck_assert_msg((unsigned char)*p < 0x80, "%s: a byte that is not ASCII at offset %td", page, p - src);
    return src;
}

START_TEST(test_page_renders_without_warnings)
{
    char *src = clean_page(PAGE);
    /* And the sections a reader looks for, in man(7)'s order. */
    static const char *const sections[] = { "NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT",
                                            "SUPPRESSIONS", "BASELINES", "FILES", "EXIT STATUS", "EXAMPLES",
                                            "SEE ALSO" };
    const char *at = src;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n.SH %s\n", sections[i]);
        const char *found = strstr(at, want);
        ck_assert_msg(found != NULL, "%s: no section %s after the one before it", PAGE, sections[i]);
        at = found + 1;
    }
    free(src);
}
END_TEST

START_TEST(test_every_command_has_a_synopsis_and_a_section)
{
    LWT_REQUIRE_BUILT();
    names_t cmds = { .n = 0 };
    commands(&cmds);
    char *page = page_plain();
    char *synopsis = block(page, ".SH SYNOPSIS", ".SH");
    char *body = block(page, ".SH COMMANDS", ".SH");
    for (size_t i = 0; i < cmds.n; i++) {
        char sy[96], ss[96];
        snprintf(sy, sizeof sy, ".SY \"leakwatch %s\"\n", cmds.v[i]);
        snprintf(ss, sizeof ss, ".SS \"leakwatch %s ", cmds.v[i]);
        ck_assert_msg(strstr(synopsis, sy) != NULL, "%s: no synopsis of '%s' (%s)", PAGE, cmds.v[i], sy);
        ck_assert_msg(strstr(body, ss) != NULL, "%s: no section of '%s' under COMMANDS (%s...)", PAGE, cmds.v[i],
                      ss);
    }
    /* The options of the command itself. */
    ck_assert_msg(has_word(synopsis, "--help") && has_word(synopsis, "--version"), "%s: synopsis lacks --help or "
                  "--version", PAGE);
    free(synopsis);
    free(body);
    free(page);
    names_free(&cmds);
}
END_TEST

START_TEST(test_every_option_is_documented_and_every_documented_option_exists)
{
    LWT_REQUIRE_BUILT();
    names_t cmds = { .n = 0 };
    commands(&cmds);
    char *page = page_plain();
    size_t checked = 0;
    for (size_t i = 0; i < cmds.n; i++) {
        const char *cmd = cmds.v[i];
        if (strcmp(cmd, "help") == 0 || strcmp(cmd, "attach") == 0)
            continue;   /* `help` takes a command name, `attach` a pid (its settings come from the environment) */
        lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "help", cmd), NULL);
        ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
        names_t help = { .n = 0 }, groups = { .n = 0 }, documented = { .n = 0 };
        help_options(r->out, &help, &groups);
        ck_assert_msg(help.n > 0, "no options found in%s", lwt_describe(r));

        char sy[96], ss[96];
        snprintf(sy, sizeof sy, ".SY \"leakwatch %s\"", cmd);
        snprintf(ss, sizeof ss, ".SS \"leakwatch %s ", cmd);
        char *synopsis = block(page, sy, ".YS .SY .SH");
        char *section = block(page, ss, ".SS .SH");
        for (size_t j = 0; j < groups.n; j++)
            ck_assert_msg(has_one_of(synopsis, groups.v[j]), "%s: the synopsis of '%s' lacks %s, which `leakwatch "
                          "help %s` prints", PAGE, cmd, groups.v[j], cmd);
        for (size_t j = 0; j < help.n; j++) {
            ck_assert_msg(has_word(section, help.v[j]), "%s: the section of '%s' does not document %s, which "
                          "`leakwatch help %s` prints", PAGE, cmd, help.v[j], cmd);
            checked++;
        }
        tagged_options(synopsis, ".OP", &documented);
        tagged_options(section, ".TP", &documented);
        for (size_t j = 0; j < documented.n; j++)
            ck_assert_msg(names_has(&help, documented.v[j]),
                          "%s documents %s for '%s', which `leakwatch help %s` does not print:\n%s", PAGE,
                          documented.v[j], cmd, cmd, r->out);
        free(synopsis);
        free(section);
        names_free(&help);
        names_free(&groups);
        names_free(&documented);
        lwt_free(r);
    }
    ck_assert_msg(checked >= 25, "only %zu options checked: the help parser lost some", checked);
    free(page);
    names_free(&cmds);
}
END_TEST

/* Adds the LEAKWATCH_* names read with getenv("...") in the .c files of ROOT/dir. */
static void getenv_names(const char *dir, names_t *l)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", lwt_root(), dir);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "cannot read %s", path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s", dir, e->d_name);
        char *src = read_source(rel);
        for (const char *p = strstr(src, "getenv(\"LEAKWATCH_"); p; p = strstr(p + 1, "getenv(\"LEAKWATCH_"))
            names_add(l, p + 8, strspn(p + 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"));
        free(src);
    }
    closedir(d);
}

START_TEST(test_every_environment_variable_is_documented)
{
    names_t code = { .n = 0 }, readme = { .n = 0 }, documented = { .n = 0 };
    getenv_names("tracker", &code);
    getenv_names("preload", &code);
    getenv_names("report", &code);
    ck_assert_msg(names_has(&code, "LEAKWATCH_KINDS") && names_has(&code, "LEAKWATCH_LIB")
                      && names_has(&code, "LEAKWATCH_SUPPRESSIONS"),
                  "the getenv scan found only %zu variables", code.n);
    char *md = read_source("README.md");
    for (const char *p = strstr(md, "\n| `LEAKWATCH_"); p; p = strstr(p + 1, "\n| `LEAKWATCH_"))
        names_add(&readme, p + 4, strcspn(p + 4, "`"));
    free(md);
    ck_assert_msg(readme.n > 0, "no Environment table in README.md");

    char *page = page_plain();
    char *env = block(page, ".SH ENVIRONMENT", ".SH");
    for (const char *p = strstr(env, ".TP\n.B "); p; p = strstr(p + 1, ".TP\n.B "))
        names_add(&documented, p + 7, strcspn(p + 7, " \n"));
    for (size_t i = 0; i < code.n; i++)
        ck_assert_msg(names_has(&documented, code.v[i]), "%s: ENVIRONMENT lacks %s, which the code reads", PAGE,
                      code.v[i]);
    for (size_t i = 0; i < readme.n; i++)
        ck_assert_msg(names_has(&documented, readme.v[i]), "%s: ENVIRONMENT lacks %s of README's table", PAGE,
                      readme.v[i]);
    for (size_t i = 0; i < documented.n; i++)
        ck_assert_msg(strncmp(documented.v[i], "LEAKWATCH_", 10) != 0 || names_has(&code, documented.v[i]),
                      "%s documents %s, which no getenv in tracker/, preload/ or report/ reads", PAGE,
                      documented.v[i]);
    free(env);
    free(page);
    names_free(&code);
    names_free(&readme);
    names_free(&documented);
}
END_TEST

START_TEST(test_every_exit_status_of_the_command_is_documented)
{
    char *h = read_source("report/cli.h");
    char *page = page_plain();
    char *status = block(page, ".SH EXIT STATUS", ".SH");
    size_t n = 0;
    for (const char *p = strstr(h, "#define LWR_EXIT_"); p; p = strstr(p + 1, "#define LWR_EXIT_")) {
        const char *v = p + strcspn(p, " \t");
        v += strspn(v, " \t");
        v += strcspn(v, " \t");   /* past the name */
        v += strspn(v, " \t");
        char code[16];
        snprintf(code, sizeof code, "%.*s", (int)strspn(v, "0123456789"), v);
        int tagged = 0;
        for (const char *t = strstr(status, ".TP\n"); t && !tagged; t = strstr(t + 1, ".TP\n")) {
            char *tag = strndup(t + 4, strcspn(t + 4, "\n"));
            tagged = has_word(tag, code);
            free(tag);
        }
        ck_assert_msg(code[0] && tagged, "%s: EXIT STATUS has no entry for %s (%.40s)", PAGE, code, p + 8);
        n++;
    }
    ck_assert_msg(n >= 5, "only %zu exit codes found in report/cli.h", n);
    free(status);
    free(page);
    free(h);
}
END_TEST

START_TEST(test_make_install_puts_the_page_in_man1)
{
    LWT_REQUIRE_BUILT();
    char *dest = lwt_mkdtemp();
    char destdir[4200];
    snprintf(destdir, sizeof destdir, "DESTDIR=%s", dest);
    /* MAKEFLAGS of an enclosing `make check` would point this make at a jobserver it does not share. */
    lwt_opts_t o = { .env = LWT_ARGV("MAKEFLAGS=", "MFLAGS=", "MAKELEVEL="), .cwd = lwt_root() };
    lwt_result_t *r = lwt_exec(LWT_ARGV("make", "-s", "--no-print-directory", "install", destdir, "PREFIX=/usr"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    char installed[4300];
    snprintf(installed, sizeof installed, "%s/usr/share/man/man1/leakwatch.1", dest);
    FILE *f = fopen(installed, "r");
    ck_assert_msg(f != NULL, "make install did not write %s%s", installed, lwt_describe(r));
    char *src = read_source(PAGE);
    size_t len = strlen(src);
    char *got = malloc(len + 2);
    size_t n = fread(got, 1, len + 1, f);
    fclose(f);
    ck_assert_msg(n == len && memcmp(got, src, len) == 0, "%s is not a copy of %s", installed, PAGE);
    free(got);
    free(src);
    static const char *const more[][2] = { { "share/man/man7/leakwatch.7", PAGE7 },
                                           { "share/bash-completion/completions/leakwatch", COMPLETION },
                                           { "share/doc/leakwatch/FORMAT.md", "docs/FORMAT.md" } };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        snprintf(installed, sizeof installed, "%s/usr/%s", dest, more[i][0]);
        char *want = read_source(more[i][1]);
        f = fopen(installed, "r");
        ck_assert_msg(f != NULL, "make install did not write %s", installed);
        got = calloc(1, strlen(want) + 2);
        n = fread(got, 1, strlen(want) + 1, f);
        fclose(f);
        ck_assert_msg(n == strlen(want) && memcmp(got, want, n) == 0, "%s is not a copy of %s", installed, more[i][1]);
        free(got);
        free(want);
    }
    /* the installed command finds the installed library and runs */
    char cli[4300];
    snprintf(cli, sizeof cli, "%s/usr/bin/leakwatch", dest);
    lwt_opts_t clean = { .env = LWT_ARGV("LEAKWATCH_LIB=") };
    lwt_result_t *run = lwt_exec(LWT_ARGV(cli, "run", "-q", "--", lwt_fixture("gate_leaker")), &clean);
    ck_assert_msg(run->exit_code == 23, "%s", lwt_describe(run));
    lwt_free(run);
    lwt_free(r);
    r = lwt_exec(LWT_ARGV("make", "-s", "--no-print-directory", "uninstall", destdir, "PREFIX=/usr"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    lwt_free(r);
    /* nothing but empty directories is left */
    snprintf(installed, sizeof installed, "find '%s' -type f -o -type l", dest);
    r = lwt_exec(LWT_ARGV("sh", "-c", installed), NULL);
    ck_assert_msg(r->exit_code == 0 && r->out_len == 0, "make uninstall left files:%s", lwt_describe(r));
    lwt_free(r);
    snprintf(installed, sizeof installed, "%s/usr/lib/leakwatch", dest);
    ck_assert_msg(access(installed, F_OK) != 0, "make uninstall left %s", installed);
    lwt_rmtree(dest);
    free(dest);
}
END_TEST

START_TEST(test_page7_renders_and_holds_to_the_code)
{
    char *src = clean_page(PAGE7);
    ck_assert_msg(strstr(src, "\n.TH LEAKWATCH 7 ") && strstr(src, "\n.SH LSAN_OPTIONS\n")
                      && strstr(src, "\n.SH ENVIRONMENT\n"),
                  "%s: a section-7 page with ENVIRONMENT and LSAN_OPTIONS", PAGE7);
    /* every LSAN_OPTIONS option the command maps (the names report/run_extras.c compares) has an entry */
    char *code = read_source("report/run_extras.c");
    const char *fn = strstr(code, "static void lsan_option(");
    ck_assert_ptr_nonnull(fn);
    size_t mapped = 0;
    const char *fn_end = strstr(fn, "bool known");
    for (const char *p = strstr(fn, "strcmp(name, \""); p && p < fn_end; p = strstr(p + 1, "strcmp(name, \"")) {
        char want[80], want_bi[80];
        int len = (int)strcspn(p + 14, "\"");
        snprintf(want, sizeof want, "\n.B %.*s=", len, p + 14);
        snprintf(want_bi, sizeof want_bi, "\n.BI %.*s=", len, p + 14);
        ck_assert_msg(strstr(src, want) || strstr(src, want_bi), "%s: LSAN_OPTIONS lacks an entry for %.*s", PAGE7,
                      len, p + 14);
        mapped++;
    }
    ck_assert_msg(mapped >= 6, "only %zu LSAN_OPTIONS options found in report/run_extras.c", mapped);
    free(code);
    /* the LEAKWATCH_* variables it names are ones the code reads, and leakwatch(1) describes */
    names_t vars = { .n = 0 }, read = { .n = 0 };
    for (const char *p = strstr(src, "LEAKWATCH_"); p; p = strstr(p + 1, "LEAKWATCH_"))
        if (p[10] >= 'A' && p[10] <= 'Z')
            names_add(&vars, p, strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"));
    getenv_names("tracker", &read);
    getenv_names("preload", &read);
    getenv_names("report", &read);
    char *page1 = page_plain();
    for (size_t i = 0; i < vars.n; i++)
        ck_assert_msg(names_has(&read, vars.v[i]) && has_word(page1, vars.v[i]),
                      "%s names %s, which the code does not read or leakwatch.1 does not describe", PAGE7, vars.v[i]);
    ck_assert_msg(vars.n >= 4, "%s names only %zu variables", PAGE7, vars.n);
    free(page1);
    names_free(&vars);
    names_free(&read);
    free(src);
}
END_TEST

/* Runs the completion function of COMPLETION in bash on the words `line` (the last one being completed) and
 * returns what it offers, one per line. */
static lwt_result_t *complete_words(const char *line)
{
    char script[2048];
    snprintf(script, sizeof script,
             ". '%s/%s' && complete -p leakwatch >/dev/null && COMP_WORDS=(%s) && "
             "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _leakwatch && printf '%%s\\n' \"${COMPREPLY[@]}\"",
             lwt_root(), COMPLETION, line);
    return lwt_exec(LWT_ARGV("bash", "-c", script), NULL);
}

START_TEST(test_bash_completion_completes)
{
    LWT_REQUIRE_BUILT();
    char line[1024];
    lwt_result_t *r = complete_words("leakwatch ''");
    ck_assert_msg(r->exit_code == 0 && strstr(r->out, "run\n") && strstr(r->out, "report\n")
                      && strstr(r->out, "triage\n") && strstr(r->out, "baseline\n"),
                  "the commands%s", lwt_describe(r));
    lwt_free(r);
    /* every option `leakwatch help run` prints, through the command it completes for */
    snprintf(line, sizeof line, "'%s' run -", lwt_cli());
    r = complete_words(line);
    static const char *const run_opts[] = { "--keep-dumps", "--log-dir", "--json", "--allow-unchecked", "-q",
                                            "--suppressions" };
    for (size_t i = 0; i < sizeof run_opts / sizeof run_opts[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n%s\n", run_opts[i]);
        ck_assert_msg(r->exit_code == 0 && (strstr(r->out, want) || strncmp(r->out, want + 1, strlen(want) - 1) == 0),
                      "run's options offer %s%s", run_opts[i], lwt_describe(r));
    }
    lwt_free(r);
    snprintf(line, sizeof line, "'%s' report --format s", lwt_cli());
    r = complete_words(line);
    ck_assert_msg(r->exit_code == 0 && strcmp(r->out, "svg\nsarif\n") == 0, "formats of report%s", lwt_describe(r));
    lwt_free(r);
    snprintf(line, sizeof line, "'%s' run --kinds heap,so", lwt_cli());
    r = complete_words(line);
    ck_assert_msg(r->exit_code == 0 && strcmp(r->out, "heap,socket\n") == 0, "kinds%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("manpage");
    TCase *tc = tcase_create("manpage");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_page_renders_without_warnings);
    tcase_add_test(tc, test_every_command_has_a_synopsis_and_a_section);
    tcase_add_test(tc, test_every_option_is_documented_and_every_documented_option_exists);
    tcase_add_test(tc, test_every_environment_variable_is_documented);
    tcase_add_test(tc, test_every_exit_status_of_the_command_is_documented);
    tcase_add_test(tc, test_make_install_puts_the_page_in_man1);
    tcase_add_test(tc, test_page7_renders_and_holds_to_the_code);
    tcase_add_test(tc, test_bash_completion_completes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}

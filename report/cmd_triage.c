/* `leakwatch triage`: an ncurses screen to work through the call sites of one or more dumps. */
#include "cli.h"
#include "escape.h"
#include "series.h"
#include "suppress.h"

#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char usage[] =
    "Usage: leakwatch triage [--suppressions FILE] [--debug-dir DIR]... [--sysroot DIR] DUMP...\n"
    "\n"
    "Opens a terminal screen (80x24 is enough; works over ssh, no mouse needed) listing the call sites of the\n"
    "dumps (or saved JSON reports) with kind, count, bytes, age of the oldest handle and, given two or more\n"
    "dumps of one process, the growth from the first to the last (dumps are put in time order). A directory\n"
    "contributes every dump in it.\n"
    "Every live handle counts, reachable or not.\n"
    "\n"
    "Keys: Up/Down/PgUp/PgDn/Home/End move; Enter opens a site (full stack, sample handles: fd paths, socket\n"
    "peers, thread start routines); s cycles the sort column, 1-5 pick it (kind, count, bytes, age, growth),\n"
    "r reverses; k cycles the kind filter; / filters by text in the stack (empty text clears); m marks the site\n"
    "and appends the suppression line that hides it and no other site (`leak:^service.c:29:23$`, as\n"
    "--gen-suppressions writes them) to the suppression file;\n"
    "? shows the keys; q quits (in a site: q, Esc or Left goes back).\n"
    "\n"
    "  --suppressions FILE  where m appends (default leakwatch.supp in the current directory)\n"
    LWR_SYM_OPTS_USAGE
    "\n"
    "Exit status: 0; 1 when no dump could be read; 2 on a usage error or when standard output is not a terminal.\n";

enum { COL_KIND, COL_COUNT, COL_BYTES, COL_AGE, COL_GROWTH, NCOLS };
static const char *const col_names[NCOLS] = { "kind", "count", "bytes", "age", "growth" };

typedef struct {
    const lwr_gsite_t *g;
    uint64_t count, bytes;
    int64_t age;            /* oldest handle, ms; -1 unknown */
    int64_t growth;         /* bytes for heap, count otherwise */
    bool has_growth;
    bool marked;
    char where[160];        /* the naming frame: lwr_frame_where */
    char *text;             /* every frame's function, file and module, for '/' */
} row_t;

typedef struct {
    lwr_series_t *s;
    row_t *rows;
    size_t nrows;
    size_t *view;
    size_t nview;
    int sort_col;
    bool reverse;
    int kind;               /* -1: every kind */
    char filter[96];
    size_t cur, top;
    const char *supp_path;
    char status[200];
    bool growth_known;
    uint64_t sampled;       /* LEAKWATCH_SAMPLE of the dumps, 0 when exact: the status line says so */
} ui_t;

/* ---- model ---- */

static int build_rows(ui_t *u)
{
    const lwr_series_t *s = u->s;
    /* growth per process, added up over processes (a master and its workers): a process of one dump adds 0 */
    u->growth_known = s->ndumps >= 2;
    u->rows = calloc(s->nsites ? s->nsites : 1, sizeof *u->rows);
    u->view = calloc(s->nsites ? s->nsites : 1, sizeof *u->view);
    if (!u->rows || !u->view)
        return -1;
    for (size_t i = 0; i < s->nsites; i++) {
        const lwr_gsite_t *g = &s->sites[i];
        row_t *r = &u->rows[u->nrows];
        r->g = g;
        r->age = -1;
        /* the current state: the newest dump of each process */
        for (size_t d = 0; d < s->ndumps; d++) {
            bool newest = true;
            for (size_t e = d + 1; e < s->ndumps; e++)
                if (s->dumps[e].pid == s->dumps[d].pid)
                    newest = false;
            if (!newest)
                continue;
            lwr_count_add(&r->count, g->points[d].count);
            lwr_count_add(&r->bytes, g->points[d].bytes);
            if (g->points[d].oldest_age_ms > r->age)
                r->age = g->points[d].oldest_age_ms;
        }
        if (r->count == 0)
            continue;   /* gone by the newest dump: nothing to triage */
        if (u->growth_known) {
            r->has_growth = true;
            r->growth = 0;
            for (size_t d = 0; d < s->ndumps; d++) {
                size_t first = d, newest = d;
                for (size_t e = 0; e < s->ndumps; e++)
                    if (s->dumps[e].pid == s->dumps[d].pid) {
                        first = e < first ? e : first;
                        newest = e;
                    }
                if (first == d)
                    r->growth += g->kind == LWR_HEAP
                                     ? (int64_t)g->points[newest].bytes - (int64_t)g->points[first].bytes
                                     : (int64_t)g->points[newest].count - (int64_t)g->points[first].count;
            }
        }
        const lwr_frame_t *f = lwr_naming_frame(g);
        if (f) {
            char where[sizeof r->where];
            lwr_frame_where(f, where, sizeof where);
            snprintf(r->where, sizeof r->where, "%s", lwr_show(where));
        } else {
            snprintf(r->where, sizeof r->where, "(no stack)");
        }
        size_t len = 1;
        for (size_t j = 0; j < g->nframes; j++) {
            const lwr_frame_t *fr = &g->frames[j];
            len += (fr->function ? strlen(fr->function) : 0) + (fr->file ? strlen(fr->file) : 0)
                 + (fr->module ? strlen(fr->module) : 0) + 3;
        }
        if (!(r->text = malloc(len)))
            return -1;
        r->text[0] = '\0';
        for (size_t j = 0; j < g->nframes; j++) {
            const lwr_frame_t *fr = &g->frames[j];
            const char *parts[3] = { fr->function, fr->file, fr->module };
            for (int k = 0; k < 3; k++)
                if (parts[k]) {
                    strcat(r->text, parts[k]);
                    strcat(r->text, "\n");
                }
        }
        u->nrows++;
    }
    return 0;
}

static ui_t *sort_ui;

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int cmp_rows(const void *pa, const void *pb)
{
    const row_t *a = &sort_ui->rows[*(const size_t *)pa], *b = &sort_ui->rows[*(const size_t *)pb];
    int c = 0;
    switch (sort_ui->sort_col) {
    case COL_KIND: c = -cmp_i64(a->g->kind, b->g->kind); break;   /* heap first when descending */
    case COL_COUNT: c = cmp_i64((int64_t)a->count, (int64_t)b->count); break;
    case COL_BYTES: c = cmp_i64((int64_t)a->bytes, (int64_t)b->bytes); break;
    case COL_AGE: c = cmp_i64(a->age, b->age); break;
    default: c = cmp_i64(a->has_growth ? a->growth : INT64_MIN, b->has_growth ? b->growth : INT64_MIN); break;
    }
    if (c == 0)
        c = cmp_i64((int64_t)a->bytes, (int64_t)b->bytes);
    if (c == 0)
        c = cmp_i64((int64_t)a->count, (int64_t)b->count);
    if (c == 0)    /* the original order, always ascending */
        return a < b ? -1 : a > b;
    return sort_ui->reverse ? c : -c;
}

/* Rebuilds the view after a change of sort or filter; keeps the selected site selected when it is still shown. */
static void refresh_view(ui_t *u)
{
    const row_t *sel = u->nview ? &u->rows[u->view[u->cur]] : NULL;
    u->nview = 0;
    for (size_t i = 0; i < u->nrows; i++) {
        const row_t *r = &u->rows[i];
        if (u->kind >= 0 && (int)r->g->kind != u->kind)
            continue;
        if (u->filter[0] && !strcasestr(r->text, u->filter))
            continue;
        u->view[u->nview++] = i;
    }
    sort_ui = u;
    if (u->nview > 1)
        qsort(u->view, u->nview, sizeof *u->view, cmp_rows);
    sort_ui = NULL;
    u->cur = 0;
    for (size_t i = 0; i < u->nview && sel; i++)
        if (&u->rows[u->view[i]] == sel)
            u->cur = i;
}

/* ---- drawing ---- */

static void human(uint64_t v, char *buf, size_t len)
{
    if (v < 100000)
        snprintf(buf, len, "%" PRIu64, v);
    else if (v < 10000000)
        snprintf(buf, len, "%.1fK", (double)v / 1024);
    else if (v < 10000000000ull)
        snprintf(buf, len, "%.1fM", (double)v / (1024 * 1024));
    else
        snprintf(buf, len, "%.1fG", (double)v / (1024.0 * 1024 * 1024));
}

static void put_line(int y, const char *text, int attr)
{
    if (y < 0 || y >= LINES)
        return;
    move(y, 0);
    clrtoeol();
    attron(attr);
    mvaddnstr(y, 0, text, COLS);
    if (attr & A_REVERSE)
        for (int x = (int)strlen(text); x < COLS; x++)
            mvaddch(y, x, ' ');
    attroff(attr);
}

static size_t process_count(const lwr_series_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->ndumps; i++) {
        size_t j = 0;
        while (j < i && s->dumps[j].pid != s->dumps[i].pid)
            j++;
        n += j == i;
    }
    return n;
}

static void draw_list(ui_t *u)
{
    char line[512], a[32], b[32], c[32], d[32];
    int rows = LINES - 4;
    erase();
    const lwr_series_t *s = u->s;
    if (s->one_process)
        snprintf(line, sizeof line, "leakwatch triage: %zu of %zu sites, pid %ld, %zu dump%s", u->nview, u->nrows,
                 s->dumps[0].pid, s->ndumps, s->ndumps == 1 ? "" : "s");
    else
        snprintf(line, sizeof line, "leakwatch triage: %zu of %zu sites, %zu dumps of %zu processes", u->nview,
                 u->nrows, s->ndumps, process_count(s));
    size_t n = strlen(line);
    snprintf(line + n, sizeof line - n, " | sort %s%s | kind %s%s%s", col_names[u->sort_col],
             u->reverse ? " asc" : "", u->kind < 0 ? "all" : lwr_kind_name((lwr_kind_t)u->kind),
             u->filter[0] ? " | /" : "", u->filter);
    put_line(0, line, A_BOLD);
    snprintf(line, sizeof line, "  %-6s %7s %9s %7s %9s  %s", u->sort_col == COL_KIND ? "KIND*" : "KIND",
             u->sort_col == COL_COUNT ? "COUNT*" : "COUNT", u->sort_col == COL_BYTES ? "BYTES*" : "BYTES",
             u->sort_col == COL_AGE ? "AGE*" : "AGE", u->sort_col == COL_GROWTH ? "GROWTH*" : "GROWTH", "SITE");
    put_line(1, line, A_REVERSE);
    if (rows < 1)
        rows = 1;
    if (u->cur < u->top)
        u->top = u->cur;
    if (u->cur >= u->top + (size_t)rows)
        u->top = u->cur - (size_t)rows + 1;
    for (int i = 0; i < rows && u->top + (size_t)i < u->nview; i++) {
        size_t vi = u->top + (size_t)i;
        const row_t *r = &u->rows[u->view[vi]];
        human(r->count, a, sizeof a);
        human(r->bytes, b, sizeof b);
        lwr_format_age(r->age, c, sizeof c);
        if (!r->has_growth) {
            snprintf(d, sizeof d, "-");
        } else {
            char h[24];
            human((uint64_t)(r->growth < 0 ? -r->growth : r->growth), h, sizeof h);
            snprintf(d, sizeof d, "%s%s", r->growth < 0 ? "-" : r->growth > 0 ? "+" : "", h);
        }
        snprintf(line, sizeof line, "%c %-6s %7s %9s %7s %9s  %s", r->marked ? '*' : ' ', lwr_kind_name(r->g->kind),
                 a, r->g->kind == LWR_HEAP ? b : "-", c, d, r->where);
        put_line(2 + i, line, vi == u->cur ? A_REVERSE : 0);
    }
    if (u->nview == 0)
        put_line(3, "  (no site matches: k cycles kinds, / with empty text clears the filter)", 0);
    put_line(LINES - 2, u->status, 0);
    put_line(LINES - 1, "q quit ? help Enter open s/1-5 sort r rev k kind / find m mark", A_REVERSE);
    refresh();
}

/* The lines of a site's detail view, written with the text report's frame format. */
static char *detail_text(const ui_t *u, const row_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const lwr_gsite_t *g = r->g;
    char age[32], med[32];
    fprintf(f, "%s site: %" PRIu64 " %s", lwr_kind_name(g->kind), r->count,
            g->kind == LWR_HEAP ? "blocks" : "handles");
    if (g->kind == LWR_HEAP)
        fprintf(f, ", %" PRIu64 " bytes", r->bytes);
    if (lwr_class_name(g->cls))
        fprintf(f, ", %s", lwr_class_name(g->cls));
    fputc('\n', f);
    size_t last = u->s->ndumps - 1;
    lwr_format_age(g->points[last].oldest_age_ms, age, sizeof age);
    lwr_format_age(g->points[last].median_age_ms, med, sizeof med);
    fprintf(f, "oldest %s, median %s\n", age, med);
    lwr_held_print(f, g->held);
    if (r->has_growth) {
        fputs(g->kind == LWR_HEAP ? "bytes per dump:" : "count per dump:", f);
        for (size_t i = 0; i < u->s->ndumps && i < 16; i++)
            fprintf(f, " %" PRIu64, g->kind == LWR_HEAP ? g->points[i].bytes : g->points[i].count);
        fputs(u->s->ndumps > 16 ? " ...\n" : "\n", f);
    }
    fputs("\nstack, innermost first:\n", f);
    for (size_t i = 0; i < g->nframes; i++)
        lwr_print_frame(f, i, &g->frames[i]);
    if (g->nframes == 0)
        fputs("    (no stack was recorded)\n", f);
    fprintf(f, "\nsample handles (%zu of %" PRIu64 "):\n", g->nsamples, r->count);
    for (size_t i = 0; i < g->nsamples; i++) {
        fputs("    ", f);
        lwr_print_sample(f, g->kind, &g->samples[i], false);
        if (g->sample_ages[i] >= 0) {
            lwr_format_age(g->sample_ages[i], age, sizeof age);
            fprintf(f, ", age %s", age);
        }
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}

/* ---- actions ---- */

/* The suppression line that hides the row's site and no other site of the series (lwr_supp_generate_sites, as
 * --gen-suppressions writes them). NULL when there is none. */
static char *mark_line(const ui_t *u, const row_t *r)
{
    const lwr_series_t *s = u->s;
    lwr_site_t *sites = calloc(s->nsites, sizeof *sites);
    if (!sites)
        return NULL;
    for (size_t i = 0; i < s->nsites; i++) {
        sites[i].kind = s->sites[i].kind;
        sites[i].frames = s->sites[i].frames;   /* borrowed: the array alone is freed */
        sites[i].nframes = s->sites[i].nframes;
    }
    char *line = lwr_supp_generate_sites(sites, s->nsites, (size_t)(r->g - s->sites));
    free(sites);
    return line;
}

static void mark(ui_t *u, row_t *r)
{
    if (r->g->nframes == 0) {
        snprintf(u->status, sizeof u->status, "this site has no stack: nothing to suppress it by");
        return;
    }
    char *line = mark_line(u, r);
    if (!line) {
        snprintf(u->status, sizeof u->status, "no suppression line tells this site apart (or out of memory)");
        return;
    }
    if (lwr_needs_escape(line)) {
        /* A newline or other control byte would split the entry or forge more lines in the file. */
        snprintf(u->status, sizeof u->status, "the site's name holds control or non-UTF-8 bytes: not a suppression");
        free(line);
        return;
    }
    FILE *out = fopen(u->supp_path, "a");
    if (!out) {
        snprintf(u->status, sizeof u->status, "cannot write %s: %s", u->supp_path, strerror(errno));
        free(line);
        return;
    }
    fprintf(out, "# %s site, %s (marked in leakwatch triage)\n%s\n", lwr_kind_name(r->g->kind), r->where, line);
    if (fclose(out) != 0) {
        snprintf(u->status, sizeof u->status, "writing %s failed", u->supp_path);
        free(line);
        return;
    }
    r->marked = true;
    snprintf(u->status, sizeof u->status, "marked: wrote '%s' to %s", line, u->supp_path);
    free(line);
}

static void help(void)
{
    static const char *const lines[] = {
        "leakwatch triage keys",
        "",
        "  Up/Down, PgUp/PgDn, Home/End   move",
        "  Enter                          open the site: stack and sample handles",
        "  s                              next sort column",
        "  1 2 3 4 5                      sort by kind, count, bytes, age, growth",
        "  r                              reverse the order",
        "  k                              next kind filter (all, heap, fd, ...)",
        "  /                              filter by text in the stack; empty clears",
        "  m                              mark: append a suppression line to the file",
        "  ?                              this help",
        "  q                              quit (in a site: back to the list)",
        "",
        "press any key",
    };
    erase();
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        put_line((int)i, lines[i], i == 0 ? A_BOLD : 0);
    refresh();
    while (getch() == KEY_RESIZE) {
    }
}

static void open_site(ui_t *u, row_t *r)
{
    char *text = detail_text(u, r);
    if (!text)
        return;
    size_t nlines = 0, top = 0;
    for (char *p = text; *p; p++)
        nlines += *p == '\n';
    char **lines = calloc(nlines + 1, sizeof *lines);
    if (!lines) {
        free(text);
        return;
    }
    size_t k = 0;
    for (char *p = text; *p && k < nlines;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        lines[k++] = p;
        p = nl + 1;
    }
    for (;;) {
        int rows = LINES - 2 > 1 ? LINES - 2 : 1;
        erase();
        for (int i = 0; i < rows && top + (size_t)i < nlines; i++)
            put_line(i, lines[top + (size_t)i], top + (size_t)i == 0 ? A_BOLD : 0);
        put_line(LINES - 2, u->status, 0);
        put_line(LINES - 1, "q/Esc/Left back  Up/Down/PgUp/PgDn scroll  m mark  ? help", A_REVERSE);
        refresh();
        int ch = getch();
        size_t maxtop = nlines > (size_t)rows ? nlines - (size_t)rows : 0;
        if (ch == 'q' || ch == 27 || ch == KEY_LEFT || ch == KEY_BACKSPACE || ch == 127)
            break;
        else if (ch == KEY_DOWN || ch == 'j')
            top = top < maxtop ? top + 1 : top;
        else if (ch == KEY_UP)
            top = top ? top - 1 : 0;
        else if (ch == KEY_NPAGE || ch == ' ')
            top = top + (size_t)rows < maxtop ? top + (size_t)rows : maxtop;
        else if (ch == KEY_PPAGE)
            top = top > (size_t)rows ? top - (size_t)rows : 0;
        else if (ch == 'm')
            mark(u, r);
        else if (ch == '?')
            help();
    }
    free(lines);
    free(text);
}

/* Reads a line of text in the status line; returns 1 when Enter confirmed it, 0 when Esc cancelled. */
static int read_filter(ui_t *u)
{
    char buf[sizeof u->filter];
    size_t n = strlen(u->filter);
    memcpy(buf, u->filter, n + 1);
    for (;;) {
        char line[sizeof buf + 64];
        snprintf(line, sizeof line, "/%s", buf);
        put_line(LINES - 2, line, 0);
        put_line(LINES - 1, "type text to find in the stacks; Enter applies, Esc cancels", A_REVERSE);
        move(LINES - 2, (int)strlen(line) < COLS ? (int)strlen(line) : COLS - 1);
        curs_set(1);
        refresh();
        int ch = getch();
        if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
            curs_set(0);
            memcpy(u->filter, buf, sizeof buf);
            return 1;
        }
        if (ch == 27) {
            curs_set(0);
            return 0;
        }
        if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n > 0)
            buf[--n] = '\0';
        else if (ch >= 0x20 && ch < 0x7f && n + 1 < sizeof buf) {
            buf[n++] = (char)ch;
            buf[n] = '\0';
        }
    }
}

static void run_ui(ui_t *u)
{
    setlocale(LC_ALL, "");
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    refresh_view(u);
    snprintf(u->status, sizeof u->status, "%zu sites%s; Enter opens one, m marks one for %s, ? shows the keys",
             u->nrows, u->sampled ? " (heap figures estimated from sampled dumps)" : "", u->supp_path);
    for (;;) {
        draw_list(u);
        int ch = getch();
        int rows = LINES - 4 > 1 ? LINES - 4 : 1;
        if (ch == 'q')
            break;
        switch (ch) {
        case KEY_DOWN:
        case 'j':
            if (u->cur + 1 < u->nview)
                u->cur++;
            break;
        case KEY_UP:
            if (u->cur > 0)
                u->cur--;
            break;
        case KEY_NPAGE:
        case ' ':
            u->cur = u->nview ? (u->cur + (size_t)rows < u->nview ? u->cur + (size_t)rows : u->nview - 1) : 0;
            break;
        case KEY_PPAGE:
            u->cur = u->cur > (size_t)rows ? u->cur - (size_t)rows : 0;
            break;
        case KEY_HOME:
        case 'g':
            u->cur = 0;
            break;
        case KEY_END:
        case 'G':
            u->cur = u->nview ? u->nview - 1 : 0;
            break;
        case 's':
            u->sort_col = (u->sort_col + 1) % NCOLS;
            refresh_view(u);
            snprintf(u->status, sizeof u->status, "sorted by %s", col_names[u->sort_col]);
            break;
        case '1': case '2': case '3': case '4': case '5':
            u->sort_col = ch - '1';
            refresh_view(u);
            snprintf(u->status, sizeof u->status, "sorted by %s", col_names[u->sort_col]);
            break;
        case 'r':
            u->reverse = !u->reverse;
            refresh_view(u);
            snprintf(u->status, sizeof u->status, "order %s", u->reverse ? "ascending" : "descending");
            break;
        case 'k':
            u->kind = u->kind + 1 >= LWR_KIND_COUNT ? -1 : u->kind + 1;
            refresh_view(u);
            snprintf(u->status, sizeof u->status, "kind: %s", u->kind < 0 ? "all" : lwr_kind_name((lwr_kind_t)u->kind));
            break;
        case '/':
            if (read_filter(u)) {
                refresh_view(u);
                snprintf(u->status, sizeof u->status, u->filter[0] ? "filter: %s" : "filter cleared%s", u->filter);
            }
            break;
        case '\n':
        case '\r':
        case KEY_ENTER:
        case KEY_RIGHT:
            if (u->nview)
                open_site(u, &u->rows[u->view[u->cur]]);
            break;
        case 'm':
            if (u->nview)
                mark(u, &u->rows[u->view[u->cur]]);
            break;
        case '?':
            help();
            break;
        default:
            break;      /* KEY_RESIZE and anything else: the loop redraws at the new size */
        }
    }
    endwin();
}

typedef struct {
    const char *supp;       /* --suppressions FILE */
    lwr_sym_opts_t sym;     /* --debug-dir, --sysroot */
} options_t;

/* An lwr_option_fn for the options of `leakwatch triage`. */
static int take_option(const char *cmd, int argc, char **argv, int *i, void *opts)
{
    options_t *o = opts;
    int r = lwr_take_option(cmd, argc, argv, i, "--suppressions", &o->supp);
    return r != 0 ? r : lwr_take_sym_option(cmd, argc, argv, i, &o->sym);
}

static int triage_main(int argc, char **argv)
{
    options_t o = { "leakwatch.supp", LWR_SYM_OPTS_INIT };
    int first;
    int status = lwr_parse_options("triage", usage, argc, argv, take_option, &o, &first);
    if (status >= 0)
        return status;
    if (first >= argc)
        return lwr_usage_error("triage", "no dump given");
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
        fprintf(stderr, "leakwatch triage: standard %s is not a terminal; triage is an interactive screen. "
                        "Use 'leakwatch report', 'diff' or 'trend' for output to a file or a pipe.\n",
                isatty(STDOUT_FILENO) ? "input" : "output");
        return LWR_EXIT_USAGE;
    }
    lwr_dumplist_t dumps = { NULL, 0, 0 };
    /* the screen shows what could be read */
    int failed = lwr_load_dumps(argv + first, argc - first, lwr_series_add_dir, &dumps);
    if (dumps.n == 0) {
        fprintf(stderr, failed ? "leakwatch: no dump could be read\n"
                               : "leakwatch: no dumps (leakwatch.PID.N.json) in what was given\n");
        lwr_dumplist_free(&dumps);
        return 1;
    }
    lwr_series_sort(dumps.v, dumps.n);
    lwr_symbolizer_t *sym = lwr_sym_opts_symbolizer(&o.sym);
    ui_t u;
    memset(&u, 0, sizeof u);
    u.s = sym ? lwr_series_build(dumps.v, dumps.n, sym) : NULL;
    u.sort_col = COL_BYTES;
    u.kind = -1;
    u.supp_path = o.supp;
    u.sampled = lwr_note_sampling("triage", dumps.v, dumps.n);
    lwr_dumplist_free(&dumps);
    int rc = 0;
    if (!u.s || build_rows(&u) != 0) {
        if (sym)
            fprintf(stderr, "leakwatch: out of memory\n");
        rc = 1;
    } else {
        run_ui(&u);
    }
    for (size_t i = 0; i < u.nrows; i++)
        free(u.rows[i].text);
    free(u.rows);
    free(u.view);
    lwr_series_free(u.s);
    lwr_symbolizer_free(sym);
    return rc;
}

const lwr_command_t lwr_cmd_triage = {
    "triage",
    "work through the sites of dumps on an interactive terminal screen",
    usage,
    triage_main,
};

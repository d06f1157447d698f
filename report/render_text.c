/* The human report: a totals line, then one block per leaking call site, largest first. */
#include "render.h"
#include "escape.h"
#include "render_ci.h"
#include "suppress.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const nouns[LWR_KIND_COUNT][2] = {
    { "block", "blocks" },
    { "descriptor", "descriptors" },
    { "socket", "sockets" },
    { "thread", "threads" },
    { "timer", "timers" },
    { "mapping", "mappings" },
};

static const char *noun(lwr_kind_t kind, uint64_t n)
{
    return nouns[kind][n != 1];
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void lwr_frame_label(const lwr_frame_t *f, char *buf, size_t len)
{
    if (f->function)
        snprintf(buf, len, "%s", f->function);
    else if (f->module)
        snprintf(buf, len, "%s+0x%" PRIx64, base_name(f->module), f->offset);
    else
        snprintf(buf, len, "0x%" PRIx64, f->address);
}

void lwr_frame_position(const lwr_frame_t *f, bool base, char *buf, size_t len)
{
    if (len == 0)
        return;
    buf[0] = '\0';
    if (!f->file)
        return;
    const char *file = base ? base_name(f->file) : f->file;
    if (f->line && f->column)
        snprintf(buf, len, "%s:%u:%u", file, f->line, f->column);
    else if (f->line)
        snprintf(buf, len, "%s:%u", file, f->line);
    else
        snprintf(buf, len, "%s", file);
}

void lwr_frame_where(const lwr_frame_t *f, char *buf, size_t len)
{
    lwr_frame_label(f, buf, len);
    size_t n = strlen(buf);
    if (f->file && n + 1 < len) {
        buf[n++] = ' ';
        lwr_frame_position(f, true, buf + n, len - n);
    }
}

void lwr_frame_text(const lwr_frame_t *f, char *buf, size_t len)
{
    if (len == 0)
        return;
    size_t n = 0;
    buf[0] = '\0';
    if (f->function)
        snprintf(buf, len, "%s", f->function);
    else
        snprintf(buf, len, "0x%" PRIx64, f->address);
    n = strlen(buf);
    if (f->file && n + 1 < len) {
        buf[n++] = ' ';
        lwr_frame_position(f, false, buf + n, len - n);
        n += strlen(buf + n);
    }
    if (!f->module)
        snprintf(buf + n, len - n, " (no module)");
    else if ((f->function && f->file) || (!f->function && f->offset == f->address))
        /* a frame of a non-PIE executable has its address as offset: shown once */
        snprintf(buf + n, len - n, " (%s)", base_name(f->module));
    else
        snprintf(buf + n, len - n, " (%s+0x%" PRIx64 ")", base_name(f->module), f->offset);
}

void lwr_print_frame(FILE *out, size_t i, const lwr_frame_t *f)
{
    char text[LWR_FRAME_TEXT_MAX];
    lwr_frame_text(f, text, sizeof text);
    fprintf(out, "    #%zu %s\n", i, lwr_show(text));
}

void lwr_human_bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    if (n < 1024) {
        snprintf(buf, cap, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
}

void lwr_print_sample(FILE *out, lwr_kind_t kind, const lwr_report_sample_t *s, bool with_pid)
{
    const char *h = s->handle ? lwr_show(s->handle) : "?";
    switch (kind) {
    case LWR_HEAP:
        fprintf(out, "%s (%" PRIu64 " bytes%s", h, s->size, with_pid ? ", " : ")");
        if (with_pid)
            fprintf(out, "pid %ld)", s->pid);
        return;
    case LWR_FD:
    case LWR_SOCKET:
        if (strncmp(h, "0x", 2) == 0 && s->detail && s->detail[0]) {
            /* a FILE* or DIR*: its detail names the stream and its descriptor */
            fprintf(out, "%s (%s)", lwr_show(s->detail), h);
            if (with_pid)
                fprintf(out, " (pid %ld)", s->pid);
            return;
        }
        fprintf(out, "fd %s", h);
        break;
    case LWR_THREAD:
        fprintf(out, "thread %s", h);
        break;
    case LWR_MMAP: {
        char sz[32];
        lwr_human_bytes(sz, sizeof sz, s->size);
        if (s->detail && (strncmp(s->detail, "shm ", 4) == 0 || strncmp(s->detail, "sysv-segment ", 13) == 0)) {
            /* an object, not a range: its name says what it is */
            fprintf(out, "%s", lwr_show(s->detail));
            if (strncmp(s->detail, "sysv-segment ", 13) == 0)
                fprintf(out, " %s", sz);
            if (with_pid)
                fprintf(out, " (pid %ld)", s->pid);
            return;
        }
        fprintf(out, "%s %s", h, sz);
        break;
    }
    default:
        fprintf(out, "timer %s", h);
        break;
    }
    if (s->detail && s->detail[0])
        fprintf(out, " %s", lwr_show(s->detail));
    if (with_pid)
        fprintf(out, " (pid %ld)", s->pid);
}

/* The title of a site heading indirect blocks: all it heads, then its own part and the indirect part. */
static void print_group_title(FILE *out, const lwr_site_t *s)
{
    lwr_total_t t = lwr_site_group_total(s);
    fprintf(out, "%s: %" PRIu64 " bytes (%" PRIu64 " direct, %" PRIu64 " indirect) in %" PRIu64 " %s + %" PRIu64
            " indirect", s->cycle ? "heap, indirect cycle (no definite block reaches it)" : "heap", t.bytes,
            s->direct_bytes, s->indirect_bytes, s->direct_count, noun(LWR_HEAP, s->direct_count), s->indirect_count);
}

void lwr_site_title(const lwr_site_t *s, char *buf, size_t len)
{
    if (s->kind == LWR_HEAP && s->cls == LWR_CLASS_REACHABLE)
        snprintf(buf, len, "heap, reachable (still pointed to at exit, not a leak): %" PRIu64 " bytes in %" PRIu64
                 " %s", s->bytes, s->count, noun(s->kind, s->count));
    else if (s->kind == LWR_HEAP && s->cycle)
        snprintf(buf, len, "heap, indirect cycle (no definite block reaches it): %" PRIu64 " bytes in %" PRIu64 " %s",
                 s->bytes, s->count, noun(s->kind, s->count));
    else if (s->kind == LWR_HEAP && s->cls == LWR_CLASS_INDIRECT)
        snprintf(buf, len, "heap, indirect (only leaked blocks point to them): %" PRIu64 " bytes in %" PRIu64 " %s",
                 s->bytes, s->count, noun(s->kind, s->count));
    else if (s->kind == LWR_HEAP)
        snprintf(buf, len, "heap: %" PRIu64 " bytes in %" PRIu64 " %s", s->bytes, s->count, noun(s->kind, s->count));
    else if (s->kind == LWR_MMAP) {
        char sz[32];
        lwr_human_bytes(sz, sizeof sz, s->bytes);
        snprintf(buf, len, "mmap: %" PRIu64 " %s, %s (%" PRIu64 " bytes) still mapped or created", s->count,
                 noun(s->kind, s->count), sz, s->bytes);
    } else
        snprintf(buf, len, "%s: %" PRIu64 " %s still open%s", lwr_kind_name(s->kind), s->count,
                 noun(s->kind, s->count), s->kind == LWR_THREAD ? " (neither joined nor detached)" : "");
}

static void print_site(FILE *out, const lwr_site_t *s, bool show_indirect)
{
    fputc('\n', out);
    if (s->attributed && (s->indirect_count > 0 || s->cycle)) {
        print_group_title(out, s);
    } else {
        char title[LWR_SITE_TITLE_MAX];
        lwr_site_title(s, title, sizeof title);
        fputs(title, out);
    }
    if (s->npids == 1) {
        fprintf(out, ", pid %ld", s->pids[0]);
    } else if (s->npids > 1) {
        fprintf(out, ", %zu processes (pids", s->npids);
        for (size_t i = 0; i < s->npids && i < 4; i++)
            fprintf(out, "%s %ld", i ? "," : "", s->pids[i]);
        fprintf(out, "%s)", s->npids > 4 ? ", ..." : "");
    }
    if (s->baseline)
        fputs(" (in baseline)", out);
    fputs("\n", out);
    lwr_held_print(out, s->held);
    if (s->nframes == 0)
        fputs("    (no stack was recorded)\n", out);
    for (size_t i = 0; i < s->nframes; i++)
        lwr_print_frame(out, i, &s->frames[i]);
    if (s->nsamples > 0) {
        fputs("    samples: ", out);
        for (size_t i = 0; i < s->nsamples && i < LWR_TEXT_SAMPLES; i++) {
            if (i)
                fputs(", ", out);
            lwr_print_sample(out, s->kind, &s->samples[i], s->npids > 1);
        }
        if (s->count > LWR_TEXT_SAMPLES && s->nsamples >= LWR_TEXT_SAMPLES)
            fputs(", ...", out);
        fputc('\n', out);
    }
    if (s->nindirect > 0 && !show_indirect)
        fprintf(out, "    indirect blocks at %zu more %s (--show-indirect lists them)\n", s->nindirect,
                s->nindirect == 1 ? "site" : "sites");
}

/* Whether site s is an indirect one whose root is in the report: shown under it, with --show-indirect only. */
static bool under_root(const lwr_report_t *r, const lwr_site_t *s)
{
    return lwr_site_is_indirect(s) && lwr_report_site_by_id(r, s->root_id) != NULL;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A root site, then (--show-indirect) the indirect sites it is the root of, in the report's order. */
static void print_root(FILE *out, const lwr_report_t *r, const lwr_site_t *s)
{
    print_site(out, s, r->show_indirect);
    if (!r->show_indirect || s->nindirect == 0)
        return;
    uint64_t *ids = malloc(s->nindirect * sizeof *ids);
    if (ids)
        memcpy(ids, s->indirect_ids, s->nindirect * sizeof *ids);
    qsort(ids ? ids : s->indirect_ids, s->nindirect, sizeof *ids, cmp_id);
    for (size_t i = 0; i < s->nindirect; i++) {
        const lwr_site_t *c = lwr_report_site_by_id(r, (ids ? ids : s->indirect_ids)[i]);
        if (c && c->root_id == s->id && under_root(r, c))
            print_site(out, c, true);
    }
    free(ids);
}

/* A warning: its type, process and message, then the stack of the event and the other stack involved (the
 * earlier close of a double close, the exec that inherits a descriptor). */
static void print_warning(FILE *out, const lwr_warning_t *w, bool first)
{
    if (first)
        fputc('\n', out);
    fprintf(out, "warning: %s, pid %ld", lwr_show(w->type), w->pid);
    if (w->count > 1)
        fprintf(out, ", %" PRIu64 " times", w->count);
    fprintf(out, ": %s\n", w->message ? lwr_show(w->message) : "");
    for (size_t i = 0; i < w->nframes; i++)
        lwr_print_frame(out, i, &w->frames[i]);
    if (w->nother > 0) {
        fputs(strcmp(w->type, "fd-into-exec") == 0 ? "  the exec:\n" : "  the earlier close:\n", out);
        for (size_t i = 0; i < w->nother; i++)
            lwr_print_frame(out, i, &w->other_frames[i]);
    }
}

/* `N blocks (B bytes)`, `N descriptors`, ... */
static void print_amount(FILE *out, lwr_kind_t kind, lwr_total_t t)
{
    fprintf(out, "%" PRIu64 " %s", t.count, noun(kind, t.count));
    if (kind == LWR_HEAP)
        fprintf(out, " (%" PRIu64 " bytes)", t.bytes);
}

static void print_supp_name(FILE *out, const lwr_supp_use_t *u)
{
    fprintf(out, "    %s:%s (", u->warning ? "warning" : u->kind == LWR_HEAP ? "leak" : lwr_kind_name(u->kind),
            lwr_show(u->pattern));
    if (u->builtin)
        fputs("built-in)", out);
    else
        fprintf(out, "%s:%u)", u->file ? lwr_show(u->file) : "?", u->line);
}

/* The suppressions that hid something, with what they hid, then the user's suppressions that matched nothing.
 * Built-in entries that hid only reachable blocks are listed only with --show-reachable. */
static void print_suppressions(FILE *out, const lwr_report_t *r)
{
    bool first = true;
    for (size_t i = 0; i < r->nsupps; i++) {
        const lwr_supp_use_t *u = &r->supps[i];
        if (u->hidden.count == 0 && (u->reachable.count == 0 || (u->builtin && !r->show_reachable)))
            continue;
        if (first)
            fputs("\nsuppressions used:\n", out);
        first = false;
        print_supp_name(out, u);
        fputs(": ", out);
        if (u->warning)
            fprintf(out, "%" PRIu64 " %s", u->hidden.count, u->hidden.count == 1 ? "warning" : "warnings");
        else if (u->hidden.count > 0)
            print_amount(out, u->kind, u->hidden);
        if (u->reachable.count > 0) {
            fputs(u->hidden.count > 0 ? "; " : "", out);
            print_amount(out, LWR_HEAP, u->reachable);
            fputs(" still reachable", out);
        }
        fputc('\n', out);
    }
    first = true;
    for (size_t i = 0; i < r->nsupps; i++) {
        const lwr_supp_use_t *u = &r->supps[i];
        if (u->builtin || u->sites > 0)
            continue;
        if (first)
            fputs("\nsuppressions that matched nothing:\n", out);
        first = false;
        print_supp_name(out, u);
        fputc('\n', out);
    }
}

/* The warnings a process could not keep, and the processes `leakwatch run` could not check, with the reason. */
static void print_unchecked(FILE *out, const lwr_report_t *r)
{
    for (size_t i = 0; r->processes && i < r->nprocesses; i++)
        if (r->processes[i].lost_warnings > 0)
            fprintf(out, "\nleakwatch: pid %ld: %" PRIu64 " more warnings were not kept (at most 256 per process)\n",
                    r->processes[i].pid, r->processes[i].lost_warnings);
    if (r->nunchecked > 0)
        fprintf(out, "\nleakwatch: %zu %s could not be checked:\n", r->nunchecked,
                r->nunchecked == 1 ? "process" : "processes");
    for (size_t i = 0; i < r->nunchecked; i++)
        fprintf(out, "    pid %ld (%s): %s\n", r->unchecked[i].pid,
                r->unchecked[i].executable ? lwr_show(r->unchecked[i].executable) : "?",
                lwr_show(r->unchecked[i].reason));
}

/* The comment line of a generated suppression: the site's kind, size and where the program acquired it. */
static void print_generated_comment(FILE *out, const lwr_site_t *s)
{
    fprintf(out, "# %s", lwr_kind_name(s->kind));
    if (s->kind == LWR_HEAP)
        fprintf(out, ": %" PRIu64 " bytes in %" PRIu64 " %s", s->bytes, s->count, noun(s->kind, s->count));
    else
        fprintf(out, ": %" PRIu64 " %s", s->count, noun(s->kind, s->count));
    const lwr_frame_t *at = lwr_acquiring_frame(s);
    if (at) {
        char where[1024];
        lwr_frame_where(at, where, sizeof where);
        fprintf(out, " at %s", lwr_show(where));
    }
}

/* --gen-suppressions: per site shown, a comment naming it and the line that hides exactly it, ready to paste into
 * a file for --suppressions. Sites that get the same line (the same frames in two classes, say) share it: their
 * comments, then the line once. */
void lwr_render_generated(FILE *out, const lwr_report_t *r)
{
    fputs("suppressions for the sites above (--gen-suppressions):\n", out);
    char **lines = calloc(r->nsites ? r->nsites : 1, sizeof *lines);
    bool *done = calloc(r->nsites ? r->nsites : 1, sizeof *done);
    if (!lines || !done) {
        free(lines);
        free(done);
        fputs("(out of memory)\n", out);
        return;
    }
    for (size_t i = 0; i < r->nsites; i++) {
        const lwr_site_t *s = &r->sites[i];
        done[i] = s->cls == LWR_CLASS_REACHABLE && !r->show_reachable;
        if (!done[i])
            lines[i] = lwr_supp_generate(r, i);
    }
    for (size_t i = 0; i < r->nsites; i++) {
        if (done[i])
            continue;
        char *line = lines[i];
        print_generated_comment(out, &r->sites[i]);
        for (size_t k = i + 1; line && k < r->nsites; k++)
            if (!done[k] && lines[k] && strcmp(lines[k], line) == 0) {
                fputc('\n', out);
                print_generated_comment(out, &r->sites[k]);
                done[k] = true;
            }
        if (line && !lwr_needs_escape(line)) {
            fprintf(out, "\n%s\n", line);
        } else {
            /* a name that would need escaping is no pattern; nothing is better than a line that hides more */
            fputs(line ? " (no line: a name holds bytes a suppression cannot)\n"
                       : " (no line: no stack, or longer than a suppression line)\n", out);
        }
    }
    for (size_t i = 0; i < r->nsites; i++)
        free(lines[i]);
    free(lines);
    free(done);
}

/* Whether every process of the report was dumped while it ran (a signal, interval or program dump, no exit or
 * exec dump among them). */
static bool all_running(const lwr_report_t *r)
{
    for (size_t i = 0; i < r->nprocesses; i++) {
        const char *why = r->processes[i].reason;
        if (!why || strcmp(why, "exit") == 0 || strcmp(why, "exec") == 0)
            return false;
    }
    return r->nprocesses > 0;
}

/* Whether the report lists what running processes held rather than leaks: every process was dumped while it ran
 * and a heap site carries no class (the dump was taken without a reachability scan), so nothing tells a leaked
 * block from one the program still uses. A scanned dump's unreachable blocks are leaks, running or not. */
static bool only_held(const lwr_report_t *r)
{
    if (!all_running(r))
        return false;
    for (size_t i = 0; i < r->nsites; i++)
        if (r->sites[i].kind == LWR_HEAP && r->sites[i].cls == LWR_CLASS_NONE)
            return true;
    return false;
}

/* The last line, for CI logs and grep, in LeakSanitizer's words: `SUMMARY: leakwatch: B bytes leaked in N
 * allocations` (held, for unscanned dumps of running processes), then the other kinds and the processes that
 * could not be checked. */
static void print_summary(FILE *out, const lwr_report_t *r)
{
    uint64_t n = r->totals[LWR_HEAP].count;
    fprintf(out, "\nSUMMARY: leakwatch: %" PRIu64 " %s %s in %" PRIu64 " %s", r->totals[LWR_HEAP].bytes,
            r->totals[LWR_HEAP].bytes == 1 ? "byte" : "bytes", only_held(r) ? "held" : "leaked", n,
            n == 1 ? "allocation" : "allocations");
    const char *sep = "; ";
    for (int k = LWR_HEAP + 1; k < LWR_KIND_COUNT; k++) {
        if ((n = r->totals[k].count) == 0)
            continue;
        fprintf(out, "%s%" PRIu64 " %s", sep, n, noun((lwr_kind_t)k, n));
        sep = ", ";
    }
    if (r->nunchecked > 0)
        fprintf(out, "; %zu %s not checked", r->nunchecked, r->nunchecked == 1 ? "process" : "processes");
    fputc('\n', out);
}

bool lwr_has_generated(const lwr_report_t *r)
{
    return r->gen_suppressions && lwr_report_leak_sites(r) + (r->show_reachable ? r->nsites : 0) > 0;
}

int lwr_render_text(FILE *out, const lwr_report_t *r)
{
    uint64_t leaks = lwr_report_count(r, LWR_ALL_KINDS);
    const char *procs = r->nprocesses == 1 ? "process" : "processes";
    size_t checked = 0;
    for (size_t i = 0, j = 0; r->processes && i < r->nprocesses && r->nunchecked > 0; i++) {
        /* both ascending by pid: a process with an unchecked entry (an incomplete dump, no exit dump) is not
         * one that was checked */
        while (j < r->nunchecked && r->unchecked[j].pid < r->processes[i].pid)
            j++;
        checked += j == r->nunchecked || r->unchecked[j].pid != r->processes[i].pid;
    }
    if (leaks == 0 && r->nunchecked > 0) {
        /* "no leaks" alone would read as a pass */
        if (checked == 0)
            fprintf(out, "leakwatch: no process could be checked (%zu unchecked, below)\n", r->nunchecked);
        else
            fprintf(out, "leakwatch: no leaks in the %zu %s checked; %zu could not be checked (below)\n", checked,
                    checked == 1 ? "process" : "processes", r->nunchecked);
    } else if (leaks == 0) {
        fprintf(out, "leakwatch: no leaks (%zu %s)", r->nprocesses, procs);
        if (r->reachable.count > 0)
            fprintf(out, "; %" PRIu64 " heap %s (%" PRIu64 " bytes) still reachable at exit", r->reachable.count,
                    noun(LWR_HEAP, r->reachable.count), r->reachable.bytes);
        fputc('\n', out);
    } else {
        size_t nsites = lwr_report_leak_sites(r);
        for (size_t i = 0; i < r->nsites; i++)
            nsites -= under_root(r, &r->sites[i]); /* counted with their root */
        /* unscanned dumps of running processes list what they hold, leaked or not yet freed: no leak is known */
        bool running = only_held(r);
        fprintf(out, "leakwatch: %" PRIu64 " %s at %zu %s in %zu %s%s", leaks,
                running ? (leaks == 1 ? "handle held" : "handles held") : (leaks == 1 ? "leak" : "leaks"), nsites,
                nsites == 1 ? "site" : "sites", r->nprocesses, procs,
                running ? (r->nprocesses == 1 ? " dumped while it ran" : " dumped while they ran") : "");
        /* the number the gate's line compares with --max-leaks, when kinds it leaves out make this one larger */
        uint64_t gated = 0;
        for (int k = 0; r->has_gate && k < LWR_KIND_COUNT; k++)
            if (r->gate.kinds & (1u << k))
                gated += r->totals[k].count;
        if (r->has_gate && gated != leaks)
            fprintf(out, ", %" PRIu64 " of them counted by the gate", gated);
        fputc(':', out);
        const char *sep = " ";
        for (int k = 0; k < LWR_KIND_COUNT; k++) {
            uint64_t n = r->totals[k].count;
            if (n == 0)
                continue;
            /* a kind the gate leaves out (mmap, unless --kinds names it) says so, or the count above would not
             * be the one the gate's line compares with --max-leaks */
            const char *ungated = r->has_gate && !(r->gate.kinds & (1u << k)) ? "not counted by the gate" : NULL;
            if (k == LWR_HEAP || k == LWR_MMAP)
                fprintf(out, "%s%s %" PRIu64 "%s%s (%" PRIu64 " bytes%s%s)", sep, lwr_kind_name((lwr_kind_t)k), n,
                        k == LWR_HEAP ? " " : "", k == LWR_HEAP ? noun(LWR_HEAP, n) : "", r->totals[k].bytes,
                        ungated ? ", " : "", ungated ? ungated : "");
            else
                fprintf(out, "%s%s %" PRIu64 "%s%s%s", sep, lwr_kind_name((lwr_kind_t)k), n, ungated ? " (" : "",
                        ungated ? ungated : "", ungated ? ")" : "");
            sep = ", ";
        }
        if (r->reachable.count > 0)
            fprintf(out, "; %" PRIu64 " more %s (%" PRIu64 " bytes) still reachable, not leaks", r->reachable.count,
                    noun(LWR_HEAP, r->reachable.count), r->reachable.bytes);
        if (running)
            fputs("; the heap is not classified (LEAKWATCH_REACHABILITY=always scans these dumps too)", out);
        fputc('\n', out);
    }
    for (size_t i = 0; i < r->nsites; i++)
        if ((r->sites[i].cls != LWR_CLASS_REACHABLE || r->show_reachable) && !under_root(r, &r->sites[i]))
            print_root(out, r, &r->sites[i]);
    for (size_t i = 0; i < r->nwarnings; i++)
        print_warning(out, &r->warnings[i], i == 0);
    if (lwr_has_generated(r)) {
        fputc('\n', out);
        lwr_render_generated(out, r);
    }
    print_suppressions(out, r);
    print_unchecked(out, r);
    if (leaks > 0 || r->nunchecked > 0)
        print_summary(out, r);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* The JSON report (docs/FORMAT.md, `leakwatch_report: 1`), built with jansson. */
#include "render.h"
#include "escape.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

/* Adds `value` under `key`, taking the reference; a NULL value (out of memory) marks the document bad. */
static void set(json_t *obj, const char *key, json_t *value, int *bad)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        *bad = 1;
}

static void append(json_t *arr, json_t *value, int *bad)
{
    if (!value || json_array_append_new(arr, value) != 0)
        *bad = 1;
}

static json_t *str_or_null(const char *s)
{
    return lwr_json_name(s);
}

static json_t *count_json(lwr_total_t t, int *bad)
{
    json_t *o = json_object();
    if (o) {
        set(o, "count", json_integer((json_int_t)t.count), bad);
        set(o, "bytes", json_integer((json_int_t)t.bytes), bad);
    }
    return o;
}

static json_t *totals_json(const lwr_total_t *totals, lwr_total_t reachable, int *bad)
{
    json_t *t = json_object();
    if (!t) {
        *bad = 1;
        return NULL;
    }
    for (int k = 0; k < LWR_KIND_COUNT; k++)
        set(t, lwr_kind_name((lwr_kind_t)k), count_json(totals[k], bad), bad);
    set(t, "reachable", count_json(reachable, bad), bad);
    return t;
}

static json_t *frames_json(const lwr_frame_t *fr, size_t n, int *bad)
{
    json_t *frames = json_array();
    if (!frames) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        append(frames, lwr_frame_json(&fr[i]), bad);
    }
    return frames;
}

/* The site's id, what a site heading lost blocks holds, the root of an indirect one, the holder of a reachable
 * one (docs/FORMAT.md). */
static void grouping_json(json_t *o, const lwr_site_t *s, int *bad)
{
    set(o, "id", json_integer((json_int_t)s->id), bad);
    if (s->attributed) {
        json_t *ids = json_array();
        for (size_t i = 0; ids && i < s->nindirect; i++)
            append(ids, json_integer((json_int_t)s->indirect_ids[i]), bad);
        set(o, "indirect_count", json_integer((json_int_t)s->indirect_count), bad);
        set(o, "indirect_bytes", json_integer((json_int_t)s->indirect_bytes), bad);
        set(o, "indirect_sites", ids, bad);
        if (s->cycle) {
            set(o, "cycle", json_true(), bad);
            set(o, "direct_count", json_integer((json_int_t)s->direct_count), bad);
            set(o, "direct_bytes", json_integer((json_int_t)s->direct_bytes), bad);
        }
    }
    if (s->root_id)
        set(o, "root_site", json_integer((json_int_t)s->root_id), bad);
    if (s->held)
        set(o, "held_by", lwr_held_json(s->held), bad);
}

static json_t *site_json(const lwr_site_t *s, int *bad)
{
    json_t *o = json_object(), *samples = json_array(), *pids = json_array();
    if (!o || !samples || !pids) {
        json_decref(o);
        json_decref(samples);
        json_decref(pids);
        *bad = 1;
        return NULL;
    }
    set(o, "kind", json_string(lwr_kind_name(s->kind)), bad);
    if (lwr_class_name(s->cls))
        set(o, "class", json_string(lwr_class_name(s->cls)), bad);
    set(o, "count", json_integer((json_int_t)s->count), bad);
    set(o, "bytes", json_integer((json_int_t)s->bytes), bad);
    set(o, "frames", frames_json(s->frames, s->nframes, bad), bad);
    if (s->oldest_age_ms >= 0)
        set(o, "oldest_age_ms", json_integer(s->oldest_age_ms), bad);
    if (s->median_age_ms >= 0)
        set(o, "median_age_ms", json_integer(s->median_age_ms), bad);
    for (size_t i = 0; i < s->nsamples; i++) {
        const lwr_report_sample_t *smp = &s->samples[i];
        json_t *so = json_object();
        if (so) {
            set(so, "pid", json_integer(smp->pid), bad);
            set(so, "handle", lwr_json_name(smp->handle ? smp->handle : ""), bad);
            set(so, "size", json_integer((json_int_t)smp->size), bad);
            if (smp->detail)
                set(so, "detail", lwr_json_name(smp->detail), bad);
        }
        append(samples, so, bad);
    }
    set(o, "samples", samples, bad);
    for (size_t i = 0; i < s->npids; i++)
        append(pids, json_integer(s->pids[i]), bad);
    set(o, "pids", pids, bad);
    if (s->baseline)
        set(o, "baseline", json_true(), bad);
    grouping_json(o, s, bad);
    return o;
}

/* `suppressed` (the suppressions that hid something) or `unused_suppressions` (the user's that hid nothing). */
static json_t *supps_json(const lwr_report_t *r, bool used, int *bad)
{
    json_t *arr = json_array();
    if (!arr) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < r->nsupps; i++) {
        const lwr_supp_use_t *u = &r->supps[i];
        if (used ? u->sites == 0 : (u->sites > 0 || u->builtin))
            continue;
        json_t *o = json_object();
        if (o) {
            set(o, "pattern", lwr_json_name(u->pattern), bad);
            set(o, "kind", json_string(u->warning ? "warning" : lwr_kind_name(u->kind)), bad);
            set(o, "file", u->builtin ? json_string("<built-in>") : str_or_null(u->file), bad);
            set(o, "line", json_integer(u->line), bad);
            if (used) {
                set(o, "count", json_integer((json_int_t)u->hidden.count), bad);
                set(o, "bytes", json_integer((json_int_t)u->hidden.bytes), bad);
                set(o, "reachable", count_json(u->reachable, bad), bad);
                set(o, "sites", json_integer((json_int_t)u->sites), bad);
            }
        }
        append(arr, o, bad);
    }
    return arr;
}

static json_t *process_json(const lwr_process_t *p, int *bad)
{
    json_t *o = json_object(), *args = json_array();
    if (!o || !args) {
        json_decref(o);
        json_decref(args);
        *bad = 1;
        return NULL;
    }
    set(o, "pid", json_integer(p->pid), bad);
    set(o, "ppid", p->ppid >= 0 ? json_integer(p->ppid) : json_null(), bad);
    set(o, "executable", str_or_null(p->executable), bad);
    for (size_t i = 0; i < p->nargs; i++)
        append(args, lwr_json_name(p->arguments[i] ? p->arguments[i] : ""), bad);
    set(o, "arguments", args, bad);
    set(o, "exit_status", p->has_exit_status ? json_integer(p->exit_status) : json_null(), bad);
    set(o, "dump", str_or_null(p->dump), bad);
    set(o, "dropped", json_integer((json_int_t)p->dropped), bad);
    json_t *lost = json_object();
    if (lost) {
        set(lost, "records", json_integer((json_int_t)p->lost_records), bad);
        set(lost, "sites", json_integer((json_int_t)p->lost_sites), bad);
        set(lost, "warnings", json_integer((json_int_t)p->lost_warnings), bad);
    }
    set(o, "lost", lost, bad);
    return o;
}

static json_t *unchecked_json(const lwr_report_t *r, int *bad)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < r->nunchecked; i++) {
        json_t *o = json_object();
        if (o) {
            set(o, "pid", json_integer(r->unchecked[i].pid), bad);
            set(o, "executable", str_or_null(r->unchecked[i].executable), bad);
            set(o, "reason", json_string(r->unchecked[i].reason), bad);
        }
        append(arr, o, bad);
    }
    if (!arr)
        *bad = 1;
    return arr;
}

static json_t *warning_json(const lwr_warning_t *w, int *bad)
{
    json_t *o = json_object();
    if (!o) {
        *bad = 1;
        return NULL;
    }
    set(o, "type", lwr_json_name(w->type), bad);
    set(o, "pid", json_integer(w->pid), bad);
    set(o, "handle", str_or_null(w->handle), bad);
    set(o, "count", json_integer((json_int_t)w->count), bad);
    set(o, "message", str_or_null(w->message), bad);
    set(o, "frames", frames_json(w->frames, w->nframes, bad), bad);
    set(o, "other_frames", frames_json(w->other_frames, w->nother, bad), bad);
    return o;
}

static json_t *report_json(const lwr_report_t *r)
{
    int bad = 0;
    json_t *root = json_object(), *sites = json_array(), *procs = json_array();
    if (!root || !sites || !procs) {
        json_decref(root);
        json_decref(sites);
        json_decref(procs);
        return NULL;
    }
    set(root, "leakwatch_report", json_integer(1), &bad);
    set(root, "totals", totals_json(r->totals, r->reachable, &bad), &bad);
    for (size_t i = 0; i < r->nsites; i++)
        append(sites, site_json(&r->sites[i], &bad), &bad);
    set(root, "sites", sites, &bad);
    for (size_t i = 0; i < r->nprocesses; i++)
        append(procs, process_json(&r->processes[i], &bad), &bad);
    set(root, "processes", procs, &bad);
    json_t *warnings = json_array();
    for (size_t i = 0; warnings && i < r->nwarnings; i++)
        append(warnings, warning_json(&r->warnings[i], &bad), &bad);
    set(root, "warnings", warnings, &bad);
    if (r->has_unchecked)
        set(root, "unchecked", unchecked_json(r, &bad), &bad);
    if (r->has_suppressions) {
        set(root, "suppressed", supps_json(r, true, &bad), &bad);
        set(root, "unused_suppressions", supps_json(r, false, &bad), &bad);
    }
    if (r->has_gate) {
        json_t *g = json_object(), *kinds = json_array();
        if (g && kinds) {
            set(g, "max_leaks", json_integer((json_int_t)r->gate.max_leaks), &bad);
            set(g, "leaks", json_integer((json_int_t)r->gate.leaks), &bad);
            for (int k = 0; k < LWR_KIND_COUNT; k++)
                if (r->gate.kinds & (1u << k))
                    append(kinds, json_string(lwr_kind_name((lwr_kind_t)k)), &bad);
            set(g, "kinds", kinds, &bad);
            set(g, "failed", json_boolean(r->gate.failed), &bad);
            set(g, "reachable", json_boolean(r->gate.reachable), &bad);
            if (r->gate.has_baseline)
                set(g, "baseline", json_integer((json_int_t)r->gate.baseline), &bad);
            set(root, "gate", g, &bad);
        } else {
            json_decref(g);
            json_decref(kinds);
            bad = 1;
        }
    }
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int lwr_json_write(FILE *out, json_t *root, size_t flags)
{
    if (!root)
        return -1;
    int rc = json_dumpf(root, out, flags);
    json_decref(root);
    if (rc == 0)
        fputc('\n', out);
    fflush(out);
    return rc == 0 && !ferror(out) ? 0 : -1;
}

int lwr_render_json(FILE *out, const lwr_report_t *r)
{
    return lwr_json_write(out, report_json(r), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

int lwr_render_json_file(const char *path, const lwr_report_t *r)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return errno;
    int rc = lwr_render_json(f, r);
    int err = rc == 0 ? 0 : (errno ? errno : EIO);
    if (fclose(f) != 0 && err == 0)
        err = errno ? errno : EIO;
    return err;
}

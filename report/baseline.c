/* Reads and writes baselines, marks report sites found in one, and computes the gate that leaves them out. */
#include "baseline.h"

#include "keybuf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

/* Appends one frame: "F" function NUL file-base-name NUL when the function is known, else "M" module-base-name
 * NUL, else "U". Base names, so that a checkout in another directory or a reinstalled library still matches. */
static void put_frame(lwr_keybuf_t *k, const char *function, const char *file, const char *module)
{
    if (function) {
        lwr_keybuf_put(k, "F", 1);
        lwr_keybuf_put_str(k, function);
        const char *b = file ? base_name(file) : "";
        lwr_keybuf_put_str(k, b);
    } else if (module) {
        const char *b = base_name(module);
        lwr_keybuf_put(k, "M", 1);
        lwr_keybuf_put_str(k, b);
    } else {
        lwr_keybuf_put(k, "U", 1);
    }
}

static void put_head(lwr_keybuf_t *k, lwr_kind_t kind, bool reachable)
{
    char h[2] = { (char)('0' + kind), reachable ? 'r' : 'l' };
    k->len = 0;
    lwr_keybuf_put(k, h, 2);
}

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A string member, or NULL when it is absent or null; *bad when it is another type. */
static const char *opt_str(json_t *obj, const char *key, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

int lwr_baseline_from_json(lwr_baseline_t *b, json_t *root, const char *name, char *err, size_t errlen)
{
    if (!json_is_object(root)
        || (!json_is_integer(json_object_get(root, "leakwatch_report"))
            && !json_is_integer(json_object_get(root, "leakwatch_baseline")))) {
        fail(err, errlen, "%s: not a leakwatch report or baseline (no leakwatch_report or leakwatch_baseline)",
             name);
        return -1;
    }
    json_t *sites = json_object_get(root, "sites"), *site;
    if (!json_is_array(sites)) {
        fail(err, errlen, "%s: sites: not an array", name);
        return -1;
    }
    lwr_keybuf_t k = LWR_KEYBUF_INIT;
    size_t i;
    int rc = 0;
    json_array_foreach(sites, i, site) {
        int bad = 0;
        const char *kind = json_is_object(site) ? opt_str(site, "kind", &bad) : NULL;
        const char *cls = json_is_object(site) ? opt_str(site, "class", &bad) : NULL;
        json_t *frames = json_is_object(site) ? json_object_get(site, "frames") : NULL;
        if (!json_is_object(site) || bad || !kind || !json_is_array(frames)) {
            fail(err, errlen, "%s: sites[%zu]: needs a kind and an array of frames", name, i);
            rc = -1;
            break;
        }
        int kd = lwr_kind_from_name(kind, strlen(kind));
        if (kd < 0)
            continue;   /* a kind this reader does not know: it cannot match any site */
        put_head(&k, (lwr_kind_t)kd, cls && strcmp(cls, "reachable") == 0);
        json_t *fr;
        size_t j;
        json_array_foreach(frames, j, fr) {
            const char *fn = json_is_object(fr) ? opt_str(fr, "function", &bad) : NULL;
            const char *file = json_is_object(fr) ? opt_str(fr, "file", &bad) : NULL;
            const char *mod = json_is_object(fr) ? opt_str(fr, "module", &bad) : NULL;
            if (!json_is_object(fr) || bad) {
                fail(err, errlen, "%s: sites[%zu].frames[%zu]: function, file and module must be strings or null",
                     name, i, j);
                rc = -1;
                break;
            }
            put_frame(&k, fn, file, mod);
        }
        if (rc != 0)
            break;
        if (k.oom || lwr_map_put(&b->keys, k.p, k.len, 1) != 0) {
            fail(err, errlen, "%s: out of memory", name);
            rc = -1;
            break;
        }
        b->nsites++;
    }
    free(k.p);
    return rc;
}

int lwr_baseline_load(lwr_baseline_t *b, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    size_t len = 0;
    char *text = lwr_read_file(path, LWR_BASELINE_MAX_BYTES, false, &len, err, errlen);
    if (!text)
        return -1;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) {
        if (jerr.line > 0)
            fail(err, errlen, "%s: line %d, column %d: %s", path, jerr.line, jerr.column, jerr.text);
        else
            fail(err, errlen, "%s: %s", path, jerr.text);
        return -1;
    }
    int rc = lwr_baseline_from_json(b, root, path, err, errlen);
    json_decref(root);
    return rc;
}

static int site_key(lwr_keybuf_t *k, const lwr_site_t *s)
{
    put_head(k, s->kind, s->cls == LWR_CLASS_REACHABLE);
    for (size_t i = 0; i < s->nframes; i++)
        put_frame(k, s->frames[i].function, s->frames[i].file, s->frames[i].module);
    return k->oom ? -1 : 0;
}

bool lwr_baseline_has(const lwr_baseline_t *b, const lwr_site_t *site)
{
    if (b->keys.len == 0)
        return false;
    lwr_keybuf_t k = LWR_KEYBUF_INIT;
    bool found = site_key(&k, site) == 0 && lwr_map_get(&b->keys, k.p, k.len) != (size_t)-1;
    free(k.p);
    return found;
}

size_t lwr_baseline_mark(lwr_report_t *r, const lwr_baseline_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nsites; i++) {
        r->sites[i].baseline = lwr_baseline_has(b, &r->sites[i]);
        n += r->sites[i].baseline;
    }
    return n;
}

void lwr_baseline_free(lwr_baseline_t *b)
{
    lwr_map_clear(&b->keys);
    b->nsites = 0;
}

bool lwr_site_gated(const lwr_report_t *r, const lwr_site_t *s)
{
    lwr_kindset_t kinds = r->has_gate ? r->gate.kinds : LWR_ALL_KINDS;
    if (!(kinds & (1u << s->kind)) || s->baseline)
        return false;
    if (s->cls == LWR_CLASS_REACHABLE)
        return r->has_gate && r->gate.reachable;
    return true;
}

void lwr_report_gate(lwr_report_t *r, uint64_t max_leaks, lwr_kindset_t kinds, bool reachable, bool has_baseline)
{
    r->has_gate = true;
    r->gate.max_leaks = max_leaks;
    r->gate.kinds = kinds;
    r->gate.reachable = reachable;
    r->gate.has_baseline = has_baseline;
    uint64_t leaks = lwr_report_count(r, kinds), known = 0;
    if (reachable && (kinds & (1u << LWR_HEAP)))
        lwr_count_add(&leaks, r->reachable.count);
    for (size_t i = 0; i < r->nsites; i++) {
        const lwr_site_t *s = &r->sites[i];
        bool counted = (kinds & (1u << s->kind)) && (s->cls != LWR_CLASS_REACHABLE || reachable);
        if (s->baseline && counted)
            lwr_count_add(&known, s->count);
    }
    if (known > leaks)
        known = leaks;
    r->gate.baseline = known;
    r->gate.leaks = leaks - known;
    r->gate.failed = r->gate.leaks > max_leaks;
}

/* Copies the members a baseline keeps from one report site; NULL when out of memory. */
static json_t *baseline_site(json_t *site)
{
    json_t *o = json_object(), *frames = json_array(), *fr;
    if (!o || !frames) {
        json_decref(o);
        json_decref(frames);
        return NULL;
    }
    static const char *const keep[] = { "kind", "class", "count", "bytes" };
    int bad = 0;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(site, keep[i]);
        if (v && json_object_set(o, keep[i], v) != 0)
            bad = 1;
    }
    size_t j;
    json_array_foreach(json_object_get(site, "frames"), j, fr) {
        json_t *f = json_object();
        static const char *const fkeep[] = { "function", "file", "line", "module" };
        for (size_t i = 0; f && i < sizeof fkeep / sizeof fkeep[0]; i++) {
            json_t *v = json_object_get(fr, fkeep[i]);
            if (v && json_object_set(f, fkeep[i], v) != 0)
                bad = 1;
        }
        if (!f || json_array_append_new(frames, f) != 0)
            bad = 1;
    }
    if (json_object_set_new(o, "frames", frames) != 0)
        bad = 1;
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int lwr_baseline_write(FILE *out, json_t *report, const char *name, char *err, size_t errlen)
{
    lwr_baseline_t check = LWR_BASELINE_INIT;
    if (!json_is_integer(json_object_get(report, "leakwatch_report"))) {
        fail(err, errlen, "%s: not a leakwatch report (no leakwatch_report member)", name);
        return -1;
    }
    /* Reading it as a baseline first checks every member the baseline keeps. */
    int rc = lwr_baseline_from_json(&check, report, name, err, errlen);
    lwr_baseline_free(&check);
    if (rc != 0)
        return -1;
    json_t *root = json_object(), *sites = json_array(), *site;
    if (!root || !sites || json_object_set_new(root, "leakwatch_baseline", json_integer(1)) != 0) {
        json_decref(root);
        json_decref(sites);
        fail(err, errlen, "out of memory");
        return -1;
    }
    size_t i;
    json_array_foreach(json_object_get(report, "sites"), i, site) {
        const char *cls = json_string_value(json_object_get(site, "class"));
        if (cls && strcmp(cls, "reachable") == 0)
            continue;   /* not a leak: nothing for the gate to forgive */
        json_t *copy = baseline_site(site);
        if (!copy || json_array_append_new(sites, copy) != 0)
            rc = -1;
    }
    if (json_object_set_new(root, "sites", sites) != 0)
        rc = -1;
    if (rc != 0) {
        json_decref(root);
        fail(err, errlen, "out of memory");
        return -1;
    }
    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc == 0)
        fputc('\n', out);
    if (fflush(out) != 0 || ferror(out) || rc != 0) {
        fail(err, errlen, "writing the baseline failed");
        return -1;
    }
    return 0;
}

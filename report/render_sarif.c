/* The SARIF 2.1.0 log of a report: one result per leaking site, located at the line that acquired it. */
#include "render_ci.h"
#include "escape.h"
#include "baseline.h"
#include "cli.h"
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* `tool.driver.informationUri`: the README that `make install` puts under its default PREFIX; a build can name a
 * web page instead (CFLAGS += -DLWR_INFORMATION_URI='"https://..."'). */
#ifndef LWR_INFORMATION_URI
#define LWR_INFORMATION_URI "file:///usr/local/share/doc/leakwatch/README.md"
#endif

typedef struct {
    const char *id;
    const char *name;
    const char *text;
} rule_t;

/* Every rule, in the order of tool.driver.rules (results refer to them by index). */
static const rule_t rules[] = {
    { "leakwatch/heap-definite", "HeapDefiniteLeak",
      "A heap block is still allocated at exit and nothing points to it any more." },
    { "leakwatch/heap-indirect", "HeapIndirectLeak",
      "A heap block is still allocated at exit and only other leaked blocks point to it." },
    { "leakwatch/heap", "HeapLeak", "A heap block is still allocated at exit (not classified)." },
    { "leakwatch/heap-reachable", "HeapReachable",
      "A heap block is still allocated at exit and still pointed to from live memory." },
    { "leakwatch/fd", "DescriptorLeak", "A file descriptor, FILE* or DIR* opened by the program is still open at exit." },
    { "leakwatch/socket", "SocketLeak", "A socket is still open at exit." },
    { "leakwatch/thread", "ThreadLeak", "A thread was neither joined nor detached." },
    { "leakwatch/timer", "TimerLeak", "A POSIX timer was created and never deleted." },
    { "leakwatch/mmap", "MappingLeak",
      "Memory the program mapped is still mapped at exit, or a shared-memory object it created was never removed." },
};
#define NRULES (sizeof rules / sizeof rules[0])

static size_t rule_index(const lwr_site_t *s)
{
    switch (s->kind) {
    case LWR_HEAP:
        return s->cls == LWR_CLASS_DEFINITE ? 0 : s->cls == LWR_CLASS_INDIRECT ? 1 : s->cls == LWR_CLASS_NONE ? 2 : 3;
    case LWR_FD:
        return 4;
    case LWR_SOCKET:
        return 5;
    case LWR_THREAD:
        return 6;
    case LWR_MMAP:
        return 8;
    default:
        return 7;
    }
}

const char *lwr_rule_id(const lwr_site_t *s)
{
    return rules[rule_index(s)].id;
}

/* Whether a module is part of the runtime (libc, the dynamic linker, libstdc++, libgcc) rather than the program. */
static bool runtime_module(const char *module)
{
    static const char *const prefixes[] = { "libc.so", "libc-", "ld-linux", "ld64.so", "ld-2.", "libstdc++.so",
                                            "libpthread.so", "libdl.so", "libgcc_s.so", "libleakwatch.so" };
    if (!module)
        return false;
    const char *slash = strrchr(module, '/');
    const char *base = slash ? slash + 1 : module;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

const lwr_frame_t *lwr_program_frame(const lwr_frame_t *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (frames[i].file && frames[i].line > 0 && !runtime_module(frames[i].module))
            return &frames[i];
    /* A program without debug information (Debian's perl, python3, bash, git): its first frame is known by its
     * function or by module and offset. The runtime's frames around it (malloc, strdup, __libc_start_main) do
     * have positions when libc's debug file is installed, but they are not where the program acquired it. */
    for (size_t i = 0; i < n; i++)
        if ((frames[i].function || frames[i].module) && !runtime_module(frames[i].module))
            return &frames[i];
    return NULL;
}

const lwr_frame_t *lwr_acquiring_frame(const lwr_site_t *s)
{
    return lwr_program_frame(s->frames, s->nframes);
}

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

static json_t *text_json(const char *text, int *bad)
{
    json_t *o = json_object();
    if (!o)
        *bad = 1;
    else
        set(o, "text", lwr_json_name(text), bad);
    return o;
}

/* Percent-encodes a path for a URI: unreserved characters and '/' stay, every other byte becomes %XX. */
static char *uri_encode(const char *prefix, const char *path)
{
    size_t n = strlen(prefix), len = strlen(path);
    char *out = malloc(n + 3 * len + 1);
    if (!out)
        return NULL;
    memcpy(out, prefix, n);
    char *o = out + n;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~/", *p)) {
            *o++ = (char)*p;
        } else {
            static const char hexdig[] = "0123456789ABCDEF";
            *o++ = '%';
            *o++ = hexdig[*p >> 4];
            *o++ = hexdig[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* An artifactLocation for `path`: relative to %SRCROOT% (the current directory) when it lies below it, else a
 * file:// URI for an absolute path. A relative path (debug information without its compile directory,
 * `../csu/libc-start.c`) has no base to resolve against: NULL, and the caller leaves the location out, since a
 * relative URI without a uriBaseId is refused by code-scanning tools. */
static json_t *artifact_json(const char *path, const char *cwd, int *bad)
{
    size_t n = cwd ? strlen(cwd) : 0;
    bool below = n > 0 && strncmp(path, cwd, n) == 0 && path[n] == '/' && path[n + 1];
    if (!below && path[0] != '/')
        return NULL;
    json_t *o = json_object();
    if (!o) {
        *bad = 1;
        return NULL;
    }
    char *uri;
    if (below) {
        uri = uri_encode("", path + n + 1);
        set(o, "uriBaseId", json_string("SRCROOT"), bad);
    } else {
        uri = uri_encode("file://", path);
    }
    if (!uri)
        *bad = 1;
    else
        set(o, "uri", lwr_json_name(uri), bad);
    free(uri);
    return o;
}

/* A location for one frame: its file and line when known, the module otherwise; the frame as the message. */
static json_t *frame_location(const lwr_frame_t *f, size_t index, const char *cwd, bool with_message, int *bad)
{
    json_t *loc = json_object();
    if (!loc) {
        *bad = 1;
        return NULL;
    }
    json_t *art = f->file ? artifact_json(f->file, cwd, bad) : NULL;
    bool in_file = art != NULL;
    if (!art && f->module)
        art = artifact_json(f->module, cwd, bad);
    if (art) {
        json_t *phys = json_object();
        if (phys) {
            set(phys, "artifactLocation", art, bad);
            if (in_file && f->line > 0) {
                json_t *region = json_object();
                if (region) {
                    set(region, "startLine", json_integer(f->line), bad);
                    if (f->column > 0)
                        set(region, "startColumn", json_integer(f->column), bad);
                }
                set(phys, "region", region, bad);
            }
        } else {
            json_decref(art);
        }
        set(loc, "physicalLocation", phys, bad);
    }
    if (with_message) {
        char buf[1024];
        char pos[512];
        lwr_frame_position(f, false, pos, sizeof pos);
        if (f->function && f->file && !in_file)  /* the file has no location: the message names it */
            snprintf(buf, sizeof buf, "#%zu %s %s", index, f->function, pos);
        else if (f->function)
            snprintf(buf, sizeof buf, "#%zu %s", index, f->function);
        else
            snprintf(buf, sizeof buf, "#%zu 0x%" PRIx64 " (%s+0x%" PRIx64 ")", index, f->address,
                     f->module ? f->module : "no module", f->offset);
        set(loc, "message", text_json(buf, bad), bad);
    }
    return loc;
}

static const char *const nouns[LWR_KIND_COUNT][2] = {
    { "heap block", "heap blocks" },   { "descriptor", "descriptors" }, { "socket", "sockets" },
    { "thread", "threads" },           { "timer", "timers" },           { "mapping", "mappings" },
};

/* A stable fingerprint of the call site (kind, class and the functions and file names of its frames): FNV-1a. */
static json_t *fingerprint(const lwr_site_t *s)
{
    uint64_t h = 1469598103934665603ull;
    const unsigned char head[2] = { (unsigned char)s->kind, (unsigned char)s->cls };
    for (size_t i = 0; i < 2; i++)
        h = (h ^ head[i]) * 1099511628211ull;
    for (size_t i = 0; i < s->nframes; i++) {
        const char *parts[2] = { s->frames[i].function, s->frames[i].file };
        for (size_t j = 0; j < 2; j++) {
            const char *p = parts[j];
            if (j == 1 && p && strrchr(p, '/'))
                p = strrchr(p, '/') + 1;
            for (; p && *p; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ull;
            h = (h ^ 0xff) * 1099511628211ull;
        }
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%016" PRIx64, h);
    return json_string(buf);
}

static json_t *result_json(const lwr_report_t *r, const lwr_site_t *s, const char *cwd, int *bad)
{
    json_t *res = json_object();
    if (!res) {
        *bad = 1;
        return NULL;
    }
    size_t ri = rule_index(s);
    set(res, "ruleId", json_string(rules[ri].id), bad);
    set(res, "ruleIndex", json_integer((json_int_t)ri), bad);
    set(res, "level", json_string(lwr_site_gated(r, s) ? "error" : "warning"), bad);

    const lwr_frame_t *at = lwr_acquiring_frame(s);
    char msg[1536], where[1100] = "", procs[64];
    if (at && at->function)
        snprintf(where, sizeof where, ", acquired in %s", at->function);
    if (s->npids == 1)
        snprintf(procs, sizeof procs, " (pid %ld)", s->pids[0]);
    else
        snprintf(procs, sizeof procs, " (%zu processes)", s->npids);
    if (s->kind == LWR_HEAP)
        snprintf(msg, sizeof msg, "%" PRIu64 " bytes in %" PRIu64 " %s %s%s%s%s%s", s->bytes, s->count,
                 nouns[LWR_HEAP][s->count != 1],
                 s->cls == LWR_CLASS_REACHABLE ? "still reachable at exit" : "leaked",
                 s->cls == LWR_CLASS_DEFINITE ? " (definite)" : s->cls == LWR_CLASS_INDIRECT ? " (indirect)" : "",
                 where, procs, s->baseline ? "; in the baseline" : "");
    else if (s->kind == LWR_MMAP)
        snprintf(msg, sizeof msg, "%" PRIu64 " bytes in %" PRIu64 " %s still mapped or created at exit%s%s%s",
                 s->bytes, s->count, nouns[LWR_MMAP][s->count != 1], where, procs,
                 s->baseline ? "; in the baseline" : "");
    else
        snprintf(msg, sizeof msg, "%" PRIu64 " %s still open at exit%s%s%s", s->count,
                 nouns[s->kind][s->count != 1], where, procs, s->baseline ? "; in the baseline" : "");
    set(res, "message", text_json(msg, bad), bad);

    json_t *locs = json_array();
    if (!locs)
        *bad = 1;
    else if (at || s->nframes > 0)
        append(locs, frame_location(at ? at : &s->frames[0], at ? (size_t)(at - s->frames) : 0, cwd, false, bad),
               bad);
    set(res, "locations", locs, bad);

    if (s->nframes > 0) {
        json_t *flows = json_array(), *flow = json_object(), *threads = json_array(), *thread = json_object(),
               *tlocs = json_array();
        if (!flows || !flow || !threads || !thread || !tlocs) {
            json_decref(flows);
            json_decref(flow);
            json_decref(threads);
            json_decref(thread);
            json_decref(tlocs);
            *bad = 1;
        } else {
            /* A code flow runs from the outermost call to the acquisition, so the stack is listed outermost first. */
            for (size_t i = s->nframes; i-- > 0;) {
                json_t *tl = json_object();
                if (tl)
                    set(tl, "location", frame_location(&s->frames[i], i, cwd, true, bad), bad);
                append(tlocs, tl, bad);
            }
            set(thread, "locations", tlocs, bad);
            append(threads, thread, bad);
            set(flow, "threadFlows", threads, bad);
            append(flows, flow, bad);
            set(res, "codeFlows", flows, bad);
        }
    }
    json_t *fp = json_object();
    if (fp)
        set(fp, "leakwatchSite/v1", fingerprint(s), bad);
    set(res, "partialFingerprints", fp, bad);
    if (r->gate.has_baseline)
        set(res, "baselineState", json_string(s->baseline ? "unchanged" : "new"), bad);

    json_t *props = json_object(), *pids = json_array();
    if (props && pids) {
        set(props, "kind", json_string(lwr_kind_name(s->kind)), bad);
        if (lwr_class_name(s->cls))
            set(props, "class", json_string(lwr_class_name(s->cls)), bad);
        set(props, "count", json_integer((json_int_t)s->count), bad);
        set(props, "bytes", json_integer((json_int_t)s->bytes), bad);
        for (size_t i = 0; i < s->npids; i++)
            append(pids, json_integer(s->pids[i]), bad);
        set(props, "pids", pids, bad);
        set(res, "properties", props, bad);
    } else {
        json_decref(props);
        json_decref(pids);
        *bad = 1;
    }
    return res;
}

static json_t *driver_json(int *bad)
{
    json_t *driver = json_object(), *arr = json_array();
    if (!driver || !arr) {
        json_decref(driver);
        json_decref(arr);
        *bad = 1;
        return NULL;
    }
    set(driver, "name", json_string("leakwatch"), bad);
    set(driver, "version", json_string(LWR_VERSION), bad);
    set(driver, "semanticVersion", json_string(LWR_VERSION), bad);
    set(driver, "informationUri", json_string(LWR_INFORMATION_URI), bad);
    for (size_t i = 0; i < NRULES; i++) {
        json_t *rule = json_object(), *conf = json_object();
        if (!rule || !conf) {
            json_decref(rule);
            json_decref(conf);
            *bad = 1;
            continue;
        }
        set(rule, "id", json_string(rules[i].id), bad);
        set(rule, "name", json_string(rules[i].name), bad);
        set(rule, "shortDescription", text_json(rules[i].text, bad), bad);
        set(rule, "fullDescription", text_json(rules[i].text, bad), bad);
        set(conf, "level", json_string(i == 3 ? "note" : "error"), bad);
        set(rule, "defaultConfiguration", conf, bad);
        append(arr, rule, bad);
    }
    set(driver, "rules", arr, bad);
    return driver;
}

int lwr_render_sarif(FILE *out, const lwr_report_t *r)
{
    int bad = 0;
    char cwdbuf[PATH_MAX];
    const char *cwd = getcwd(cwdbuf, sizeof cwdbuf);
    json_t *root = json_object(), *runs = json_array(), *run = json_object(), *tool = json_object(),
           *results = json_array();
    if (!root || !runs || !run || !tool || !results) {
        json_decref(root);
        json_decref(runs);
        json_decref(run);
        json_decref(tool);
        json_decref(results);
        return -1;
    }
    set(root, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"), &bad);
    set(root, "version", json_string("2.1.0"), &bad);
    set(tool, "driver", driver_json(&bad), &bad);
    set(run, "tool", tool, &bad);
    if (cwd && strcmp(cwd, "/") != 0) {
        /* A base URI names a directory, so it ends with a slash. */
        char *uri = uri_encode("file://", cwd);
        size_t n = uri ? strlen(uri) : 0;
        char *dir = uri ? malloc(n + 2) : NULL;
        json_t *bases = json_object(), *src = json_object();
        if (dir && bases && src) {
            memcpy(dir, uri, n);
            dir[n] = '/';
            dir[n + 1] = '\0';
            set(src, "uri", json_string(dir), &bad);
            set(bases, "SRCROOT", src, &bad);
            set(run, "originalUriBaseIds", bases, &bad);
        } else {
            json_decref(bases);
            json_decref(src);
            bad = 1;
        }
        free(uri);
        free(dir);
    } else {
        cwd = NULL;
    }
    for (size_t i = 0; i < r->nsites; i++) {
        const lwr_site_t *s = &r->sites[i];
        if (s->cls == LWR_CLASS_REACHABLE && !(r->has_gate && r->gate.reachable))
            continue;   /* not a leak unless the gate counts reachable blocks */
        append(results, result_json(r, s, cwd, &bad), &bad);
    }
    set(run, "results", results, &bad);
    set(run, "columnKind", json_string("utf16CodeUnits"), &bad);
    append(runs, run, &bad);
    set(root, "runs", runs, &bad);
    if (bad) {
        json_decref(root);
        return -1;
    }
    return lwr_json_write(out, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

int lwr_render_to_file(const char *path, int (*render)(FILE *, const lwr_report_t *), const lwr_report_t *r)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return errno;
    errno = 0;
    int rc = render(f, r);
    int err = rc == 0 ? 0 : (errno ? errno : EIO);
    if (fclose(f) != 0 && err == 0)
        err = errno ? errno : EIO;
    return err;
}

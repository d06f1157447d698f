/* Makes the retention path of a reachable site readable: symbolizes the root word (a variable and its
 * declaration) or the frame of a stack root, names each site on the way down, and writes the one-line form. */
#include "retain.h"

#include "aggregate.h"
#include "escape.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

void lwr_held_free(lwr_held_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->npath; i++) {
        free(h->path[i].function);
        free(h->path[i].file);
        free(h->path[i].module);
    }
    free(h->path);
    free(h->root);
    free(h->name);
    free(h->file);
    free(h->module);
    free(h->text);
    free(h);
}

/* Appends printf output to the growing string *s (of length *len); sets *oom on failure. */
static void add(char **s, size_t *len, int *oom, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add(char **s, size_t *len, int *oom, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : realloc(*s, *len + (size_t)n + 1);
    if (!p) {
        *oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(p + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *s = p;
    *len += (size_t)n;
}

/* "file:line" after a name, as ` (service.c:12)`, when known. */
static void add_place(char **s, size_t *len, int *oom, const char *file, unsigned line)
{
    if (file && line)
        add(s, len, oom, " (%s:%u)", base_name(file), line);
    else if (file)
        add(s, len, oom, " (%s)", base_name(file));
}

static void make_text(lwr_held_t *h, int *oom)
{
    size_t len = 0;
    char **t = &h->text;
    add(t, &len, oom, "%s", "");
    if (strcmp(h->root, "global") == 0) {
        if (h->name)
            add(t, &len, oom, "global %s", h->name);
        else
            add(t, &len, oom, "global at %s+0x%" PRIx64, h->module ? base_name(h->module) : "?", h->offset);
        if (h->name && h->within)
            add(t, &len, oom, "+0x%" PRIx64, h->within);
        add_place(t, &len, oom, h->file, h->line);
    } else if (strcmp(h->root, "stack") == 0) {
        add(t, &len, oom, "the stack");
        if (h->name)
            add(t, &len, oom, " of %s", h->name);
        add_place(t, &len, oom, h->file, h->line);
    } else if (strcmp(h->root, "tls") == 0) {
        if (h->name)
            add(t, &len, oom, "thread-local %s", h->name);
        else if (h->module)
            add(t, &len, oom, "thread-local storage of %s+0x%" PRIx64, base_name(h->module), h->offset);
        else
            add(t, &len, oom, "a thread's descriptor (its pthread_setspecific values among it)");
        if (h->name && h->within)
            add(t, &len, oom, "+0x%" PRIx64, h->within);
        add_place(t, &len, oom, h->file, h->line);
    } else if (strcmp(h->root, "registers") == 0) {
        add(t, &len, oom, "the registers of a thread");
    } else if (strcmp(h->root, "memory") == 0) {
        add(t, &len, oom, "memory the program mapped (0x%" PRIx64 ")", h->offset);
    } else if (strcmp(h->root, "heap") == 0) {
        add(t, &len, oom, "the heap outside the sampled blocks (0x%" PRIx64 ")", h->offset);
    } else {
        add(t, &len, oom, "a root of kind %s", h->root);
    }
    for (size_t i = 0; i < h->npath; i++) {
        if (h->path[i].function)
            add(t, &len, oom, " -> %s blocks", h->path[i].function);
        else if (h->path[i].file)
            add(t, &len, oom, " -> blocks of %s:%u", base_name(h->path[i].file), h->path[i].line);
        else if (h->path[i].module)     /* a program without symbols: the frame as the report shows it */
            add(t, &len, oom, " -> blocks of %s+0x%" PRIx64, base_name(h->path[i].module), h->path[i].offset);
        else
            add(t, &len, oom, " -> blocks of ?");
    }
}

lwr_held_t *lwr_held_make(const lwr_dump_t *d, const lwr_dump_site_t *ds, lwr_symbolizer_t *sym)
{
    const lwr_held_by_t *hb = ds->held_by;
    if (!hb)
        return NULL;
    lwr_held_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    int oom = 0;
    h->root = lwr_dup_or_null(hb->root, &oom);
    bool framed = strcmp(hb->root, "stack") == 0 && hb->frame;
    if (!framed) {
        /* a global's word is known by its address, a thread-local one by its object's TLS image and offset */
        bool tls = strcmp(hb->root, "tls") == 0;
        lwr_data_symbol_t v;
        memset(&v, 0, sizeof v);
        if (!tls)
            lwr_symbolize_data(sym, d, hb->address, &v);
        else if (hb->tls_image)
            lwr_symbolize_tls(sym, d, hb->tls_image, hb->tls_offset, &v);
        if (tls || strcmp(hb->root, "global") == 0) {
            h->name = lwr_dup_or_null(v.name, &oom);
            h->within = v.within;
            h->file = lwr_dup_or_null(v.file, &oom);
            h->line = v.line;
        }
        h->module = lwr_dup_or_null(v.module, &oom);
        h->offset = v.offset;
    } else {
        /* the frame is a return address: its function is the frame's, its line the call's */
        lwr_symbol_t f;
        memset(&f, 0, sizeof f);
        if (sym)
            lwr_symbolize(sym, d, hb->frame, &f);
        h->name = lwr_dup_or_null(f.function, &oom);
        h->file = lwr_dup_or_null(f.file, &oom);
        h->line = f.line;
        h->module = lwr_dup_or_null(f.module, &oom);
        h->offset = f.module ? f.offset : hb->frame;
    }
    h->path = calloc(hb->npath + 1, sizeof *h->path);
    if (!h->path)
        oom = 1;
    for (size_t i = 0; !oom && i < hb->npath; i++) {
        const lwr_dump_site_t *step = &d->sites[hb->path[i]];
        lwr_symbol_t f;
        memset(&f, 0, sizeof f);
        if (sym && step->nframes)
            lwr_symbolize(sym, d, step->frames[0], &f);
        h->path[h->npath].function = lwr_dup_or_null(f.function, &oom);
        h->path[h->npath].file = lwr_dup_or_null(f.file, &oom);
        h->path[h->npath].line = f.line;
        h->path[h->npath].module = lwr_dup_or_null(f.module, &oom);
        h->path[h->npath].offset = f.offset;
        h->npath++;
    }
    if (!oom)
        make_text(h, &oom);
    if (oom) {
        lwr_held_free(h);
        return NULL;
    }
    return h;
}

void lwr_held_print(FILE *out, const lwr_held_t *h)
{
    if (!h)
        return;
    fputs("held by ", out);
    lwr_fputs_escaped(h->text, out);
    fputc('\n', out);
}

json_t *lwr_held_json(const lwr_held_t *h)
{
    char off[24];
    snprintf(off, sizeof off, "0x%" PRIx64, h->offset);
    json_t *path = json_array();
    for (size_t i = 0; path && i < h->npath; i++)
        if (json_array_append_new(path, json_pack("{s:o, s:o, s:i}", "function", lwr_json_name(h->path[i].function),
                                                  "file", lwr_json_name(h->path[i].file), "line",
                                                  (int)h->path[i].line)) != 0) {
            json_decref(path);
            return NULL;
        }
    if (!path)
        return NULL;
    return json_pack("{s:o, s:o, s:o, s:i, s:o, s:s, s:o, s:o}", "root", lwr_json_name(h->root), "name",
                     lwr_json_name(h->name), "file", lwr_json_name(h->file), "line", (int)h->line, "module",
                     lwr_json_name(h->module), "offset", off, "path", path, "text", lwr_json_name(h->text));
}

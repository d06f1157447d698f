/* Writes a report's stacks as collapsed "folded" lines and as a flame-graph SVG drawn by hand. */
#include "flame.h"
#include "escape.h"

#include "series.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *stack;        /* "[kind];outer;...;inner" */
    lwr_kind_t kind;
    uint64_t weight;
} line_t;

static void free_lines(line_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].stack);
    free(v);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(((const line_t *)a)->stack, ((const line_t *)b)->stack);
}

/* Appends a frame name, with ';' (the separator) made ':' and control characters made spaces. */
static int append_name(char **buf, size_t *len, size_t *cap, const char *name, int raw)
{
    size_t n = strlen(name);
    if (*len + n + 2 > *cap) {
        size_t c = (*cap ? *cap : 128);
        while (c < *len + n + 2)
            c *= 2;
        char *p = realloc(*buf, c);
        if (!p)
            return -1;
        *buf = p;
        *cap = c;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        (*buf)[(*len)++] = raw ? (char)ch : ch == ';' ? ':' : ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    (*buf)[*len] = '\0';
    return 0;
}

/* The merged, sorted stacks of the report; *n gets their number. NULL with *n 0 when there are none; NULL with
 * *n (size_t)-1 when out of memory. */
static line_t *collect(const lwr_report_t *r, lwr_weight_t weight, size_t *n)
{
    line_t *v = calloc(r->nsites ? r->nsites : 1, sizeof *v);
    size_t k = 0;
    *n = (size_t)-1;
    if (!v)
        return NULL;
    for (size_t i = 0; i < r->nsites; i++) {
        const lwr_site_t *s = &r->sites[i];
        uint64_t w = weight == LWR_WEIGHT_BYTES ? s->bytes : s->count;
        if (w == 0 || (s->cls == LWR_CLASS_REACHABLE && !r->show_reachable))
            continue;
        char *buf = NULL, label[512];
        size_t len = 0, cap = 0;
        snprintf(label, sizeof label, "[%s]", lwr_kind_name(s->kind));
        int bad = append_name(&buf, &len, &cap, label, 0);
        for (size_t f = s->nframes; f-- > 0 && !bad;) {
            lwr_frame_label(&s->frames[f], label, sizeof label);
            bad = append_name(&buf, &len, &cap, ";", 1) || append_name(&buf, &len, &cap, label, 0);
        }
        if (bad) {
            free(buf);
            free_lines(v, k);
            return NULL;
        }
        v[k].stack = buf;
        v[k].kind = s->kind;
        v[k].weight = w;
        k++;
    }
    if (k > 1)
        qsort(v, k, sizeof *v, cmp_line);
    size_t o = 0;
    for (size_t i = 0; i < k; i++) {
        if (o > 0 && strcmp(v[o - 1].stack, v[i].stack) == 0) {
            v[o - 1].weight += v[i].weight;
            free(v[i].stack);
        } else {
            v[o++] = v[i];
        }
    }
    *n = o;
    if (o == 0) {
        free(v);
        return NULL;
    }
    return v;
}

int lwr_render_folded(FILE *out, const lwr_report_t *r, lwr_weight_t weight)
{
    size_t n;
    line_t *v = collect(r, weight, &n);
    if (!v && n == (size_t)-1)
        return -1;
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s %" PRIu64 "\n", v[i].stack, v[i].weight);
    free_lines(v, v ? n : 0);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* ---- SVG ---- */

typedef struct node {
    char *name;
    lwr_kind_t kind;
    uint64_t weight;
    struct node **kids;
    size_t nkids;
} node_t;

static void free_node(node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        free_node(n->kids[i]);
    free(n->kids);
    free(n->name);
    free(n);
}

static node_t *new_node(const char *name, size_t len, lwr_kind_t kind)
{
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->name = malloc(len + 1);
    if (!n->name) {
        free(n);
        return NULL;
    }
    memcpy(n->name, name, len);
    n->name[len] = '\0';
    n->kind = kind;
    return n;
}

/* The child of `parent` named by `len` bytes of `name`, added when missing; NULL when out of memory. */
static node_t *child(node_t *parent, const char *name, size_t len, lwr_kind_t kind)
{
    for (size_t i = 0; i < parent->nkids; i++) {
        node_t *c = parent->kids[i];
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    node_t **kids = realloc(parent->kids, (parent->nkids + 1) * sizeof *kids);
    if (!kids)
        return NULL;
    parent->kids = kids;
    node_t *c = new_node(name, len, kind);
    if (c)
        kids[parent->nkids++] = c;
    return c;
}

static size_t depth_of(const node_t *n)
{
    size_t d = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        size_t k = depth_of(n->kids[i]);
        if (k > d)
            d = k;
    }
    return d + 1;
}

void lwr_xml_escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if (c >= 0x80) {
                /* A byte that is not UTF-8 would make the SVG ill-formed. */
                size_t k = lwr_utf8_len((const unsigned char *)s, 4);
                if (k == 0)
                    fputc('?', out);
                else
                    fwrite(s, 1, k, out);
                s += k ? k - 1 : 0;
            } else {
                fputc(c < 0x20 || c == 0x7f ? '?' : (int)c, out);
            }
        }
    }
}

/* A color of the kind's family, varied by the name so that neighbours differ. */
static void color(const node_t *n, int is_root, char *buf, size_t len)
{
    unsigned h = 2166136261u;
    for (const char *p = n->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    unsigned v1 = h % 60, v2 = (h >> 8) % 60;
    unsigned r, g, b;
    if (is_root) {
        r = g = b = 200;
    } else {
        switch (n->kind) {
        case LWR_HEAP: r = 205 + v1 % 50; g = 80 + v2; b = 40 + v1 / 3; break;
        case LWR_FD: r = 60 + v1 / 2; g = 120 + v2; b = 205 + v1 % 50; break;
        case LWR_SOCKET: r = 60 + v1 / 2; g = 170 + v2 % 60; b = 80 + v1; break;
        case LWR_THREAD: r = 150 + v1; g = 90 + v2 / 2; b = 190 + v1 % 50; break;
        default: r = 200 + v1 % 50; g = 170 + v2 % 60; b = 40 + v1 / 2; break;
        }
    }
    snprintf(buf, len, "rgb(%u,%u,%u)", r, g, b);
}

#define SVG_WIDTH 1200.0
#define SVG_PAD 10.0
#define FRAME_H 16.0
#define CHAR_W 7.0      /* average width of a 12px monospace glyph */

static void draw(FILE *out, const node_t *n, size_t depth, double x, double total, double bottom,
                 const char *unit, int is_root)
{
    double w = (double)n->weight / total * (SVG_WIDTH - 2 * SVG_PAD);
    if (w < 0.1)
        return;     /* narrower than a tenth of a pixel: invisible, and its children too */
    double y = bottom - (double)depth * FRAME_H;
    char fill[32];
    color(n, is_root, fill, sizeof fill);
    fputs("<g><title>", out);
    lwr_xml_escape(out, n->name);
    fprintf(out, " (%" PRIu64 " %s, %.2f%%)</title>", n->weight, unit, 100.0 * (double)n->weight / total);
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" rx=\"2\"/>", x, y, w,
            FRAME_H - 1, fill);
    size_t fit = (size_t)((w - 6) / CHAR_W);
    if (fit >= 3) {
        size_t len = strlen(n->name);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + FRAME_H - 4.5);
        if (len <= fit) {
            lwr_xml_escape(out, n->name);
        } else {
            char *cut = strndup(n->name, fit - 2);
            if (cut)
                lwr_xml_escape(out, cut);
            free(cut);
            fputs("..", out);
        }
        fputs("</text>", out);
    }
    fputs("</g>\n", out);
    double cx = x;
    for (size_t i = 0; i < n->nkids; i++) {
        draw(out, n->kids[i], depth + 1, cx, total, bottom, unit, 0);
        cx += (double)n->kids[i]->weight / total * (SVG_WIDTH - 2 * SVG_PAD);
    }
}

int lwr_render_svg(FILE *out, const lwr_report_t *r, lwr_weight_t weight)
{
    size_t n;
    line_t *v = collect(r, weight, &n);
    if (!v && n == (size_t)-1)
        return -1;
    if (!v)
        n = 0;
    node_t *root = new_node("all", 3, LWR_HEAP);
    int bad = !root;
    for (size_t i = 0; i < n && !bad; i++) {
        node_t *at = root;
        root->weight += v[i].weight;
        const char *p = v[i].stack;
        while (*p && at) {
            const char *semi = strchr(p, ';');
            size_t len = semi ? (size_t)(semi - p) : strlen(p);
            at = child(at, p, len, v[i].kind);
            if (at)
                at->weight += v[i].weight;
            p += len + (semi != NULL);
        }
        if (!at)
            bad = 1;
    }
    free_lines(v, n);
    if (bad) {
        free_node(root);
        return -1;
    }
    const char *unit = weight == LWR_WEIGHT_BYTES ? "bytes" : "handles";
    size_t depth = depth_of(root);
    double height = (double)depth * FRAME_H + 2 * SVG_PAD + 30;
    double bottom = height - SVG_PAD - FRAME_H;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\""
            " viewBox=\"0 0 %.0f %.0f\">\n"
            "<style>text { font-family: monospace; font-size: 12px; fill: #000; pointer-events: none; }"
            " rect:hover { stroke: #000; stroke-width: 0.5; }</style>\n"
            "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#f8f8f0\"/>\n"
            "<text x=\"%.0f\" y=\"24\" style=\"font-size: 16px\">leakwatch: %s still held, by call stack"
            " (%" PRIu64 " %s)",
            SVG_WIDTH, height, SVG_WIDTH, height, SVG_PAD, weight == LWR_WEIGHT_BYTES ? "heap bytes" : "handles",
            root->weight, unit);
    uint64_t sampled = lwr_report_sampling(r);
    if (sampled) /* the weights are estimates: say so in the graph itself, which travels without the command line */
        fprintf(out, ", heap estimated from sampling one block per %" PRIu64 " bytes", sampled);
    fputs("</text>\n", out);
    if (root->weight > 0)
        draw(out, root, 0, SVG_PAD, (double)root->weight, bottom, unit, 1);
    else
        fprintf(out, "<text x=\"%.0f\" y=\"50\">nothing to draw</text>\n", SVG_PAD);
    fputs("</svg>\n", out);
    free_node(root);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* Unit tests of the flame-graph outputs: folded lines (outermost frame first, merged, weighted by bytes or
 * count, separators escaped) and the SVG, checked for well-formed XML by a small checker and for its structure. */
#include "flame.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds a site of `kind`, count, bytes whose frames, innermost first, are named `names` (NULL-terminated; a name
 * "?mod" is a frame without function in module /lib/mod at offset 0x10). */
static void add_site(lwr_report_t *r, lwr_kind_t kind, uint64_t count, uint64_t bytes, const char *const *names)
{
    r->sites = realloc(r->sites, (r->nsites + 1) * sizeof *r->sites);
    lwr_site_t *s = &r->sites[r->nsites++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->count = count;
    s->bytes = bytes;
    while (names[s->nframes])
        s->nframes++;
    s->frames = calloc(s->nframes, sizeof *s->frames);
    for (size_t i = 0; i < s->nframes; i++) {
        lwr_frame_t *f = &s->frames[i];
        f->address = 0x1000 + i;
        if (names[i][0] == '?') {
            char path[64];
            snprintf(path, sizeof path, "/lib/%s", names[i] + 1);
            f->module = strdup(path);
            f->offset = 0x10;
        } else {
            f->function = strdup(names[i]);
            f->module = strdup("/usr/bin/svc");
        }
    }
}

static lwr_report_t *sample(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    add_site(r, LWR_HEAP, 10, 1000, (const char *[]){ "cache_insert", "handle", "main", NULL });
    add_site(r, LWR_HEAP, 2, 64, (const char *[]){ "scratch", "handle", "main", NULL });
    add_site(r, LWR_FD, 3, 0, (const char *[]){ "open_log", "handle", "main", NULL });
    /* the same stack as the first, of another class: one folded line */
    add_site(r, LWR_HEAP, 1, 24, (const char *[]){ "cache_insert", "handle", "main", NULL });
    add_site(r, LWR_HEAP, 1, 8, (const char *[]){ "operator<< <a&b>;x\ny", "?libfoo.so", "main", NULL });
    return r;
}

static char *render(int svg, const lwr_report_t *r, lwr_weight_t w)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(svg ? lwr_render_svg(f, r, w) : lwr_render_folded(f, r, w), 0);
    fclose(f);
    return buf;
}

START_TEST(folded_by_bytes)
{
    lwr_report_t *r = sample();
    char *out = render(0, r, LWR_WEIGHT_BYTES);
    ck_assert_str_eq(out, "[heap];main;handle;cache_insert 1024\n"
                          "[heap];main;handle;scratch 64\n"
                          "[heap];main;libfoo.so+0x10;operator<< <a&b>:x y 8\n");
    free(out);
    lwr_report_free(r);
}
END_TEST

START_TEST(folded_by_count_includes_descriptors)
{
    lwr_report_t *r = sample();
    char *out = render(0, r, LWR_WEIGHT_COUNT);
    ck_assert_str_eq(out, "[fd];main;handle;open_log 3\n"
                          "[heap];main;handle;cache_insert 11\n"
                          "[heap];main;handle;scratch 2\n"
                          "[heap];main;libfoo.so+0x10;operator<< <a&b>:x y 1\n");
    free(out);
    lwr_report_free(r);
}
END_TEST

/* A small XML well-formedness check: one root element, tags nest, attribute values are quoted, '&' starts a
 * known entity, '<' never appears in text or attributes. Counts elements named `count_tag`. Returns NULL when
 * well-formed, else the reason. */
static const char *xml_check(const char *p, const char *count_tag, int *counted)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    *counted = 0;
    while (*p) {
        if (*p == '<') {
            if (p[1] == '?') {
                p = strstr(p, "?>");
                if (!p)
                    return "unterminated <?";
                p += 2;
                continue;
            }
            int closing = p[1] == '/';
            p += 1 + closing;
            char name[32];
            size_t n = 0;
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
                if (n < sizeof name - 1)
                    name[n++] = *p++;
                else
                    return "long name";
            name[n] = '\0';
            if (n == 0)
                return "empty tag name";
            if (closing) {
                if (*p != '>')
                    return "junk in closing tag";
                if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                    return "closing tag does not match";
                depth--;
                p++;
                continue;
            }
            if (strcmp(name, count_tag) == 0)
                (*counted)++;
            for (;;) {
                while (*p == ' ' || *p == '\n')
                    p++;
                if (*p == '>' || (p[0] == '/' && p[1] == '>'))
                    break;
                while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == ':')
                    p++;
                if (*p != '=' || p[1] != '"')
                    return "unquoted attribute";
                p += 2;
                while (*p && *p != '"') {
                    if (*p == '<')
                        return "< in attribute";
                    p++;
                }
                if (!*p)
                    return "unterminated attribute";
                p++;
            }
            if (depth == 0)
                roots++;
            if (*p == '/') {
                p += 2;
                continue;
            }
            if (depth == 64)
                return "too deep";
            strcpy(stack[depth++], name);
            p++;
            continue;
        }
        if (*p == '&') {
            static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&apos;" };
            int ok = 0;
            for (int i = 0; i < 5; i++)
                if (strncmp(p, ents[i], strlen(ents[i])) == 0)
                    ok = 1;
            if (!ok)
                return "bare &";
        }
        if (depth == 0 && *p != '\n' && *p != ' ')
            return "text outside the root";
        p++;
    }
    if (depth != 0)
        return "unclosed element";
    return roots == 1 ? NULL : "not exactly one root";
}

START_TEST(svg_is_well_formed_and_has_a_rect_per_frame)
{
    lwr_report_t *r = sample();
    char *out = render(1, r, LWR_WEIGHT_BYTES);
    int rects = 0, titles = 0;
    const char *why = xml_check(out, "rect", &rects);
    ck_assert_msg(why == NULL, "%s\n%s", why, out);
    xml_check(out, "title", &titles);
    /* nodes: all, [heap], main, handle, cache_insert, scratch, libfoo.so+0x10, operator..: 8, plus the
     * background rectangle */
    ck_assert_int_eq(titles, 8);
    ck_assert_int_eq(rects, 9);
    ck_assert_ptr_nonnull(strstr(out, "<title>operator&lt;&lt; &lt;a&amp;b&gt;:x y (8 bytes, 0.73%)</title>"));
    ck_assert_ptr_nonnull(strstr(out, "<title>all (1096 bytes, 100.00%)</title>"));
    ck_assert_ptr_nonnull(strstr(out, ">cache_insert</text>"));
    /* the root spans the full width: 1200 - 2 * 10 */
    ck_assert_ptr_nonnull(strstr(out, "width=\"1180.0\""));
    ck_assert_ptr_null(strstr(out, "open_log"));     /* no bytes */
    free(out);
    out = render(1, r, LWR_WEIGHT_COUNT);
    ck_assert_msg(xml_check(out, "rect", &rects) == NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "<title>open_log (3 handles, "));
    free(out);
    lwr_report_free(r);
}
END_TEST

START_TEST(empty_report_gives_a_valid_svg_and_no_folded_lines)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    char *out = render(0, r, LWR_WEIGHT_BYTES);
    ck_assert_str_eq(out, "");
    free(out);
    out = render(1, r, LWR_WEIGHT_BYTES);
    int rects;
    ck_assert_msg(xml_check(out, "rect", &rects) == NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "nothing to draw"));
    free(out);
    lwr_report_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_folded");
    TCase *tc = tcase_create("flame");
    tcase_add_test(tc, folded_by_bytes);
    tcase_add_test(tc, folded_by_count_includes_descriptors);
    tcase_add_test(tc, svg_is_well_formed_and_has_a_rect_per_frame);
    tcase_add_test(tc, empty_report_gives_a_valid_svg_and_no_folded_lines);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}

/* The JUnit XML form of a report: one test case per process, one failure per site that counts against the gate. */
#include "render_ci.h"
#include "baseline.h"
#include "escape.h"
#include "render.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

/* Writes `s` escaped for XML text (attr false) or a double-quoted attribute (attr true). Bytes XML 1.0 cannot
 * carry (control characters other than tab, newline and carriage return) become U+FFFD. */
static void xml_put(FILE *out, const char *s, bool attr)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs(attr ? "&quot;" : "\"", out);
            break;
        case '\'':
            fputs(attr ? "&apos;" : "'", out);
            break;
        case '\n':
            fputs(attr ? "&#10;" : "\n", out);
            break;
        case '\t':
            fputs(attr ? "&#9;" : "\t", out);
            break;
        case '\r':
            fputs("&#13;", out);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && lwr_utf8_len(p, 4) == 0)) {
                fputs("\xef\xbf\xbd", out);  /* a byte that is not UTF-8 cannot be in an XML document either */
            } else if (*p >= 0x80) {
                size_t k = lwr_utf8_len(p, 4);  /* stops at the NUL: it is no continuation byte */
                fwrite(p, 1, k, out);
                p += k - 1;
            } else {
                fputc(*p, out);
            }
        }
    }
}

static void xml_printf_attr(FILE *out, const char *name, const char *value)
{
    fprintf(out, " %s=\"", name);
    xml_put(out, value, true);
    fputc('"', out);
}

static bool site_has_pid(const lwr_site_t *s, long pid)
{
    for (size_t i = 0; i < s->npids; i++)
        if (s->pids[i] == pid)
            return true;
    return false;
}

static bool listed(const lwr_report_t *r, const lwr_site_t *s)
{
    return s->cls != LWR_CLASS_REACHABLE || (r->has_gate && r->gate.reachable);
}

/* One line describing a site: its title as the text report has it (lwr_site_title), then where it was acquired:
 * `heap: 72 bytes in 3 blocks at make_table demo.c:41`, `heap, indirect (only leaked blocks point to them): 48
 * bytes in 2 blocks at make_node demo.c:12`. The failure's type names the class (leakwatch/heap-definite). */
static void site_summary(char *buf, size_t len, const lwr_site_t *s)
{
    const lwr_frame_t *at = lwr_acquiring_frame(s);
    char where[1200] = "", title[LWR_SITE_TITLE_MAX];
    if (at) {
        memcpy(where, " at ", 5);
        lwr_frame_where(at, where + 4, sizeof where - 4);
    }
    lwr_site_title(s, title, sizeof title);
    snprintf(buf, len, "%s%s", title, where);
}

/* The stack as text, one `#i function file:line:column (module)` per line, as the text report has it. */
static void put_stack(FILE *out, const lwr_site_t *s)
{
    for (size_t i = 0; i < s->nframes; i++) {
        char text[LWR_FRAME_TEXT_MAX];
        lwr_frame_text(&s->frames[i], text, sizeof text);
        fprintf(out, "    #%zu ", i);
        xml_put(out, text, false);
        fputc('\n', out);
    }
}

int lwr_render_junit(FILE *out, const lwr_report_t *r)
{
    size_t failed = 0;
    for (size_t p = 0; p < r->nprocesses; p++) {
        bool any = false;
        for (size_t i = 0; i < r->nsites && !any; i++)
            any = listed(r, &r->sites[i]) && lwr_site_gated(r, &r->sites[i])
                  && site_has_pid(&r->sites[i], r->processes[p].pid);
        failed += any;
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(out, "<testsuites name=\"leakwatch\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n", r->nprocesses, failed);
    fprintf(out, "  <testsuite name=\"leakwatch\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\">\n",
            r->nprocesses, failed);
    for (size_t p = 0; p < r->nprocesses; p++) {
        const lwr_process_t *proc = &r->processes[p];
        const char *exe = proc->executable ? proc->executable : "?";
        const char *slash = strrchr(exe, '/');
        char name[1200];
        snprintf(name, sizeof name, "%s (pid %ld)", slash ? slash + 1 : exe, proc->pid);
        fputs("    <testcase", out);
        xml_printf_attr(out, "classname", "leakwatch");
        xml_printf_attr(out, "name", name);
        /* No `file` attribute: Jenkins' junit-10 schema has none on <testcase>, and the executable is in the
         * name; each failure's text carries its stack. */
        fputs(">\n", out);
        bool other = false;
        for (size_t i = 0; i < r->nsites; i++) {
            const lwr_site_t *s = &r->sites[i];
            if (!listed(r, s) || !site_has_pid(s, proc->pid))
                continue;
            if (!lwr_site_gated(r, s)) {
                other = true;
                continue;
            }
            char summary[1600];
            site_summary(summary, sizeof summary, s);
            fputs("      <failure", out);
            xml_printf_attr(out, "type", lwr_rule_id(s));
            xml_printf_attr(out, "message", summary);
            fputs(">", out);
            xml_put(out, summary, false);
            fputc('\n', out);
            put_stack(out, s);
            fputs("      </failure>\n", out);
        }
        if (other) {
            /* Leaks that do not fail the gate (kinds it does not count, sites in the baseline) are still shown. */
            fputs("      <system-out>", out);
            for (size_t i = 0; i < r->nsites; i++) {
                const lwr_site_t *s = &r->sites[i];
                if (!listed(r, s) || !site_has_pid(s, proc->pid) || lwr_site_gated(r, s))
                    continue;
                char summary[1600];
                site_summary(summary, sizeof summary, s);
                xml_put(out, summary, false);
                fputs(s->baseline ? " (in baseline)\n" : " (not gated)\n", out);
                put_stack(out, s);
            }
            fputs("</system-out>\n", out);
        }
        fputs("    </testcase>\n", out);
    }
    fputs("  </testsuite>\n</testsuites>\n", out);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

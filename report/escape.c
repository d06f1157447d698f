/* Escapes names for display so that no byte of a path, argument or symbol can move the cursor, recolour or
 * retitle a terminal, forge a report line, or come out as mojibake. */
#include "escape.h"
#include "../common/utf8.h" /* the rule the dump writer escapes by */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t lwr_utf8_len(const unsigned char *s, size_t n)
{
    return lw_utf8_len(s, n);
}

bool lwr_utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = lwr_utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* The code point of a well-formed sequence of `len` bytes. */
static uint32_t code_point(const unsigned char *s, size_t len)
{
    static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
    uint32_t cp = s[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

/* Writes the escape of the unit at s (of n bytes left) into e (at least 16 bytes); returns the bytes consumed
 * and sets *elen to the length of the escape, 0 when the unit is copied as it is. */
static size_t escape_unit(const unsigned char *s, size_t n, char *e, size_t *elen)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = lwr_utf8_len(s, n);
    *elen = 0;
    if (k == 1) {
        unsigned char c = s[0];
        const char *named = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\\' ? "\\\\" : NULL;
        if (named) {
            memcpy(e, named, 2);
            *elen = 2;
        } else if (c < 0x20 || c == 0x7f) {
            e[0] = '\\', e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15];
            *elen = 4;
        }
        return 1;
    }
    if (k == 0) {
        e[0] = '\\', e[1] = 'x', e[2] = hex[s[0] >> 4], e[3] = hex[s[0] & 15];
        *elen = 4;
        return 1;
    }
    uint32_t cp = code_point(s, k);
    if (cp >= 0x80 && cp <= 0x9f) {
        /* C1 controls: some terminals act on them (U+009B is CSI). */
        for (size_t i = 0; i < k; i++) {
            e[4 * i] = '\\', e[4 * i + 1] = 'x', e[4 * i + 2] = hex[s[i] >> 4], e[4 * i + 3] = hex[s[i] & 15];
        }
        *elen = 4 * k;
    } else if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
        /* Bidirectional overrides reorder what follows them on the line. */
        e[0] = '\\', e[1] = 'u';
        for (int i = 0; i < 4; i++)
            e[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
        *elen = 6;
    }
    return k;
}

bool lwr_needs_escape(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    char e[16];
    for (size_t i = 0; i < n;) {
        size_t elen;
        i += escape_unit((const unsigned char *)s + i, n - i, e, &elen);
        if (elen)
            return true;
    }
    return false;
}

char *lwr_escape(const char *s, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (!s)
        return buf;
    size_t n = strlen(s), o = 0;
    char e[16];
    for (size_t i = 0; i < n;) {
        size_t elen;
        size_t k = escape_unit((const unsigned char *)s + i, n - i, e, &elen);
        const char *src = elen ? e : s + i;
        size_t len = elen ? elen : k;
        /* Keep room for "..." and the NUL unless this unit is the last one and fits exactly. */
        size_t room = i + k == n ? cap - 1 - o : (cap - 1 - o > 3 ? cap - 1 - o - 3 : 0);
        if (len > room) {
            size_t dots = cap - 1 - o < 3 ? cap - 1 - o : 3;
            memcpy(buf + o, "...", dots);
            o += dots;
            break;
        }
        memcpy(buf + o, src, len);
        o += len;
        i += k;
    }
    buf[o] = '\0';
    return buf;
}

const char *lwr_show(const char *s)
{
    static char ring[8][LWR_SHOW_MAX];
    static unsigned next;
    if (!s || !lwr_needs_escape(s))
        return s;
    char *b = ring[next++ % 8];
    return lwr_escape(s, b, LWR_SHOW_MAX);
}

void lwr_fputs_escaped(const char *s, FILE *out)
{
    if (!s)
        return;
    size_t n = strlen(s);
    char e[16];
    for (size_t i = 0; i < n;) {
        size_t elen;
        size_t k = escape_unit((const unsigned char *)s + i, n - i, e, &elen);
        if (elen)
            fwrite(e, 1, elen, out);
        else
            fwrite(s + i, 1, k, out);
        i += k;
    }
}

char *lwr_utf8_dup(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s), bad = 0;
    for (size_t i = 0; i < n;) {
        size_t k = lwr_utf8_len((const unsigned char *)s + i, n - i);
        bad += k == 0;
        i += k ? k : 1;
    }
    char *d = malloc(n + 3 * bad + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = lwr_utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0) {
            unsigned char c = (unsigned char)s[i];
            d[o++] = '\\', d[o++] = 'x', d[o++] = hex[c >> 4], d[o++] = hex[c & 15];
            i++;
        } else {
            memcpy(d + o, s + i, k);
            o += k;
            i += k;
        }
    }
    d[o] = '\0';
    return d;
}

json_t *lwr_json_name(const char *s)
{
    if (!s)
        return json_null();
    if (lwr_utf8_valid(s))
        return json_string(s);
    char *d = lwr_utf8_dup(s);
    json_t *j = d ? json_string(d) : NULL;
    free(d);
    return j;
}

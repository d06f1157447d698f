/* Buffered JSON output for the dump writer: numbers, hex addresses and strings escaped for any bytes, written
 * with write(2) and no allocation. */
#include "json_out.h"
#include "internal.h"
#include "sys.h"
#include "../common/utf8.h" /* shared with report/escape.c: see there */

#include <errno.h>
#include <string.h>
#include <unistd.h>

void lw_out_flush(lw_out_t *o)
{
    size_t off = 0;
    while (off < o->n && !o->err) {
        ssize_t w = write(o->fd, o->buf + off, o->n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            o->err = errno;
            break;
        }
        off += (size_t)w;
    }
    o->n = 0;
}

void lw_out_mem(lw_out_t *o, const char *s, size_t n)
{
    while (n) {
        if (o->n == sizeof(o->buf))
            lw_out_flush(o);
        size_t k = sizeof(o->buf) - o->n;
        if (k > n)
            k = n;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        n -= k;
    }
}

void lw_out_s(lw_out_t *o, const char *s)
{
    lw_out_mem(o, s, strlen(s));
}

void lw_out_u(lw_out_t *o, uint64_t v)
{
    char tmp[24];
    lw_out_mem(o, tmp, (size_t)(lw_fmt_u64(tmp, v) - tmp));
}

void lw_out_i(lw_out_t *o, int64_t v)
{
    if (v < 0) {
        lw_out_s(o, "-");
        v = -v;
    }
    lw_out_u(o, (uint64_t)v);
}

/* A JSON string that is valid for any bytes (paths and arguments need not be UTF-8): `"` and `\` escaped,
 * control bytes as \u00XX, well-formed UTF-8 copied, and every other byte XX (0x80..0xff, not part of a
 * well-formed sequence) as \u00XX. Well-formed U+0080..U+00FF is always copied, never escaped, so an escape
 * \u0080..\u00ff in a dump always stands for one raw byte (docs/FORMAT.md). */
void lw_out_str(lw_out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    lw_out_s(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        size_t k;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            lw_out_mem(o, e, 2);
        } else if (c < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            lw_out_mem(o, e, 6);
        } else if (c < 0x80) {
            lw_out_mem(o, (const char *)&c, 1);
        } else if ((k = lw_utf8_len(u + i, n - i)) != 0) {
            lw_out_mem(o, s + i, k);
            i += k - 1;
        } else {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            lw_out_mem(o, e, 6);
        }
    }
    lw_out_s(o, "\"");
}

void lw_out_hexq(lw_out_t *o, uint64_t v)
{
    char tmp[24];
    char *e = lw_fmt_hex(tmp, v);
    lw_out_s(o, "\"");
    lw_out_mem(o, tmp, (size_t)(e - tmp));
    lw_out_s(o, "\"");
}


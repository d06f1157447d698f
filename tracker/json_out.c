/* Buffered JSON output for the dump writer: numbers, hex addresses and strings escaped for any bytes, written
 * with write(2) and no allocation. */
#include "json_out.h"
#include "internal.h"
#include "sys.h"

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

/* The length of the well-formed UTF-8 sequence (RFC 3629: no overlong form, no surrogate, at most U+10FFFF)
 * that starts at s[0] of the n bytes there, 0 when none starts there. Called for bytes >= 0x80 only. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || n < len)
        return 0;
    uint32_t cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
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
        } else if ((k = utf8_seq(u + i, n - i)) != 0) {
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


/* The one UTF-8 validity rule of leakwatch, header only, for the two layers that must agree on it: the dump writer
 * (tracker/json_out.c), which escapes every byte outside a well-formed sequence, and the report (report/escape.c),
 * which shows names. tracker/ and report/ share no code otherwise (one is injected, the other a command), so the
 * rule lives here, included by relative path, and links into neither as an object. */
#ifndef LW_COMMON_UTF8_H
#define LW_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length of the well-formed UTF-8 sequence (RFC 3629: no overlong form, no surrogate, at most U+10FFFF) that
 * starts at s[0] of the n bytes there: 1 for an ASCII byte, 0 when none starts there (n 0, a continuation byte,
 * 0xc0/0xc1, which are always overlong, 0xf5 and above, or a sequence cut short or malformed). */
static inline size_t lw_utf8_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
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

#endif

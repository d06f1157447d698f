/* The one escaping of names (paths, arguments, functions, details) for every human-facing output. */
#ifndef LWR_ESCAPE_H
#define LWR_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <stdio.h>

/* The length of the well-formed UTF-8 sequence at `s` (at most `n` bytes are looked at): 1 to 4, or 0 when the
 * bytes there are not one (a stray continuation byte, an overlong form, a surrogate, above U+10FFFF, cut short).
 * ASCII, control bytes included, counts as 1. */
size_t lwr_utf8_len(const unsigned char *s, size_t n);

/* True when `s` (NUL-terminated) is well-formed UTF-8. */
bool lwr_utf8_valid(const char *s);

/* True when lwr_show would change `s`: it holds a control byte, a backslash, a byte that is not well-formed
 * UTF-8, a C1 control (U+0080..U+009F) or a bidirectional override (U+202A..U+202E, U+2066..U+2069). */
bool lwr_needs_escape(const char *s);

/* Writes `s` for a terminal or a text file: `\n`, `\t`, `\r`, `\\` for newline, tab, carriage return and
 * backslash; `\xHH` (two lower-case hex digits) for any other control byte (0x00..0x1f, 0x7f), for every byte
 * that is not part of well-formed UTF-8, and for each byte of a C1 control; `\u202e` style for the
 * bidirectional overrides. Everything else, well-formed UTF-8 included, is copied. The result never contains a
 * byte below 0x20 and is always well-formed UTF-8. Writes at most `cap` bytes with the NUL; a longer result is
 * cut at a whole escape and ends with "...". Returns buf. NULL is written as "". */
char *lwr_escape(const char *s, char *buf, size_t cap);

/* lwr_escape into one of a ring of 8 static buffers of LWR_SHOW_MAX bytes, so that up to 8 results can be used
 * in one printf; returns `s` itself when nothing needs escaping (NULL stays NULL). Not thread-safe: the command
 * is single-threaded. */
#define LWR_SHOW_MAX 16384
const char *lwr_show(const char *s);

/* Writes `s` escaped (as lwr_escape, never cut) to `out`. */
void lwr_fputs_escaped(const char *s, FILE *out);

/* A copy of `s` for JSON documents (which escape control bytes themselves): each byte that is not part of
 * well-formed UTF-8 becomes the four characters `\xHH`, the rest is copied, so that the copy is valid UTF-8.
 * Returns a malloc'd string (NULL when out of memory); the caller frees it. */
char *lwr_utf8_dup(const char *s);

/* A jansson string of lwr_utf8_dup(s), json_null() for NULL; NULL when out of memory. */
json_t *lwr_json_name(const char *s);

#endif

/* Buffered JSON output for the dump writer (json_out.c): no allocation, write(2) only. */
#ifndef LW_JSON_OUT_H
#define LW_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;
    int err;
    size_t n;
    char buf[1 << 16];
} lw_out_t;

/* Each appends to o's buffer, flushing it to o->fd when full; the first error stays in o->err. */
void lw_out_flush(lw_out_t *o);
void lw_out_mem(lw_out_t *o, const char *s, size_t n);
void lw_out_s(lw_out_t *o, const char *s);
void lw_out_u(lw_out_t *o, uint64_t v);
void lw_out_i(lw_out_t *o, int64_t v);
/* A JSON string of n bytes: valid UTF-8 as it is, every other byte and every control byte as \u00XX
 * (docs/FORMAT.md). */
void lw_out_str(lw_out_t *o, const char *s, size_t n);
/* "0x..." in lower-case hex, quoted. */
void lw_out_hexq(lw_out_t *o, uint64_t v);

#endif

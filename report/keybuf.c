/* Builds the byte keys that merge and match call sites, for aggregation, series and baselines. */
#include "keybuf.h"

#include <stdlib.h>
#include <string.h>

void lwr_keybuf_put(lwr_keybuf_t *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void lwr_keybuf_put_str(lwr_keybuf_t *b, const char *s)
{
    lwr_keybuf_put(b, s ? s : "", s ? strlen(s) + 1 : 1);
}

void lwr_site_identity(lwr_keybuf_t *b, lwr_kind_t kind, const lwr_symbol_t *syms, size_t n)
{
    unsigned char k = (unsigned char)kind;
    b->len = 0;
    lwr_keybuf_put(b, &k, 1);
    for (size_t i = 0; i < n; i++) {
        if (syms[i].function) {
            lwr_keybuf_put(b, "F", 1);
            lwr_keybuf_put_str(b, syms[i].function);
            lwr_keybuf_put_str(b, syms[i].file);
            lwr_keybuf_put(b, &syms[i].line, sizeof syms[i].line);
            lwr_keybuf_put(b, &syms[i].column, sizeof syms[i].column);
        } else if (syms[i].module) {
            lwr_keybuf_put(b, "M", 1);
            lwr_keybuf_put_str(b, syms[i].module);
            lwr_keybuf_put(b, &syms[i].offset, sizeof syms[i].offset);
        } else {
            lwr_keybuf_put(b, "A", 1);
            lwr_keybuf_put(b, &syms[i].offset, sizeof syms[i].offset);
        }
    }
}

/* Sorts the dump's entries: in place with an MSD radix sort on 8-bit digits (American flag sort: a count pass and
 * a permutation pass per digit that tells entries apart, insertion sort for short runs, no allocation), or, given
 * room for a second copy, with an LSD radix sort that streams the entries from one copy to the other once per
 * digit (a permutation in place misses the cache on nearly every entry it moves). */
#include "sort.h"

#include <string.h>

#define SHORT_RUN 32 /* runs this short are insertion-sorted */

static void insertion_sort(lw_entry_t *v, size_t n, lw_sort_by_t by)
{
    for (size_t i = 1; i < n; i++) {
        lw_entry_t x = v[i];
        uint64_t k = lw_sort_value(&x, by);
        size_t j = i;
        while (j > 0 && lw_sort_value(&v[j - 1], by) > k) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

#define DIGIT(e, shift) ((unsigned)(lw_sort_value((e), by) >> (shift)) & 255u)

/* Sorts v[0, n), whose values agree above bit shift + 8. The recursion is at most eight digits deep. */
static void radix(lw_entry_t *v, size_t n, unsigned shift, lw_sort_by_t by)
{
    size_t end[256], head[256]; /* end[] counts the digits first */
    for (;;) {
        if (n < SHORT_RUN) {
            insertion_sort(v, n, by);
            return;
        }
        for (unsigned b = 0; b < 256; b++)
            end[b] = 0;
        for (size_t i = 0; i < n; i++)
            end[DIGIT(&v[i], shift)]++;
        if (end[DIGIT(&v[0], shift)] != n)
            break;
        /* one digit for all: the next one down, without a frame of its own */
        if (shift == 0)
            return;
        shift -= 8;
    }
    size_t at = 0;
    for (unsigned b = 0; b < 256; b++) {
        head[b] = at;
        at += end[b];
        end[b] = at;
    }
    /* each entry to its bucket, following cycles: every entry moves once */
    for (unsigned b = 0; b < 256; b++) {
        while (head[b] < end[b]) {
            lw_entry_t x = v[head[b]];
            unsigned d = DIGIT(&x, shift);
            while (d != b) {
                lw_entry_t t = v[head[d]];
                v[head[d]++] = x;
                x = t;
                d = DIGIT(&x, shift);
            }
            v[head[b]++] = x;
        }
    }
    if (shift == 0)
        return;
    for (size_t b = 0, lo = 0; b < 256; lo = end[b++])
        if (end[b] - lo > 1)
            radix(v + lo, end[b] - lo, shift - 8, by);
}

void lw_sort_entries(lw_entry_t *v, size_t n, lw_sort_by_t by)
{
    if (n < 2)
        return;
    /* start at the highest digit in which any two values differ */
    uint64_t first = lw_sort_value(&v[0], by), diff = 0;
    for (size_t i = 1; i < n; i++)
        diff |= lw_sort_value(&v[i], by) ^ first;
    if (diff == 0)
        return;
    unsigned top = 63 - (unsigned)__builtin_clzll(diff);
    radix(v, n, top / 8 * 8, by);
}

/* One part of the entries, all with the value's top bit alike (the heap's, or the other kinds'): an LSD radix sort
 * from v to tmp and back, one pass per 8-bit digit in which the values differ, the counts of every digit taken in
 * one pass first. Ends with the entries in v. */
static void lsd(lw_entry_t *v, lw_entry_t *tmp, size_t n, lw_sort_by_t by)
{
    static size_t count[8][256]; /* the scanning copy sorts once, on one thread */
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        uint64_t x = lw_sort_value(&v[i], by);
        for (unsigned d = 0; d < 8; d++)
            count[d][(x >> (8 * d)) & 255u]++;
    }
    lw_entry_t *from = v, *to = tmp;
    for (unsigned d = 0; d < 8; d++) {
        size_t *c = count[d];
        if (c[(lw_sort_value(&v[0], by) >> (8 * d)) & 255u] == n)
            continue; /* one digit for all */
        size_t at = 0;
        for (unsigned b = 0; b < 256; b++) {
            size_t k = c[b];
            c[b] = at;
            at += k;
        }
        for (size_t i = 0; i < n; i++)
            to[c[(lw_sort_value(&from[i], by) >> (8 * d)) & 255u]++] = from[i];
        lw_entry_t *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof *v);
}

void lw_sort_entries_with(lw_entry_t *v, size_t n, lw_sort_by_t by, lw_entry_t *tmp)
{
    if (n < 2)
        return;
    if (!tmp) {
        lw_sort_entries(v, n, by);
        return;
    }
    /* the two halves of the value's range apart first (a stable partition through tmp), so that the low half's
     * passes do not run over the top bit */
    size_t low = 0;
    for (size_t i = 0; i < n; i++)
        low += !(lw_sort_value(&v[i], by) >> 63);
    size_t lo = 0, hi = low;
    for (size_t i = 0; i < n; i++)
        tmp[lw_sort_value(&v[i], by) >> 63 ? hi++ : lo++] = v[i];
    memcpy(v, tmp, n * sizeof *v);
    if (low > 1)
        lsd(v, tmp, low, by);
    if (n - low > 1)
        lsd(v + low, tmp, n - low, by);
}

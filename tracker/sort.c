/* Sorts the dump's entries in place with an MSD radix sort on 8-bit digits (American flag sort): a count pass and
 * a permutation pass per digit that tells entries apart, insertion sort for short runs, no allocation. */
#include "sort.h"

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

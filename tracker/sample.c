/* Sampling of heap blocks (LEAKWATCH_SAMPLE): the value's parsing, the random gaps between sampled bytes and the
 * weight of a recorded block, with the little floating point they need computed here (the injected library links
 * no libm). */
#include "internal.h"

#include <string.h>
#include <strings.h>
#include <time.h>

uint64_t lw_sample_mean;
LW_TLS int64_t lw_sample_left;

int lw_parse_sample(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s++ - '0');
        if (v > LW_SAMPLE_MAX)
            return -1;
    }
    unsigned shift = 0;
    switch (*s) {
    case 'k': case 'K': shift = 10; s++; break;
    case 'm': case 'M': shift = 20; s++; break;
    case 'g': case 'G': shift = 30; s++; break;
    default: break;
    }
    if (shift && (*s == 'i' || *s == 'I') && (s[1] == 'b' || s[1] == 'B'))
        s += 2;
    else if (*s == 'b' || *s == 'B')
        s++;
    if (*s || (v << shift) >> shift != v || (v << shift) > LW_SAMPLE_MAX)
        return -1;
    *out = v << shift;
    return 0;
}

/* ln(x) for 0 < x <= 1: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m - 1) / (m + 1)), whose
 * series has |s| < 0.172 and is cut off below 1e-13. */
static double ln_unit(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ((1ull << 52) - 1)) | (1023ull << 52);
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.4142135623730951) {
        m /= 2;
        e++;
    }
    double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
    for (int k = 1; k <= 15; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return 2 * sum + e * 0.6931471805599453;
}

/* 1 - exp(-x) for x >= 0, accurate for small x too (the weight of a small block is about R / size). */
static double one_minus_exp_neg(double x)
{
    if (x > 40)
        return 1;
    int k = (int)(x / 0.6931471805599453);
    double r = x - k * 0.6931471805599453; /* 0 <= r < ln 2 */
    /* 1 - exp(-r) = r - r^2/2! + r^3/3! - ... */
    double term = r, sum = 0;
    for (int n = 2; n <= 22 && term != 0; n++) {
        sum += term;
        term *= -r / n;
    }
    if (k == 0)
        return sum;
    double e = 1 - sum; /* exp(-r) */
    while (k-- > 0)
        e /= 2;
    return 1 - e;
}

/* xorshift64*: the thread's generator, seeded from its own address, the process id and the clock so that threads
 * and processes draw different gaps. */
static uint64_t next_random(void)
{
    uint64_t x = lw_self.sample_rng;
    if (LW_UNLIKELY(!x)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)(uintptr_t)&lw_self * 0x9e3779b97f4a7c15ull ^ (uint64_t)lw_pid << 40 ^
            (uint64_t)ts.tv_nsec * 0xbf58476d1ce4e5b9ull ^ (uint64_t)ts.tv_sec;
        if (!x)
            x = 0x2545f4914f6cdd1dull;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lw_self.sample_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

int64_t lw_sample_gap(void)
{
    /* u uniform in (0, 1]: 53 random bits, plus one so that ln(u) is finite */
    double u = ((double)(next_random() >> 11) + 1) * (1.0 / 9007199254740992.0);
    double gap = -ln_unit(u) * (double)lw_sample_mean;
    /* at least one byte, and far from overflowing the countdown (ln(2^-53) is about -36.7) */
    return gap < 1 ? 1 : (int64_t)gap;
}

int lw_sample_crossed(void)
{
    /* a thread that never sampled starts its process here (its countdown was 0): its first gap is drawn, and the
     * block holds a sample point only when that gap ends inside it; any other crossing is a sample point */
    if (lw_self.sample_rng == 0 && (lw_sample_left += lw_sample_gap()) > 0)
        return 0;
    lw_sample_left = lw_sample_gap();
    return 1;
}

double lw_sample_weight(uint64_t size)
{
    if (!lw_sample_mean)
        return 1;
    double p = one_minus_exp_neg((double)(size ? size : 1) / (double)lw_sample_mean);
    return p > 0 ? 1 / p : 1;
}

/* libFuzzer harness of the suppression parser (report/suppress.c): any text is parsed, and every entry it gives
 * is matched against a fixed site and applied to a small report. */
#include "suppress.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char fn[] = "cache_insert", file[] = "/src/app/cache.c", mod[] = "/usr/lib/libapp.so.1";
    lwr_frame_t frames[2] = { { 0x1000, fn, file, 29, mod, 0x1000, 7 }, { 0x2000, NULL, NULL, 0, mod, 0x2000, 0 } };
    lwr_site_t site;
    memset(&site, 0, sizeof site);
    site.kind = LWR_HEAP;
    site.count = 3;
    site.bytes = 72;
    site.frames = frames;
    site.nframes = 2;

    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[512];
    lwr_supp_parse(&l, (const char *)data, size, "fuzz.supp", err, sizeof err);
    for (size_t i = 0; i < l.n; i++)
        (void)lwr_supp_matches(&l.v[i], &site);
    lwr_supplist_free(&l);
    return 0;
}

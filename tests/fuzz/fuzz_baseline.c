/* libFuzzer harness of the baseline reader (report/baseline.c): any text is parsed as JSON and read as a baseline
 * or a report, then looked up with a fixed site. */
#include "baseline.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, 0, &jerr);
    if (!root)
        return 0;
    static char fn[] = "make_table", file[] = "/src/demo.c", mod[] = "/usr/bin/demo";
    lwr_frame_t frame = { 0x1234, fn, file, 41, mod, 0x1234, 0 };
    lwr_site_t site;
    memset(&site, 0, sizeof site);
    site.kind = LWR_HEAP;
    site.cls = LWR_CLASS_DEFINITE;
    site.count = 3;
    site.frames = &frame;
    site.nframes = 1;
    lwr_baseline_t b = LWR_BASELINE_INIT;
    char err[512];
    if (lwr_baseline_from_json(&b, root, "fuzz.json", err, sizeof err) == 0)
        (void)lwr_baseline_has(&b, &site);
    lwr_baseline_free(&b);
    json_decref(root);
    return 0;
}

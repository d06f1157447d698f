/* Unit tests of the pprof output: the profile is decoded again (zlib, protobuf-c) and checked against the format's
 * rules (string 0 empty, every id it refers to exists) and against the report it came from: sample types per
 * kind, values, labels, inlined frames as one location, shared frames as one location, mappings with build-ids. */
#include "render_pprof.h"

#include "proto/profile.pb-c.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef Perftools__Profiles__Profile profile_t;

/* Adds a site; frames are "name@addr" (function in /usr/bin/svc at offset addr), "?addr" (no function, in
 * /lib/libfoo.so at offset addr) or "!addr" (no module). Frames with the same addr are one address inlined. */
static void add_site(lwr_report_t *r, lwr_kind_t kind, lwr_class_t cls, uint64_t count, uint64_t bytes,
                     const char *const *frames)
{
    r->sites = realloc(r->sites, (r->nsites + 1) * sizeof *r->sites);
    lwr_site_t *s = &r->sites[r->nsites++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->cls = cls;
    s->count = count;
    s->bytes = bytes;
    s->npids = 1;
    while (frames[s->nframes])
        s->nframes++;
    s->frames = calloc(s->nframes, sizeof *s->frames);
    for (size_t i = 0; i < s->nframes; i++) {
        lwr_frame_t *f = &s->frames[i];
        const char *at = strchr(frames[i], '@');
        if (frames[i][0] == '?' || frames[i][0] == '!') {
            f->offset = f->address = strtoull(frames[i] + 1, NULL, 16);
            if (frames[i][0] == '?')
                f->module = strdup("/lib/libfoo.so");
        } else {
            f->function = strndup(frames[i], (size_t)(at - frames[i]));
            f->file = strdup("svc.c");
            f->line = 10 + (unsigned)i;
            f->module = strdup("/usr/bin/svc");
            f->offset = strtoull(at + 1, NULL, 16);
            f->address = 0x555500000000 + f->offset;
        }
    }
}

static lwr_report_t *sample(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    add_site(r, LWR_HEAP, LWR_CLASS_REACHABLE, 10, 1000,
             (const char *[]){ "cache_insert@1100", "handle@1200", "main@1300", NULL });
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 2, 64,
             (const char *[]){ "inlined_helper@1400", "scratch@1400", "handle@1210", "main@1300", NULL });
    add_site(r, LWR_FD, LWR_CLASS_NONE, 3, 0, (const char *[]){ "open_log@1500", "main@1300", NULL });
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 1, 8, (const char *[]){ "?12a0", "!7fff0010", "main@1300", NULL });
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 0, 0, (const char *[]){ "freed@1600", NULL });
    r->processes = calloc(1, sizeof *r->processes);
    r->processes[0].pid = 42;
    r->processes[0].executable = strdup("/usr/bin/svc");
    r->processes[0].has_exit_status = true;
    r->processes[0].exit_status = 3;
    r->nprocesses = 1;
    return r;
}

static lwr_pprof_modules_t modules(void)
{
    lwr_pprof_modules_t m = LWR_PPROF_MODULES_INIT;
    m.v = calloc(2, sizeof *m.v);
    m.v[0] = (lwr_pprof_module_t){ strdup("/usr/bin/svc"), strdup("c0ffee"), 0, 0x5000 };
    m.v[1] = (lwr_pprof_module_t){ strdup("/lib/libfoo.so"), strdup(""), 0x1000, 0x9000 };
    m.n = m.cap = 2;
    return m;
}

/* Renders and decodes the profile; the caller frees it with perftools__profiles__profile__free_unpacked. */
static profile_t *roundtrip(const lwr_report_t *r, const lwr_pprof_modules_t *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(lwr_render_pprof(f, r, m), 0);
    fclose(f);
    ck_assert_msg(len > 18 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b, "a gzip stream");
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    size_t cap = 1 << 20;
    unsigned char *raw = malloc(cap);
    z.next_in = (unsigned char *)buf;
    z.avail_in = (uInt)len;
    z.next_out = raw;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t rawlen = cap - z.avail_out;
    inflateEnd(&z);
    profile_t *p = perftools__profiles__profile__unpack(NULL, rawlen, raw);
    ck_assert_msg(p != NULL, "the profile decodes");
    free(raw);
    free(buf);
    return p;
}

static const char *s(const profile_t *p, int64_t i)
{
    ck_assert_msg(i >= 0 && (size_t)i < p->n_string_table, "string index %lld in range", (long long)i);
    return p->string_table[i];
}

static const Perftools__Profiles__Location *location(const profile_t *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id)
            return p->location[i];
    ck_abort_msg("location %llu exists", (unsigned long long)id);
    return NULL;
}

static const Perftools__Profiles__Function *function(const profile_t *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id)
            return p->function[i];
    ck_abort_msg("function %llu exists", (unsigned long long)id);
    return NULL;
}

/* The name of the function of line `k` of location `id`. */
static const char *fn(const profile_t *p, uint64_t id, size_t k)
{
    const Perftools__Profiles__Location *l = location(p, id);
    ck_assert_uint_gt(l->n_line, k);
    return s(p, function(p, l->line[k]->function_id)->name);
}

static const char *label(const profile_t *p, const Perftools__Profiles__Sample *smp, const char *key)
{
    for (size_t i = 0; i < smp->n_label; i++)
        if (strcmp(s(p, smp->label[i]->key), key) == 0)
            return smp->label[i]->str ? s(p, smp->label[i]->str) : "";
    return NULL;
}

START_TEST(sample_types_and_values)
{
    lwr_report_t *r = sample();
    lwr_pprof_modules_t m = modules();
    profile_t *p = roundtrip(r, &m);
    ck_assert_str_eq(s(p, 0), "");
    ck_assert_uint_eq(p->n_sample_type, 3);
    ck_assert_str_eq(s(p, p->sample_type[0]->type), "heap_objects");
    ck_assert_str_eq(s(p, p->sample_type[0]->unit), "count");
    ck_assert_str_eq(s(p, p->sample_type[1]->type), "heap_space");
    ck_assert_str_eq(s(p, p->sample_type[1]->unit), "bytes");
    ck_assert_str_eq(s(p, p->sample_type[2]->type), "fd_objects");
    ck_assert_str_eq(s(p, p->default_sample_type), "heap_space");
    /* the site that holds nothing is left out; the others keep the report's order */
    ck_assert_uint_eq(p->n_sample, 4);
    const int64_t want[4][3] = { { 10, 1000, 0 }, { 2, 64, 0 }, { 0, 0, 3 }, { 1, 8, 0 } };
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(p->sample[i]->n_value, 3);
        for (size_t k = 0; k < 3; k++)
            ck_assert_int_eq(p->sample[i]->value[k], want[i][k]);
    }
    ck_assert_str_eq(label(p, p->sample[0], "class"), "reachable");
    ck_assert_str_eq(label(p, p->sample[0], "kind"), "heap");
    ck_assert_str_eq(label(p, p->sample[2], "kind"), "fd");
    ck_assert_ptr_null(label(p, p->sample[2], "class"));
    ck_assert_uint_eq(p->n_comment, 1);
    ck_assert_str_eq(s(p, p->comment[0]), "pid 42: /usr/bin/svc (exit status 3)");
    perftools__profiles__profile__free_unpacked(p, NULL);
    lwr_pprof_modules_free(&m);
    lwr_report_free(r);
}
END_TEST

START_TEST(locations_functions_mappings)
{
    lwr_report_t *r = sample();
    lwr_pprof_modules_t m = modules();
    profile_t *p = roundtrip(r, &m);
    /* innermost first; main@1300 is one location shared by every sample */
    const Perftools__Profiles__Sample *cache = p->sample[0], *scratch = p->sample[1], *odd = p->sample[3];
    ck_assert_uint_eq(cache->n_location_id, 3);
    ck_assert_str_eq(fn(p, cache->location_id[0], 0), "cache_insert");
    ck_assert_str_eq(fn(p, cache->location_id[2], 0), "main");
    ck_assert_uint_eq(cache->location_id[2], scratch->location_id[scratch->n_location_id - 1]);
    ck_assert_uint_eq(cache->location_id[2], odd->location_id[2]);
    /* two functions at one address: one location, the inlined function first */
    ck_assert_uint_eq(scratch->n_location_id, 3);
    const Perftools__Profiles__Location *in = location(p, scratch->location_id[0]);
    ck_assert_uint_eq(in->n_line, 2);
    ck_assert_str_eq(fn(p, in->id, 0), "inlined_helper");
    ck_assert_str_eq(fn(p, in->id, 1), "scratch");
    ck_assert_int_eq(in->line[0]->line, 10);
    ck_assert_str_eq(s(p, function(p, in->line[0]->function_id)->filename), "svc.c");
    /* handle@1200 and handle@1210: two locations of one function */
    ck_assert_uint_ne(cache->location_id[1], scratch->location_id[1]);
    ck_assert_uint_eq(location(p, cache->location_id[1])->line[0]->function_id,
                      location(p, scratch->location_id[1])->line[0]->function_id);
    /* a frame without a function is named as the text report names it; one without a module has no mapping */
    ck_assert_str_eq(fn(p, odd->location_id[0], 0), "libfoo.so+0x12a0");
    ck_assert_str_eq(fn(p, odd->location_id[1], 0), "0x7fff0010");
    ck_assert_uint_eq(location(p, odd->location_id[1])->mapping_id, 0);
    /* mappings: ids from 1, each module's locations inside its own range, build-ids kept */
    ck_assert_uint_eq(p->n_mapping, 2);
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        if (!l->mapping_id)
            continue;
        ck_assert_uint_le(l->mapping_id, p->n_mapping);
        const Perftools__Profiles__Mapping *mp = p->mapping[l->mapping_id - 1];
        ck_assert_uint_eq(mp->id, l->mapping_id);
        ck_assert_msg(l->address >= mp->memory_start && l->address < mp->memory_limit, "location %zu in its mapping",
                      i);
        ck_assert_msg(mp->has_functions && mp->has_filenames && mp->has_line_numbers, "pprof need not symbolize");
    }
    const Perftools__Profiles__Mapping *svc = p->mapping[location(p, cache->location_id[0])->mapping_id - 1];
    ck_assert_str_eq(s(p, svc->filename), "/usr/bin/svc");
    ck_assert_str_eq(s(p, svc->build_id), "c0ffee");
    const Perftools__Profiles__Mapping *foo = p->mapping[location(p, odd->location_id[0])->mapping_id - 1];
    ck_assert_str_eq(s(p, foo->filename), "/lib/libfoo.so");
    ck_assert_uint_eq(foo->file_offset, 0x1000);
    ck_assert_uint_eq(location(p, odd->location_id[0])->address - foo->memory_start + foo->file_offset, 0x12a0);
    perftools__profiles__profile__free_unpacked(p, NULL);
    lwr_pprof_modules_free(&m);
    lwr_report_free(r);
}
END_TEST

/* An empty report still has the heap's types and the default, and the modules of several dumps merge by path. */
START_TEST(empty_report_and_module_merge)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    lwr_pprof_modules_t m = LWR_PPROF_MODULES_INIT;
    profile_t *p = roundtrip(r, &m);
    ck_assert_uint_eq(p->n_sample, 0);
    ck_assert_uint_eq(p->n_sample_type, 2);
    ck_assert_str_eq(s(p, p->default_sample_type), "heap_space");
    perftools__profiles__profile__free_unpacked(p, NULL);
    lwr_report_free(r);

    lwr_module_t a[2] = { { "/usr/bin/svc", "aa", 0x1000, 0x1000, 0x6000 }, { "/lib/libc.so.6", "", 0x7000, 0x8000, 0x9000 } };
    lwr_module_t b[1] = { { "/usr/bin/svc", "bb", 0x2000, 0x2000, 0x7000 } };
    lwr_dump_t d1, d2;
    memset(&d1, 0, sizeof d1);
    memset(&d2, 0, sizeof d2);
    d1.modules = a;
    d1.nmodules = 2;
    d2.modules = b;
    d2.nmodules = 1;
    ck_assert_int_eq(lwr_pprof_modules_add(&m, &d1), 0);
    ck_assert_int_eq(lwr_pprof_modules_add(&m, &d2), 0);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_str_eq(m.v[0].build_id, "aa");
    ck_assert_uint_eq(m.v[0].low, 0);
    ck_assert_uint_eq(m.v[0].high, 0x5000);
    ck_assert_uint_eq(m.v[1].low, 0x1000);
    lwr_pprof_modules_free(&m);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pprof");
    TCase *tc = tcase_create("pprof");
    tcase_add_test(tc, sample_types_and_values);
    tcase_add_test(tc, locations_functions_mappings);
    tcase_add_test(tc, empty_report_and_module_merge);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/* Unit tests of the dump reader: a valid dump read member by member, and every kind of bad input refused with
 * a message that names the file and what is wrong; all of them with jansson's arena installed, as the command
 * runs, and the arena itself. */
#include "dump.h"
#include "json_arena.h"

#include <check.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char valid[] =
    "{\n"
    "  \"leakwatch_dump\": 1, \"pid\": 4242, \"ppid\": 4200, \"exe\": \"/usr/bin/demo\",\n"
    "  \"argv\": [\"demo\", \"-v\"], \"seq\": 2, \"reason\": \"exit\", \"exit_status\": 3,\n"
    "  \"uptime_ms\": 153, \"time_unix_ms\": 1795000000000, \"unwind\": \"libunwind\",\n"
    "  \"kinds\": [\"heap\", \"fd\", \"socket\", \"thread\", \"timer\"],\n"
    "  \"future_member\": {\"ignored\": true},\n"
    "  \"modules\": [\n"
    "    {\"path\": \"/lib/libc.so.6\", \"build_id\": \"\", \"bias\": \"0x7f0000000000\",\n"
    "     \"start\": \"0x7f0000001000\", \"end\": \"0x7f0000200000\"},\n"
    "    {\"path\": \"/usr/bin/demo\", \"build_id\": \"9f0cab\", \"bias\": \"0x55d0c0a00000\",\n"
    "     \"start\": \"0x55d0c0a00000\", \"end\": \"0x55d0c0f21000\"}\n"
    "  ],\n"
    "  \"sites\": [\n"
    "    {\"kind\": \"heap\", \"count\": 3, \"bytes\": 72, \"frames\": [\"0x55d0c0a01234\", \"0x7F0000002000\"],\n"
    "     \"oldest_age_ms\": 120, \"median_age_ms\": 80,\n"
    "     \"samples\": [{\"handle\": \"0x55d0c1e002a0\", \"size\": 24, \"age_ms\": 120}]},\n"
    "    {\"kind\": \"gpu-buffer\", \"count\": 9, \"bytes\": 9, \"frames\": []},\n"
    "    {\"kind\": \"fd\", \"count\": 1, \"bytes\": 0, \"frames\": [\"0x55d0c0a01000\"],\n"
    "     \"samples\": [{\"handle\": \"7\", \"size\": 0, \"detail\": \"/tmp/log\"}]}\n"
    "  ],\n"
    "  \"warnings\": [{\"type\": \"bad-close\", \"handle\": \"7\", \"message\": \"m\", \"frames\": []}],\n"
    "  \"totals\": {\"heap\": {\"count\": 3, \"bytes\": 72}, \"fd\": {\"count\": 1, \"bytes\": 0},\n"
    "             \"socket\": {\"count\": 0, \"bytes\": 0}, \"thread\": {\"count\": 0, \"bytes\": 0},\n"
    "             \"timer\": {\"count\": 0, \"bytes\": 0}}\n"
    "}\n";

/* `dropped` and `lost` say what the library could not record; both are 0 when absent, and a wrong type is named. */
START_TEST(lost_and_dropped_are_read)
{
    static const char lost[] =
        "{\"leakwatch_dump\": 1, \"pid\": 7, \"modules\": [], \"sites\": [], \"dropped\": 2,\n"
        " \"lost\": {\"records\": 3, \"sites\": 4, \"warnings\": 5}}\n";
    static const char partial[] =
        "{\"leakwatch_dump\": 1, \"pid\": 7, \"modules\": [], \"sites\": [], \"lost\": {\"warnings\": 9}}";
    static const char bad[] = "{\"leakwatch_dump\": 1, \"pid\": 7, \"modules\": [], \"sites\": [], \"lost\": 3}";
    static const char negative[] =
        "{\"leakwatch_dump\": 1, \"pid\": 7, \"modules\": [], \"sites\": [], \"lost\": {\"records\": -1}}";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(lost, strlen(lost), "l.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->dropped, 2);
    ck_assert_uint_eq(d->lost_records, 3);
    ck_assert_uint_eq(d->lost_sites, 4);
    ck_assert_uint_eq(d->lost_warnings, 5);
    lwr_dump_free(d);

    d = lwr_dump_parse(partial, strlen(partial), "p.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->dropped, 0);
    ck_assert_uint_eq(d->lost_records, 0);
    ck_assert_uint_eq(d->lost_sites, 0);
    ck_assert_uint_eq(d->lost_warnings, 9);
    lwr_dump_free(d);

    d = lwr_dump_parse(valid, strlen(valid), "v.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->dropped + d->lost_records + d->lost_sites + d->lost_warnings, 0);
    lwr_dump_free(d);

    ck_assert_ptr_null(lwr_dump_parse(bad, strlen(bad), "b.json", err, sizeof err));
    ck_assert_str_eq(err, "b.json: lost: expected an object, found an integer");
    ck_assert_ptr_null(lwr_dump_parse(negative, strlen(negative), "n.json", err, sizeof err));
    ck_assert_str_eq(err, "n.json: lost.records: negative value -1");
}
END_TEST

START_TEST(valid_dump_is_read_member_by_member)
{
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(valid, strlen(valid), "x.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_eq(d->version, 1);
    ck_assert_int_eq(d->pid, 4242);
    ck_assert_int_eq(d->ppid, 4200);
    ck_assert_str_eq(d->exe, "/usr/bin/demo");
    ck_assert_uint_eq(d->argc, 2);
    ck_assert_str_eq(d->argv[0], "demo");
    ck_assert_str_eq(d->argv[1], "-v");
    ck_assert_int_eq(d->seq, 2);
    ck_assert_str_eq(d->reason, "exit");
    ck_assert(d->has_exit_status);
    ck_assert_int_eq(d->exit_status, 3);
    ck_assert_str_eq(d->file, "x.json");

    /* Modules come back sorted by start. */
    ck_assert_uint_eq(d->nmodules, 2);
    ck_assert_str_eq(d->modules[0].path, "/usr/bin/demo");
    ck_assert_str_eq(d->modules[0].build_id, "9f0cab");
    ck_assert_uint_eq(d->modules[0].bias, 0x55d0c0a00000ull);
    ck_assert_uint_eq(d->modules[0].end, 0x55d0c0f21000ull);
    ck_assert_str_eq(d->modules[1].path, "/lib/libc.so.6");
    ck_assert_str_eq(d->modules[1].build_id, "");

    /* The site of an unknown kind is skipped, not an error. */
    ck_assert_uint_eq(d->nsites, 2);
    ck_assert_uint_eq(d->skipped_sites, 1);
    lwr_dump_site_t *s = &d->sites[0];
    ck_assert_int_eq(s->kind, LWR_HEAP);
    ck_assert_uint_eq(s->count, 3);
    ck_assert_uint_eq(s->bytes, 72);
    ck_assert_uint_eq(s->nframes, 2);
    ck_assert_uint_eq(s->frames[0], 0x55d0c0a01234ull);
    ck_assert_uint_eq(s->frames[1], 0x7f0000002000ull);
    ck_assert_int_eq(s->oldest_age_ms, 120);
    ck_assert_int_eq(s->median_age_ms, 80);
    ck_assert_uint_eq(s->nsamples, 1);
    ck_assert_str_eq(s->samples[0].handle, "0x55d0c1e002a0");
    ck_assert_uint_eq(s->samples[0].size, 24);
    ck_assert_int_eq(s->samples[0].age_ms, 120);
    ck_assert_ptr_null(s->samples[0].detail);
    s = &d->sites[1];
    ck_assert_int_eq(s->kind, LWR_FD);
    ck_assert_str_eq(s->samples[0].handle, "7");
    ck_assert_str_eq(s->samples[0].detail, "/tmp/log");
    ck_assert_int_eq(s->samples[0].age_ms, -1);
    ck_assert_int_eq(s->oldest_age_ms, -1);

    ck_assert_uint_eq(d->nwarnings, 1);
    ck_assert_uint_eq(d->totals[LWR_HEAP].count, 3);
    ck_assert_uint_eq(d->totals[LWR_HEAP].bytes, 72);
    ck_assert_uint_eq(d->totals[LWR_FD].count, 1);

    ck_assert_ptr_eq(lwr_dump_module_of(d, 0x55d0c0a01234ull), &d->modules[0]);
    ck_assert_ptr_eq(lwr_dump_module_of(d, 0x7f0000001000ull), &d->modules[1]);
    ck_assert_ptr_null(lwr_dump_module_of(d, 0x7f0000200000ull));  /* end is exclusive */
    ck_assert_ptr_null(lwr_dump_module_of(d, 0x1000));
    lwr_dump_free(d);
}
END_TEST

START_TEST(minimal_dump_gets_defaults_and_totals_from_sites)
{
    static const char text[] =
        "{\"leakwatch_dump\": 1, \"pid\": 7, \"exit_status\": null, \"modules\": [],"
        " \"sites\": [{\"kind\": \"timer\", \"count\": 2, \"frames\": []},"
        "             {\"kind\": \"timer\", \"count\": 1, \"frames\": []}]}";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "m.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_eq(d->ppid, -1);
    ck_assert_ptr_null(d->exe);
    ck_assert(!d->has_exit_status);
    ck_assert_uint_eq(d->argc, 0);
    ck_assert_uint_eq(d->totals[LWR_TIMER].count, 3);
    ck_assert_uint_eq(d->totals[LWR_HEAP].count, 0);
    lwr_dump_free(d);
}
END_TEST

/* Parses `text`, expects failure, and checks that every one of the NULL-terminated `needles` is in the error. */
static void expect_error(const char *text, size_t len, const char *const *needles)
{
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(text, len, "bad.json", err, sizeof err);
    ck_assert_msg(d == NULL, "accepted: %s", text);
    ck_assert_msg(strncmp(err, "bad.json: ", 10) == 0, "error does not name the file: %s", err);
    for (size_t i = 0; needles[i]; i++)
        ck_assert_msg(strstr(err, needles[i]) != NULL, "'%s' not in error: %s", needles[i], err);
}

START_TEST(truncated_dump_names_file_line_and_column)
{
    /* Cut the valid dump every few bytes: never a crash, always a message. */
    for (size_t len = 0; len < strlen(valid) - 2; len += 7) {
        char err[256] = "";
        lwr_dump_t *d = lwr_dump_parse(valid, len, "cut.json", err, sizeof err);
        ck_assert_msg(d == NULL, "accepted a dump cut at %zu bytes", len);
        ck_assert_msg(strncmp(err, "cut.json: line ", 15) == 0, "at %zu: %s", len, err);
    }
    size_t cut = (size_t)(strstr(valid, "\"uptime_ms\"") - valid);
    expect_error(valid, cut, (const char *const[]){ "line 4, column 2", NULL });
}
END_TEST

START_TEST(mutated_dumps_never_crash)
{
    /* Every byte of the valid dump replaced in turn by a few troublesome characters: each result is either a dump
     * or an error naming the file, never a crash, a leak or an overrun (the sanitizers watch). */
    static const char repl[] = { '"', '}', ']', '0', '-', 'x', ',', '\0' };
    size_t len = strlen(valid);
    char *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    size_t accepted = 0, refused = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t r = 0; r < sizeof repl; r++) {
            memcpy(copy, valid, len);
            copy[i] = repl[r];
            char err[256] = "";
            lwr_dump_t *d = lwr_dump_parse(copy, len, "m.json", err, sizeof err);
            if (d) {
                accepted++;
                lwr_dump_free(d);
            } else {
                refused++;
                ck_assert_msg(strncmp(err, "m.json: ", 8) == 0, "at %zu: %s", i, err);
            }
        }
    }
    free(copy);
    ck_assert_uint_gt(refused, len);    /* most mutations break the document */
    ck_assert_uint_gt(accepted, 0);     /* some only change a value inside a string */
}
END_TEST

START_TEST(wrong_types_are_named_by_their_path)
{
    expect_error("[1, 2]", 6, (const char *const[]){ "not a leakwatch dump", "array", NULL });
    expect_error("{\"pid\": 1}", 10, (const char *const[]){ "no \"leakwatch_dump\"", NULL });
    static const char *const cases[][3] = {
        { "{\"leakwatch_dump\": \"1\", \"pid\": 1, \"modules\": [], \"sites\": []}", "leakwatch_dump", "a string" },
        { "{\"leakwatch_dump\": 1, \"pid\": \"1\", \"modules\": [], \"sites\": []}", "pid", "expected an integer" },
        { "{\"leakwatch_dump\": 1, \"pid\": -4, \"modules\": [], \"sites\": []}", "pid", "negative" },
        { "{\"leakwatch_dump\": 1, \"modules\": [], \"sites\": []}", "pid: missing", "" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"sites\": []}", "modules: missing", "" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": {}, \"sites\": []}", "modules", "an object" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [{\"kind\": \"heap\", \"count\": 1,"
          " \"frames\": [\"0x10\", 17]}]}", "sites[0].frames[1]", "an integer" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [{\"kind\": \"heap\", \"count\": 1,"
          " \"frames\": [\"12ab\"]}]}", "sites[0].frames[0]", "not an address" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [{\"kind\": \"heap\", \"count\": 1,"
          " \"frames\": [\"0x12345678901234567\"]}]}", "sites[0].frames[0]", "not an address" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [{\"kind\": \"heap\", \"count\": 1.5,"
          " \"frames\": []}]}", "sites[0].count", "a real number" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [{\"kind\": 3, \"count\": 1,"
          " \"frames\": []}]}", "sites[0].kind", "an integer" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [{\"kind\": \"fd\", \"count\": 1,"
          " \"frames\": [], \"samples\": [{\"handle\": 3}]}]}", "sites[0].samples[0].handle", "an integer" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [{\"path\": \"/x\", \"bias\": \"0x0\","
          " \"start\": \"0x10\"}], \"sites\": []}", "modules[0].end: missing", "" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [{\"path\": \"/x\", \"bias\": \"0x0\","
          " \"start\": \"0x10\", \"end\": \"0x8\"}], \"sites\": []}", "modules[0]", "below start" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [],"
          " \"totals\": {\"heap\": {\"count\": \"3\"}}}", "totals.heap.count", "a string" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"argv\": [\"a\", null], \"modules\": [], \"sites\": []}",
          "argv[1]", "null" },
        { "{\"leakwatch_dump\": 1, \"pid\": 1, \"pid\": 2, \"modules\": [], \"sites\": []}", "duplicate", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i][0], strlen(cases[i][0]), (const char *const[]){ cases[i][1], cases[i][2], NULL });
}
END_TEST

START_TEST(reachability_classes_are_read)
{
    static const char text[] =
        "{\"leakwatch_dump\": 1, \"pid\": 7, \"modules\": [], \"reachability\": true, \"sites\": ["
        "{\"kind\": \"heap\", \"class\": \"reachable\", \"count\": 1, \"bytes\": 1000, \"frames\": []},"
        "{\"kind\": \"heap\", \"class\": \"indirect\", \"count\": 2, \"bytes\": 20, \"frames\": []},"
        "{\"kind\": \"heap\", \"class\": \"definite\", \"count\": 3, \"bytes\": 72, \"frames\": []},"
        "{\"kind\": \"heap\", \"class\": \"haunted\", \"count\": 4, \"bytes\": 4, \"frames\": []},"
        "{\"kind\": \"fd\", \"count\": 1, \"frames\": []}],"
        " \"totals\": {\"heap\": {\"count\": 9, \"bytes\": 96}, \"reachable\": {\"count\": 1, \"bytes\": 1000}}}";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "c.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->nsites, 5);
    ck_assert_int_eq(d->sites[0].cls, LWR_CLASS_REACHABLE);
    ck_assert_int_eq(d->sites[1].cls, LWR_CLASS_INDIRECT);
    ck_assert_int_eq(d->sites[2].cls, LWR_CLASS_DEFINITE);
    ck_assert_int_eq(d->sites[3].cls, LWR_CLASS_NONE);   /* unknown class: unclassified, still read */
    ck_assert_int_eq(d->sites[4].cls, LWR_CLASS_NONE);
    ck_assert_uint_eq(d->reachable.count, 1);
    ck_assert_uint_eq(d->reachable.bytes, 1000);
    ck_assert_uint_eq(d->totals[LWR_HEAP].count, 9);
    lwr_dump_free(d);

    /* Without totals, reachable sites are summed apart from the kinds. */
    static const char nototals[] =
        "{\"leakwatch_dump\": 1, \"pid\": 7, \"modules\": [], \"sites\": ["
        "{\"kind\": \"heap\", \"class\": \"reachable\", \"count\": 1, \"bytes\": 1000, \"frames\": []},"
        "{\"kind\": \"heap\", \"class\": \"definite\", \"count\": 3, \"bytes\": 72, \"frames\": []}]}";
    d = lwr_dump_parse(nototals, strlen(nototals), "c.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->totals[LWR_HEAP].count, 3);
    ck_assert_uint_eq(d->totals[LWR_HEAP].bytes, 72);
    ck_assert_uint_eq(d->reachable.count, 1);
    lwr_dump_free(d);

    static const char badclass[] = "{\"leakwatch_dump\": 1, \"pid\": 7, \"modules\": [], \"sites\": ["
                                   "{\"kind\": \"heap\", \"class\": 1, \"count\": 1, \"frames\": []}]}";
    expect_error(badclass, strlen(badclass), (const char *const[]){ "sites[0].class", "an integer", NULL });
}
END_TEST

START_TEST(other_versions_are_refused)
{
    static const char v3[] = "{\"leakwatch_dump\": 3, \"pid\": 1, \"modules\": [], \"sites\": []}";
    expect_error(v3, strlen(v3), (const char *const[]){ "version 3 is not supported", "versions 1 and 2", NULL });
    static const char v0[] = "{\"leakwatch_dump\": 0, \"pid\": 1, \"modules\": [], \"sites\": []}";
    expect_error(v0, strlen(v0), (const char *const[]){ "version 0", NULL });
}
END_TEST

/* `sampling.mean_bytes` marks a sampled dump (its heap figures are estimates); a wrong type or 0 is named. */
START_TEST(sampling_is_read)
{
    static const char sampled[] = "{\"leakwatch_dump\": 2, \"pid\": 7, \"modules\": [], \"sites\": [],\n"
                                  " \"sampling\": {\"mean_bytes\": 524288}}";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(sampled, strlen(sampled), "s.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->sample_bytes, 524288);
    lwr_dump_free(d);
    d = lwr_dump_parse(valid, strlen(valid), "v.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->sample_bytes, 0);
    lwr_dump_free(d);
    static const char not_object[] =
        "{\"leakwatch_dump\": 2, \"pid\": 7, \"modules\": [], \"sites\": [], \"sampling\": 5}";
    expect_error(not_object, strlen(not_object), (const char *const[]){ "sampling: expected an object", NULL });
    static const char zero[] =
        "{\"leakwatch_dump\": 2, \"pid\": 7, \"modules\": [], \"sites\": [], \"sampling\": {\"mean_bytes\": 0}}";
    expect_error(zero, strlen(zero), (const char *const[]){ "sampling.mean_bytes: expected at least 1", NULL });
    static const char missing[] =
        "{\"leakwatch_dump\": 2, \"pid\": 7, \"modules\": [], \"sites\": [], \"sampling\": {}}";
    expect_error(missing, strlen(missing), (const char *const[]){ "sampling.mean_bytes: missing", NULL });
}
END_TEST

/* Version 2 samples carry values, and the reader makes the sentences the reports show; version 1 samples carry
 * the sentences, and a thread's start address and state are read back from them. */
START_TEST(sample_values_make_sentences)
{
    static const char v2[] =
        "{\"leakwatch_dump\": 2, \"pid\": 1, \"modules\": [], \"sites\": ["
        "{\"kind\": \"socket\", \"count\": 2, \"frames\": [], \"samples\": ["
        "{\"handle\": \"5\", \"family\": \"AF_INET\", \"type\": \"SOCK_STREAM\", \"local\": \"127.0.0.1:80\","
        " \"peer\": \"127.0.0.1:4000\", \"listening\": false},"
        "{\"handle\": \"6\", \"family\": \"AF_INET6\", \"type\": \"SOCK_STREAM\", \"local\": \"[::1]:81\","
        " \"listening\": true}]},"
        "{\"kind\": \"fd\", \"count\": 2, \"frames\": [], \"samples\": ["
        "{\"handle\": \"0x1000\", \"stream\": \"FILE\", \"fd\": 7, \"target\": \"/etc/hosts\"},"
        "{\"handle\": \"8\", \"target\": \"caf\\u00e9\"}]},"
        "{\"kind\": \"thread\", \"count\": 1, \"frames\": [], \"samples\": ["
        "{\"handle\": \"0x7f00\", \"start\": \"0x401136\", \"state\": \"finished\"}]},"
        "{\"kind\": \"timer\", \"count\": 1, \"frames\": [], \"samples\": ["
        "{\"handle\": \"0x0\", \"clock\": \"CLOCK_MONOTONIC\", \"notify\": \"SIGEV_SIGNAL\"}]}]}";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(v2, strlen(v2), "v2.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_eq(d->version, 2);
    ck_assert_str_eq(d->sites[0].samples[0].detail, "AF_INET SOCK_STREAM 127.0.0.1:80 -> 127.0.0.1:4000");
    ck_assert_str_eq(d->sites[0].samples[1].detail, "AF_INET6 SOCK_STREAM [::1]:81 listening");
    ck_assert_str_eq(d->sites[1].samples[0].detail, "FILE* fd 7 /etc/hosts");
    ck_assert_str_eq(d->sites[1].samples[1].detail, "caf\xe9");
    ck_assert_str_eq(d->sites[2].samples[0].detail, "start=0x401136 finished");
    ck_assert_uint_eq(d->sites[2].samples[0].thread_start, 0x401136);
    ck_assert_str_eq(d->sites[2].samples[0].thread_state, "finished");
    ck_assert_str_eq(d->sites[3].samples[0].detail, "clock=CLOCK_MONOTONIC notify=SIGEV_SIGNAL");
    lwr_dump_free(d);

    static const char v1[] = "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": ["
                             "{\"kind\": \"thread\", \"count\": 1, \"frames\": [], \"samples\": ["
                             "{\"handle\": \"0x7f00\", \"detail\": \"start=0x401136 running\"}]}]}";
    d = lwr_dump_parse(v1, strlen(v1), "v1.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_str_eq(d->sites[0].samples[0].detail, "start=0x401136 running");
    ck_assert_uint_eq(d->sites[0].samples[0].thread_start, 0x401136);
    ck_assert_str_eq(d->sites[0].samples[0].thread_state, "running");
    lwr_dump_free(d);
}
END_TEST

/* Warnings of today's dumps are values: the reader says the sentence; one an older dump carries is kept. */
START_TEST(warning_values_make_sentences)
{
    static const char dump[] =
        "{\"leakwatch_dump\": 2, \"pid\": 7, \"modules\": [], \"sites\": [], \"warnings\": [\n"
        " {\"type\": \"bad-close\", \"handle\": \"9\", \"count\": 1, \"frames\": [], \"other_frames\": []},\n"
        " {\"type\": \"double-close\", \"handle\": \"8\", \"count\": 2, \"frames\": [], \"other_frames\": []},\n"
        " {\"type\": \"fd-into-exec\", \"handle\": \"5\", \"count\": 1, \"kind\": \"fd\", \"target\": \"/tmp/x\",\n"
        "  \"program\": \"/bin/true\", \"frames\": [], \"other_frames\": []},\n"
        " {\"type\": \"fd-into-exec\", \"handle\": \"6\", \"count\": 1, \"kind\": \"socket\",\n"
        "  \"program\": \"descriptor 3\", \"frames\": [], \"other_frames\": []},\n"
        " {\"type\": \"bad-close\", \"handle\": \"4\", \"message\": \"as the old library said it\", \"frames\": []},\n"
        " {\"type\": \"from-the-future\", \"handle\": \"1\", \"frames\": []}]}\n";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(dump, strlen(dump), "w.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->nread_warnings, 6);
    ck_assert_str_eq(d->warnings[0].message,
                     "close(9): the descriptor was open once but is not open now (closed behind leakwatch's back)");
    ck_assert_str_eq(d->warnings[1].message,
                     "close(8): the descriptor was already closed (other_frames: the earlier close)");
    ck_assert_str_eq(d->warnings[2].message, "descriptor 5 (/tmp/x) has no close-on-exec and is inherited by /bin/true");
    ck_assert_str_eq(d->warnings[3].message, "socket 6 has no close-on-exec and is inherited by descriptor 3");
    ck_assert_str_eq(d->warnings[4].message, "as the old library said it");
    ck_assert_ptr_null(d->warnings[5].message);
    lwr_dump_free(d);
}
END_TEST

START_TEST(load_reads_files_and_names_missing_ones)
{
    char path[] = "/tmp/lwr_dump_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, valid, strlen(valid)), (ssize_t)strlen(valid));
    close(fd);
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_load(path, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_str_eq(d->file, path);
    ck_assert_uint_eq(d->nsites, 2);
    lwr_dump_free(d);

    /* Truncate the file: the message names the file and a position. */
    ck_assert_int_eq(truncate(path, 100), 0);
    d = lwr_dump_load(path, err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, "line "), "%s", err);
    unlink(path);

    d = lwr_dump_load(path, err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, path) && strstr(err, "No such file"), "%s", err);

    /* A tiny error buffer is never overrun. */
    char small[8];
    memset(small, 'x', sizeof small);
    ck_assert_ptr_null(lwr_dump_parse("{", 1, "a-long-file-name.json", small, 6));
    ck_assert_int_eq(small[5], '\0');
    ck_assert_int_eq(small[6], 'x');
}
END_TEST

START_TEST(kind_lists_parse)
{
    lwr_kindset_t set = 0;
    char bad[32] = "";
    ck_assert_int_eq(lwr_kinds_parse("heap,fd", &set, bad, sizeof bad), 0);
    ck_assert_uint_eq(set, (1u << LWR_HEAP) | (1u << LWR_FD));
    ck_assert_int_eq(lwr_kinds_parse("all", &set, bad, sizeof bad), 0);
    ck_assert_uint_eq(set, LWR_ALL_KINDS);
    ck_assert_int_eq(lwr_kinds_parse("timer", &set, bad, sizeof bad), 0);
    ck_assert_uint_eq(set, 1u << LWR_TIMER);
    ck_assert_int_eq(lwr_kinds_parse("heap,gpu", &set, bad, sizeof bad), -1);
    ck_assert_str_eq(bad, "gpu");
    ck_assert_uint_eq(set, 1u << LWR_TIMER);   /* unchanged on failure */
    ck_assert_int_eq(lwr_kinds_parse("heap,", &set, bad, sizeof bad), -1);
    ck_assert_str_eq(bad, "");
    ck_assert_int_eq(lwr_kinds_parse("", &set, bad, sizeof bad), -1);
    ck_assert_str_eq(lwr_kind_name(LWR_SOCKET), "socket");
    ck_assert_int_eq(lwr_kind_from_name("thread", 6), LWR_THREAD);
    ck_assert_int_eq(lwr_kind_from_name("threads", 7), -1);
}
END_TEST

/* The arena hands out what a tree needs and takes it back whole: one chunk is kept for the next site, none after
 * the end; what was made outside it is freed by json_decref as ever; a value used after its tree was dropped
 * lies in poisoned memory (this test is built with AddressSanitizer). */
START_TEST(sites_are_parsed_in_an_arena_dropped_whole)
{
    json_t *outside = json_pack("{s:[i,i,s]}", "kept", 1, 2, "outside");
    ck_assert_ptr_nonnull(outside);
    ck_assert_uint_eq(lwr_json_arena_held(), 0);

    lwr_json_arena_begin();
    json_error_t jerr;
    json_t *site = json_loads("{\"kind\": \"heap\", \"frames\": [\"0x1\", \"0x2\"], \"count\": 3}", 0, &jerr);
    ck_assert_msg(site != NULL, "%s", jerr.text);
    ck_assert_uint_gt(lwr_json_arena_held(), 0);
    json_t *frames = json_object_get(site, "frames");
    ck_assert_str_eq(json_string_value(json_array_get(frames, 1)), "0x2");
    /* a value of the outside tree changed inside the arena is freed with free */
    ck_assert_int_eq(json_array_remove(json_object_get(outside, "kept"), 2), 0);
    size_t held = lwr_json_arena_held();
    lwr_json_arena_drop(site);
    ck_assert_uint_eq(lwr_json_arena_held(), held);   /* the one chunk, kept */
#ifdef __SANITIZE_ADDRESS__
    ck_assert_int_ne(__asan_address_is_poisoned(frames), 0);
#endif
    /* the next tree reuses the kept chunk */
    json_t *next = json_loads("[1, 2, 3]", 0, &jerr);
    ck_assert_ptr_nonnull(next);
    ck_assert_uint_eq(lwr_json_arena_held(), held);
    lwr_json_arena_drop(next);
    lwr_json_arena_end();
    ck_assert_uint_eq(lwr_json_arena_held(), 0);

    /* after the end jansson allocates with malloc again */
    json_t *after = json_loads("{\"a\": [1]}", 0, &jerr);
    ck_assert_ptr_nonnull(after);
    ck_assert_uint_eq(lwr_json_arena_held(), 0);
    json_decref(after);
    ck_assert_int_eq(json_array_size(json_object_get(outside, "kept")), 2);
    json_decref(outside);
}
END_TEST

/* Many sites, some deep and one larger than an arena chunk: every site is read whole, and the arena holds
 * nothing once the dump is read. */
START_TEST(a_large_dump_reads_the_same_through_the_arena)
{
    size_t nsites = 3000, cap = nsites * 2200 + 301024, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    len += (size_t)snprintf(text + len, cap - len, "{\"leakwatch_dump\": 1, \"pid\": 9, \"modules\": [], \"sites\": [");
    for (size_t i = 0; i < nsites; i++) {
        len += (size_t)snprintf(text + len, cap - len,
                                "%s{\"kind\": \"heap\", \"count\": %zu, \"bytes\": %zu, \"frames\": [", i ? "," : "",
                                i + 1, 8 * (i + 1));
        size_t nframes = i % 97 == 0 ? 64 : 1 + i % 9;   /* some deep sites */
        for (size_t f = 0; f < nframes; f++)
            len += (size_t)snprintf(text + len, cap - len, "%s\"0x%zx\"", f ? "," : "", 0x400000 + i * 64 + f);
        len += (size_t)snprintf(text + len, cap - len, "]}");
    }
    /* and one site larger than an arena chunk (256 KiB): a descriptor whose detail is 300000 bytes */
    len += (size_t)snprintf(text + len, cap - len, ",{\"kind\": \"fd\", \"count\": 1, \"bytes\": 0, \"frames\": "
                            "[\"0x401000\"], \"samples\": [{\"handle\": \"7\", \"size\": 0, \"detail\": \"");
    memset(text + len, 'd', 300000);
    len += 300000;
    len += (size_t)snprintf(text + len, cap - len, "\"}]}]}");
    ck_assert_uint_lt(len, cap);
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(text, len, "large.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->nsites, nsites + 1);
    ck_assert_uint_eq(lwr_json_arena_held(), 0);
    ck_assert_uint_eq(d->sites[nsites].nsamples, 1);
    ck_assert_uint_eq(strlen(d->sites[nsites].samples[0].detail), 300000);
    uint64_t count = 0;
    for (size_t i = 0; i < nsites; i++) {
        count += d->sites[i].count;
        size_t nframes = i % 97 == 0 ? 64 : 1 + i % 9;
        ck_assert_uint_eq(d->sites[i].nframes, nframes);
        ck_assert_uint_eq(d->sites[i].frames[nframes - 1], 0x400000 + i * 64 + nframes - 1);
    }
    ck_assert_uint_eq(count, (uint64_t)nsites * (nsites + 1) / 2);
    lwr_dump_free(d);

    /* a site broken in the middle of the array: the error, and nothing held */
    char *mid = strstr(text + len / 2, "\"count\":");
    ck_assert_ptr_nonnull(mid);
    mid[7] = ';';
    d = lwr_dump_parse(text, len, "broken.json", err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "broken.json") != NULL, "%s", err);
    ck_assert_uint_eq(lwr_json_arena_held(), 0);
    free(text);
}
END_TEST

/* Addresses are "0x" and 1 to 16 hex digits of either case, the whole string; nothing else is one. */
START_TEST(addresses_parse_exactly)
{
    uint64_t v = 0;
    ck_assert_int_eq(lwr_parse_addr("0x1f00", 6, &v), 0);
    ck_assert_uint_eq(v, 0x1f00);
    ck_assert_int_eq(lwr_parse_addr("0XDeadBeef", 10, &v), 0);
    ck_assert_uint_eq(v, 0xdeadbeef);
    ck_assert_int_eq(lwr_parse_addr("0xffffffffffffffff", 18, &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(lwr_parse_addr("0x0", 3, &v), 0);
    ck_assert_uint_eq(v, 0);
    v = 42;
    ck_assert_int_eq(lwr_parse_addr("0x1ffffffffffffffff", 19, &v), -1);   /* 17 digits */
    ck_assert_int_eq(lwr_parse_addr("0x", 2, &v), -1);
    ck_assert_int_eq(lwr_parse_addr("1f00", 4, &v), -1);
    ck_assert_int_eq(lwr_parse_addr("0x1g", 4, &v), -1);
    ck_assert_int_eq(lwr_parse_addr("0x12 ", 5, &v), -1);
    ck_assert_int_eq(lwr_parse_addr("0x1\0002", 6, &v), -1);   /* a NUL inside */
    ck_assert_int_eq(lwr_parse_addr("0x-1", 4, &v), -1);
    ck_assert_int_eq(lwr_parse_addr("0x1f00", 4, &v), 0);   /* only the bytes given */
    ck_assert_uint_eq(v, 0x1f);
}
END_TEST

int main(void)
{
    lwr_json_arena_install();
    Suite *s = suite_create("report_dump");
    TCase *tc = tcase_create("dump");
    tcase_add_test(tc, valid_dump_is_read_member_by_member);
    tcase_add_test(tc, minimal_dump_gets_defaults_and_totals_from_sites);
    tcase_add_test(tc, truncated_dump_names_file_line_and_column);
    tcase_add_test(tc, mutated_dumps_never_crash);
    tcase_add_test(tc, wrong_types_are_named_by_their_path);
    tcase_add_test(tc, reachability_classes_are_read);
    tcase_add_test(tc, other_versions_are_refused);
    tcase_add_test(tc, sampling_is_read);
    tcase_add_test(tc, sample_values_make_sentences);
    tcase_add_test(tc, warning_values_make_sentences);
    tcase_add_test(tc, load_reads_files_and_names_missing_ones);
    tcase_add_test(tc, kind_lists_parse);
    tcase_add_test(tc, lost_and_dropped_are_read);
    tcase_add_test(tc, sites_are_parsed_in_an_arena_dropped_whole);
    tcase_add_test(tc, a_large_dump_reads_the_same_through_the_arena);
    tcase_add_test(tc, addresses_parse_exactly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

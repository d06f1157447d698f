/* Unit tests of the dump writer's JSON strings: any bytes give valid JSON, well-formed UTF-8 is copied, every
 * other byte and every control byte is an escape \u00XX, and the reader's rule (\u0080..\u00ff is one raw byte)
 * gives back exactly what was written. */
#include "testing.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes a dump whose `reason` is `reason` (the writer passes it through its string writer) and returns the text
 * of the member, from the opening quote to the closing one. */
static char *reason_text(const char *reason, json_t **doc)
{
    lw_reset_for_tests();
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    char dir[] = "/tmp/lwtest.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    ck_assert_int_eq(lw_dump_next(dir, reason, path, sizeof(path)), 0);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    json_error_t jerr;
    *doc = json_loadb(text, n, 0, &jerr);
    ck_assert_msg(*doc != NULL, "the dump is valid JSON: line %d: %s", jerr.line, jerr.text);
    char *at = strstr(text, "\"reason\": ");
    ck_assert_ptr_nonnull(at);
    at += strlen("\"reason\": ");
    char *end = at + 1;
    while (*end && !(*end == '"' && end[-1] != '\\'))
        end++;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    return strndup(at, (size_t)(end - at + 1));
}

START_TEST(bytes_that_are_not_utf8_are_escaped)
{
    json_t *doc;
    /* a Latin-1 é, well-formed é, a stray continuation byte, an overlong '/', a UTF-16 surrogate, a 4-byte
     * emoji, a sequence cut short at the end */
    char *t = reason_text("caf\xe9 \xc3\xa9 \x80 \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80 \xe2\x82", &doc);
    ck_assert_str_eq(t, "\"caf\\u00e9 \xc3\xa9 \\u0080 \\u00c0\\u00af \\u00ed\\u00a0\\u0080 \xf0\x9f\x98\x80 "
                        "\\u00e2\\u0082\"");
    free(t);
    json_decref(doc);
}
END_TEST

START_TEST(control_bytes_quotes_and_backslashes)
{
    json_t *doc;
    char *t = reason_text("a\nb\x1b]0;t\x07\t\"\\\x7f", &doc);
    ck_assert_str_eq(t, "\"a\\u000ab\\u001b]0;t\\u0007\\u0009\\\"\\\\\x7f\"");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "reason")), "a\nb\x1b]0;t\x07\t\"\\\x7f");
    free(t);
    json_decref(doc);
}
END_TEST

START_TEST(well_formed_latin1_range_is_never_escaped)
{
    /* U+0080..U+00FF written as UTF-8 stay as they are: an escape in that range can only mean a raw byte. */
    json_t *doc;
    char *t = reason_text("\xc2\x80\xc2\xbf\xc3\xbf", &doc);
    ck_assert_str_eq(t, "\"\xc2\x80\xc2\xbf\xc3\xbf\"");
    free(t);
    json_decref(doc);
}
END_TEST

int main(void)
{
    setenv("LEAKWATCH_REPORT", "none", 1);
    Suite *s = suite_create("tracker_dump_strings");
    TCase *tc = tcase_create("strings");
    tcase_add_test(tc, bytes_that_are_not_utf8_are_escaped);
    tcase_add_test(tc, control_bytes_quotes_and_backslashes);
    tcase_add_test(tc, well_formed_latin1_range_is_never_escaped);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

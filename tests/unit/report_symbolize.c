/* Unit tests of the symbolizer on this very test binary: a dump module for /proc/self/exe at its real bias
 * and build-id, and the address of a static function in this file must come back as its name, file and line,
 * from the binary or from a debug file (a compressed one through the cache of decompressed copies). */
#include "aggregate.h"
#include "symbolize.h"

#include "self_module.h"

#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The function's first instruction belongs to the line of its name (clang) or of its opening brace (gcc). */
static const unsigned target_line = __LINE__ + 1;
__attribute__((noinline)) static int lwr_test_target(volatile int *x)
{
    *x += 1;
    return *x * 3;
}

/* An inlined call: capture() records a return address that lies in inner_step's body, inlined into outer_fn. */
static uintptr_t captured;
static volatile int sink;
__attribute__((noinline)) static void capture(void)
{
    captured = (uintptr_t)__builtin_return_address(0);
}
static inline __attribute__((always_inline)) void inner_step(void)
{
    capture();
    sink = 1;   /* keeps the call above from becoming a jump */
}
__attribute__((noinline)) static void outer_fn(void)
{
    inner_step();
    sink = 2;
}
static const unsigned capture_line = __LINE__ - 8;      /* capture(); */
static const unsigned inner_call_line = __LINE__ - 4;   /* inner_step(); */

/* A dump of this process whose one module is this executable under `path` with `build_id`, and one heap site
 * whose frames are `frames`. */
static lwr_dump_t *self_dump(const char *path, const char *build_id, const unsigned long long *frames, int n)
{
    self_t self;
    memset(&self, 0, sizeof self);
    dl_iterate_phdr(find_self, &self);
    ck_assert(self.found);
    ck_assert_msg(self.build_id[0], "the test binary has no build-id");
    char text[8192], err[256] = "";
    int len = snprintf(text, sizeof text,
                       "{\"leakwatch_dump\": 1, \"pid\": %d, \"modules\": [{\"path\": \"%s\", \"build_id\": \"%s\","
                       " \"bias\": \"0x%llx\", \"start\": \"0x%llx\", \"end\": \"0x%llx\"}],"
                       " \"sites\": [{\"kind\": \"heap\", \"count\": 1, \"bytes\": 8, \"frames\": [",
                       (int)getpid(), path, build_id ? build_id : self.build_id, self.bias, self.start, self.end);
    for (int i = 0; i < n; i++)
        len += snprintf(text + len, sizeof text - (size_t)len, "%s\"0x%llx\"", i ? ", " : "", frames[i]);
    snprintf(text + len, sizeof text - (size_t)len, "]}]}");
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "self.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

static const char *exe_path(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    ck_assert_int_gt(n, 0);
    path[n] = '\0';
    return path;
}

/* A return address "inside" the target: the symbolizer looks up address - 1, the first byte of the function. */
static unsigned long long target_address(void)
{
    return (unsigned long long)(uintptr_t)&lwr_test_target + 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

START_TEST(static_function_is_found_by_name_file_and_line)
{
    volatile int x = 1;
    ck_assert_int_eq(lwr_test_target(&x), 6);
    unsigned long long a = target_address();
    lwr_dump_t *d = self_dump(exe_path(), NULL, &a, 1);
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    ck_assert_ptr_nonnull(sym);
    lwr_symbol_t out;
    lwr_symbolize(sym, d, a, &out);
    ck_assert_ptr_nonnull(out.function);
    ck_assert_str_eq(out.function, "lwr_test_target");
    ck_assert_ptr_nonnull(out.file);
    ck_assert_msg(out.file[0] == '/' && ends_with(out.file, "tests/unit/report_symbolize.c"), "file %s", out.file);
    ck_assert_msg(out.line == target_line || out.line == target_line + 1, "line %u, expected %u or %u", out.line,
                  target_line, target_line + 1);
    ck_assert_str_eq(out.module, exe_path());
    ck_assert_uint_eq(out.offset, a - d->modules[0].bias);

    /* The second lookup is served from the cache and gives the very same strings. */
    lwr_symbol_t again;
    lwr_symbolize(sym, d, a, &again);
    ck_assert_ptr_eq(again.function, out.function);
    ck_assert_ptr_eq(again.file, out.file);

    /* An address outside every module keeps only itself. */
    lwr_symbolize(sym, d, 0x10, &again);
    ck_assert_ptr_null(again.module);
    ck_assert_ptr_null(again.function);
    ck_assert_uint_eq(again.offset, 0x10);
    lwr_symbolizer_free(sym);
    lwr_dump_free(d);
}
END_TEST

START_TEST(inlined_calls_give_one_frame_per_level)
{
    outer_fn();
    unsigned long long a = captured;
    lwr_dump_t *d = self_dump(exe_path(), NULL, &a, 1);
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    lwr_symbol_t out[8];
    size_t n = lwr_symbolize_all(sym, d, a, out, 8);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(out[0].function, "inner_step");
    ck_assert_uint_eq(out[0].line, capture_line);
    ck_assert_msg(ends_with(out[0].file, "tests/unit/report_symbolize.c"), "%s", out[0].file);
    ck_assert_str_eq(out[1].function, "outer_fn");
    ck_assert_uint_eq(out[1].line, inner_call_line);
    ck_assert_msg(out[1].file && out[1].file[0] == '/' && ends_with(out[1].file, "tests/unit/report_symbolize.c"),
                  "%s", out[1].file);
    ck_assert_uint_eq(out[1].offset, out[0].offset);
    ck_assert_str_eq(out[1].module, out[0].module);
    /* A cap keeps the innermost. */
    ck_assert_uint_eq(lwr_symbolize_all(sym, d, a, out, 1), 1);
    ck_assert_str_eq(out[0].function, "inner_step");

    /* In a report, the one dump frame becomes two frames with the same address. */
    lwr_report_t *r = lwr_report_build(&d, 1, sym);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->sites[0].nframes, 2);
    ck_assert_str_eq(r->sites[0].frames[1].function, "outer_fn");
    ck_assert_uint_eq(r->sites[0].frames[1].address, a);
    lwr_report_free(r);
    lwr_symbolizer_free(sym);
    lwr_dump_free(d);
}
END_TEST

START_TEST(report_of_this_process_is_symbolized)
{
    unsigned long long frames[2] = { target_address(), target_address() + 2 };
    lwr_dump_t *d = self_dump(exe_path(), NULL, frames, 2);
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    lwr_report_t *r = lwr_report_build(&d, 1, sym);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 1);
    ck_assert_str_eq(r->sites[0].frames[0].function, "lwr_test_target");
    ck_assert_str_eq(r->sites[0].frames[1].function, "lwr_test_target");
    ck_assert_uint_eq(r->sites[0].frames[0].address, frames[0]);
    lwr_report_free(r);
    lwr_symbolizer_free(sym);
    lwr_dump_free(d);
}
END_TEST

START_TEST(wrong_build_id_gives_module_and_offset_only)
{
    unsigned long long a = target_address();
    lwr_dump_t *d = self_dump(exe_path(), "00112233445566778899aabbccddeeff00112233", &a, 1);
    lwr_symbolizer_t *sym = lwr_symbolizer_new("/nonexistent-debug-root");
    lwr_symbol_t out;
    lwr_symbolize(sym, d, a, &out);
    ck_assert_ptr_null(out.function);
    ck_assert_ptr_null(out.file);
    ck_assert_uint_eq(out.line, 0);
    ck_assert_str_eq(out.module, exe_path());
    ck_assert_uint_eq(out.offset, a - d->modules[0].bias);
    lwr_symbolizer_free(sym);
    lwr_dump_free(d);
}
END_TEST

/* Symbolizes the target through the debug file under root of a module whose object is gone, with
 * LEAKWATCH_DEBUG_CACHE at cache, and checks the answer. */
static void symbolize_through(const char *root, const char *cache)
{
    setenv("LEAKWATCH_DEBUG_CACHE", cache, 1);
    unsigned long long a = target_address();
    lwr_dump_t *d = self_dump("/nonexistent/bin/app", NULL, &a, 1);
    lwr_symbolizer_t *sym = lwr_symbolizer_new(root);
    lwr_symbol_t out;
    lwr_symbolize(sym, d, a, &out);
    ck_assert_ptr_nonnull(out.function);
    ck_assert_str_eq(out.function, "lwr_test_target");
    ck_assert_msg(out.line == target_line || out.line == target_line + 1, "line %u, expected %u or %u", out.line,
                  target_line, target_line + 1);
    ck_assert_ptr_nonnull(out.file);
    ck_assert(ends_with(out.file, "report_symbolize.c"));
    ck_assert_str_eq(out.module, "/nonexistent/bin/app");
    lwr_symbolizer_free(sym);
    lwr_dump_free(d);
    unsetenv("LEAKWATCH_DEBUG_CACHE");
}

START_TEST(debug_file_is_found_by_build_id)
{
    /* The module's path does not exist; <root>/.build-id/xx/rest.debug (here a link to this executable) does. */
    self_t self;
    memset(&self, 0, sizeof self);
    dl_iterate_phdr(find_self, &self);
    char root[] = "/tmp/lwr_debug_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    char bid[256], dir[300], file[600];
    snprintf(bid, sizeof bid, "%s/.build-id", root);
    ck_assert_int_eq(mkdir(bid, 0700), 0);
    snprintf(dir, sizeof dir, "%s/%.2s", bid, self.build_id);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(file, sizeof file, "%s/%s.debug", dir, self.build_id + 2);
    ck_assert_int_eq(symlink(exe_path(), file), 0);
    symbolize_through(root, "none");
    unlink(file);
    rmdir(dir);
    rmdir(bid);
    rmdir(root);
}
END_TEST

/* Whether the ELF file at path has a compressed section. */
static int compressed_sections(const char *path)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    ck_assert_ptr_nonnull(elf);
    int n = 0;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr sh;
        n += gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED);
    }
    elf_end(elf);
    close(fd);
    return n;
}

/* A debug file with compressed sections (as distributions ship them) is read through a decompressed copy kept
 * by build-id in the cache directory: written once, private, replaced when it is not a whole copy, never
 * written through a link, and not made at all with LEAKWATCH_DEBUG_CACHE=none. */
START_TEST(compressed_debug_file_is_cached_decompressed)
{
    self_t self;
    memset(&self, 0, sizeof self);
    dl_iterate_phdr(find_self, &self);
    char root[] = "/tmp/lwr_debug_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    char dir[300], file[600], cmd[2048], cache[400], entry[700], other[400], link[400];
    snprintf(dir, sizeof dir, "%s/.build-id/%.2s", root, self.build_id);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(file, sizeof file, "%s/%s.debug", dir, self.build_id + 2);
    snprintf(cmd, sizeof cmd, "objcopy --only-keep-debug --compress-debug-sections=zlib %s %s", exe_path(), file);
    ck_assert_msg(system(cmd) == 0, "objcopy (binutils) is needed: %s", cmd);
    ck_assert_int_gt(compressed_sections(file), 0);

    snprintf(cache, sizeof cache, "%s/cache", root);
    snprintf(entry, sizeof entry, "%s/%s.debug", cache, self.build_id);
    symbolize_through(root, cache);
    struct stat st;
    ck_assert_int_eq(stat(cache, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(stat(entry, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(compressed_sections(entry), 0);

    /* read again from the copy; a file there that is no whole copy (cut short, or no ELF file) is replaced */
    off_t whole = st.st_size;
    symbolize_through(root, cache);
    ck_assert_int_eq(truncate(entry, whole / 2), 0);
    symbolize_through(root, cache);
    ck_assert_int_eq(stat(entry, &st), 0);
    ck_assert_int_eq(st.st_size, whole);
    FILE *f = fopen(entry, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not an ELF file\n", f);
    fclose(f);
    symbolize_through(root, cache);
    ck_assert_int_eq(stat(entry, &st), 0);
    ck_assert_int_eq(st.st_size, whole);
    ck_assert_int_eq(compressed_sections(entry), 0);

    /* a cache directory whose parent is missing too (a fresh $HOME's .cache) is made, both 0700 */
    char fresh[420], fresh_entry[800];
    snprintf(fresh, sizeof fresh, "%s/home/.cache/leakwatch", root);
    snprintf(cmd, sizeof cmd, "mkdir %s/home", root);
    ck_assert_int_eq(system(cmd), 0);
    symbolize_through(root, fresh);
    snprintf(fresh_entry, sizeof fresh_entry, "%s/%s.debug", fresh, self.build_id);
    ck_assert_int_eq(stat(fresh_entry, &st), 0);
    ck_assert_int_eq(stat(fresh, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);

    /* a cache directory that is a link is not used */
    snprintf(other, sizeof other, "%s/other", root);
    snprintf(link, sizeof link, "%s/link", root);
    ck_assert_int_eq(mkdir(other, 0700), 0);
    ck_assert_int_eq(symlink(other, link), 0);
    symbolize_through(root, link);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", other);
    ck_assert_msg(system(cmd) == 0, "nothing written through the link");

    /* none: no cache */
    symbolize_through(root, "none");
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(paths_are_joined_and_cleaned)
{
    static const char *const cases[][3] = {
        { "/b/glibc/csu", "../sysdeps/x.h", "/b/glibc/sysdeps/x.h" },
        { "/src", "./a//b.c", "/src/a/b.c" },
        { "/", "../../x.c", "/x.c" },
        { "/a/b/", "c/../d.c", "/a/b/d.c" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = lwr_path_join(cases[i][0], cases[i][1]);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p, cases[i][2]);
        free(p);
    }
}
END_TEST

START_TEST(cxx_names_are_demangled_when_libstdcxx_is_there)
{
    ck_assert_ptr_null(lwr_demangle("main"));
    ck_assert_ptr_null(lwr_demangle("_Zgarbage("));
    char *d = lwr_demangle("_ZN2ns1T4makeEi");
    if (access("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", F_OK) == 0 || access("/lib64/libstdc++.so.6", F_OK) == 0) {
        ck_assert_ptr_nonnull(d);
        ck_assert_str_eq(d, "ns::T::make(int)");
    }
    free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_symbolize");
    TCase *tc = tcase_create("symbolize");
    tcase_add_test(tc, static_function_is_found_by_name_file_and_line);
    tcase_add_test(tc, inlined_calls_give_one_frame_per_level);
    tcase_add_test(tc, report_of_this_process_is_symbolized);
    tcase_add_test(tc, wrong_build_id_gives_module_and_offset_only);
    tcase_add_test(tc, debug_file_is_found_by_build_id);
    tcase_add_test(tc, compressed_debug_file_is_cached_decompressed);
    tcase_add_test(tc, paths_are_joined_and_cleaned);
    tcase_add_test(tc, cxx_names_are_demangled_when_libstdcxx_is_there);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The files the injected library writes in a shared directory, and what its dump says when memory ran out: by
 * hand in a sticky $TMPDIR, links and files planted by another user are neither followed nor written, the dump
 * is 0600 in a private 0700 directory, no temporary file is left by a process killed while it writes its exit
 * dump, and a process that exhausted its address space says what it lost. */
#include "lwtest.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534

/* A fresh sticky, world-writable directory like /tmp. */
static char *sticky_dir(void)
{
    char *d = lwt_mkdtemp();
    ck_assert_int_eq(chmod(d, 01777), 0);
    return d;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    ck_assert_int_eq(lwt_write_file(path, text), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* The whole content of a small file, or "" (static buffer). */
static const char *slurp(const char *path)
{
    static char buf[4096];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

/* Fails when any name under dir (one level of subdirectories) ends in ".tmp", except the `allowed` ones. */
static void assert_no_tmp(const char *dir, const char *const *allowed)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = strlen(e->d_name);
        int ok = 1;
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            ok = 0;
            for (const char *const *a = allowed; a && *a; a++)
                if (strcmp(*a, path) == 0)
                    ok = 1;
        }
        ck_assert_msg(ok, "a temporary file was left behind: %s", path);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            assert_no_tmp(path, allowed);
    }
    closedir(d);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void assert_owned(const char *path, mode_t type, mode_t perm, uid_t uid)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
    ck_assert_msg((st.st_mode & S_IFMT) == type, "%s: not of the expected type", path);
    ck_assert_msg((st.st_mode & 07777) == perm, "%s: mode %o, expected %o", path, st.st_mode & 07777, perm);
    ck_assert_msg(st.st_uid == uid, "%s: owner %u, expected %u", path, (unsigned)st.st_uid, (unsigned)uid);
}

/* Runs `script` with sh, the fixture gate_leaker leaking 3 blocks under LD_PRELOAD by hand (the script execs it
 * as "$LW_RUN"), TMPDIR set to tmp. The script sees the shell's pid, which the fixture keeps, as $$. */
static lwt_result_t *by_hand_in(const char *tmp, const char *script)
{
    char *full;
    ck_assert_int_ge(asprintf(&full, "%s\necho pid=$$\nLD_PRELOAD=\"$LW_LIB\" exec \"$LW_FIX\" 3 0", script), 0);
    char tmpdir[PATH_MAX + 8], lib[PATH_MAX + 8], fix[PATH_MAX + 8];
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", tmp);
    snprintf(lib, sizeof lib, "LW_LIB=%s", lwt_lib());
    snprintf(fix, sizeof fix, "LW_FIX=%s", lwt_fixture("gate_leaker"));
    const char *env[] = { tmpdir, lib, fix, NULL };
    lwt_opts_t opts = { .env = env, .timeout_s = 60 };
    lwt_result_t *r = lwt_exec(LWT_ARGV("sh", "-c", full), &opts);
    free(full);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    return r;
}

/* Another user's links at the names the library used to write (the temporary and the final dump name) and a
 * leftover link in the private directory: the file they point to stays as it was, and the dump goes elsewhere. */
START_TEST(test_planted_links_are_not_followed)
{
    LWT_REQUIRE_BUILT();
    char *tmp = sticky_dir(), *safe = lwt_mkdtemp();
    char target[PATH_MAX], priv[PATH_MAX], script[5 * PATH_MAX];
    snprintf(target, sizeof target, "%s/root-owned", safe);
    write_text(target, "precious\n", 0644);
    snprintf(priv, sizeof priv, "%s/leakwatch-%u", tmp, (unsigned)geteuid());
    /* the private directory exists already (an earlier run) with a link where the next dump would go */
    ck_assert_int_eq(mkdir(priv, 0700), 0);
    snprintf(script, sizeof script,
             "ln -s '%s' \"$TMPDIR/.leakwatch.$$.1.json.tmp\" && ln -s '%s' \"$TMPDIR/leakwatch.$$.1.json\" && "
             "ln -s '%s' '%s'/leakwatch.$$.1.json || exit 9",
             target, target, target, priv);
    lwt_result_t *r = by_hand_in(tmp, script);
    long long pid = lwt_out_value(r, "pid", -1);
    ck_assert_int_gt(pid, 0);

    ck_assert_str_eq(slurp(target), "precious\n");
    assert_owned(target, S_IFREG, 0644, geteuid());
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/.leakwatch.%lld.1.json.tmp", tmp, pid);
    assert_owned(p, S_IFLNK, 0777, geteuid());
    snprintf(p, sizeof p, "%s/leakwatch.%lld.1.json", tmp, pid);
    assert_owned(p, S_IFLNK, 0777, geteuid());
    snprintf(p, sizeof p, "%s/leakwatch.%lld.1.json", priv, pid);
    assert_owned(p, S_IFLNK, 0777, geteuid());
    /* the dump took the next number, in the private directory, and the report was printed from it */
    snprintf(p, sizeof p, "%s/leakwatch.%lld.2.json", priv, pid);
    assert_owned(p, S_IFREG, 0600, geteuid());
    assert_owned(priv, S_IFDIR, 0700, geteuid());
    ck_assert_msg(strstr(r->err, "leakwatch: 3 leaks") != NULL, "%s", lwt_describe(r));
    ck_assert_int_eq(count_entries(tmp), 3);
    ck_assert_int_eq(count_entries(priv), 2);
    char planted[PATH_MAX + 64];
    snprintf(planted, sizeof planted, "%s/.leakwatch.%lld.1.json.tmp", tmp, pid);
    const char *allowed[] = { planted, NULL };
    assert_no_tmp(tmp, allowed);
    lwt_free(r);
    lwt_rmtree(tmp);
    lwt_rmtree(safe);
}
END_TEST

/* Files of another user, 0666, at the names the library used to write: neither is written, read or renamed. */
START_TEST(test_planted_files_are_not_written)
{
    LWT_REQUIRE_BUILT();
    if (geteuid() != 0) {
        fprintf(stderr, "test_planted_files_are_not_written: needs root to plant files of another user; skipped\n");
        return;
    }
    char *tmp = sticky_dir();
    char script[2 * PATH_MAX];
    snprintf(script, sizeof script,
             "for f in \"$TMPDIR/.leakwatch.$$.1.json.tmp\" \"$TMPDIR/leakwatch.$$.1.json\"; do "
             "echo planted > \"$f\" && chmod 0666 \"$f\" && chown %d:%d \"$f\" || exit 9; done",
             NOBODY, NOBODY);
    lwt_result_t *r = by_hand_in(tmp, script);
    long long pid = lwt_out_value(r, "pid", -1);
    ck_assert_int_gt(pid, 0);
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/.leakwatch.%lld.1.json.tmp", tmp, pid);
    ck_assert_str_eq(slurp(p), "planted\n");
    assert_owned(p, S_IFREG, 0666, NOBODY);
    snprintf(p, sizeof p, "%s/leakwatch.%lld.1.json", tmp, pid);
    ck_assert_str_eq(slurp(p), "planted\n");
    assert_owned(p, S_IFREG, 0666, NOBODY);
    /* the private directory was made for this run: 0700, root's; the dump in it is 0600 */
    snprintf(p, sizeof p, "%s/leakwatch-0", tmp);
    assert_owned(p, S_IFDIR, 0700, 0);
    snprintf(p, sizeof p, "%s/leakwatch-0/leakwatch.%lld.1.json", tmp, pid);
    assert_owned(p, S_IFREG, 0600, 0);
    ck_assert_msg(strstr(r->err, "leakwatch: 3 leaks") != NULL, "%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(tmp);
}
END_TEST

/* The private directory made first by someone else (a link to a directory they chose, or their own directory):
 * refused with a warning that names it, nothing written, the program's exit status its own. */
START_TEST(test_private_dir_made_by_another_user_is_refused)
{
    LWT_REQUIRE_BUILT();
    char *tmp = sticky_dir(), *theirs = lwt_mkdtemp();
    ck_assert_int_eq(chmod(theirs, 0777), 0);
    char priv[PATH_MAX];
    snprintf(priv, sizeof priv, "%s/leakwatch-%u", tmp, (unsigned)geteuid());
    ck_assert_int_eq(symlink(theirs, priv), 0);
    lwt_result_t *r = by_hand_in(tmp, ":");
    ck_assert_msg(strstr(r->err, "is a symbolic link or not a directory; no dump is written there") != NULL, "%s",
                  lwt_describe(r));
    ck_assert_int_eq(count_entries(theirs), 0);
    lwt_free(r);

    if (geteuid() == 0) {
        ck_assert_int_eq(unlink(priv), 0);
        ck_assert_int_eq(mkdir(priv, 0700), 0);
        ck_assert_int_eq(chown(priv, NOBODY, NOBODY), 0);
        r = by_hand_in(tmp, ":");
        ck_assert_msg(strstr(r->err, "belongs to uid 65534 and has mode 0700, not uid 0 and mode 0700") != NULL, "%s",
                      lwt_describe(r));
        ck_assert_int_eq(count_entries(priv), 0);
        lwt_free(r);
    }
    lwt_rmtree(tmp);
    lwt_rmtree(theirs);
}
END_TEST

/* The descriptor of pid that refers to something under dir, or -1. */
static int fd_under(pid_t pid, const char *dir)
{
    char fddir[64];
    snprintf(fddir, sizeof fddir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(fddir);
    if (!d)
        return -1;
    int found = -1;
    struct dirent *e;
    size_t dl = strlen(dir);
    while (found < 0 && (e = readdir(d))) {
        char link[384], target[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", fddir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strncmp(target, dir, dl) == 0 && target[dl] == '/')
            found = atoi(e->d_name);
    }
    closedir(d);
    return found;
}

/* A process killed by SIGKILL while it writes its exit dump leaves no file behind: the file being written has no
 * name until it is complete. The kill comes once the process holds a descriptor of a file in the dump directory. */
START_TEST(test_killed_during_exit_dump_leaves_nothing)
{
    LWT_REQUIRE_BUILT();
    char *tmp = sticky_dir();
    char real[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(tmp, real));
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        setenv("LD_PRELOAD", lwt_lib(), 1);
        setenv("TMPDIR", tmp, 1);
        unsetenv("LEAKWATCH_DUMP_DIR");
        unsetenv("LEAKWATCH_REPORT");
        execl(lwt_fixture("many_live"), "many_live", "2000000", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_gt(pid, 0);
    close(out[1]);
    /* the fixture says when it holds its blocks: from then on only the exit remains */
    char line[64];
    ssize_t n = read(out[0], line, sizeof line - 1);
    ck_assert_int_gt(n, 0);
    close(out[0]);
    int fd = -1;
    time_t deadline = time(NULL) + 120;
    int st = 0;
    while (fd < 0 && time(NULL) < deadline) {
        fd = fd_under(pid, real);
        if (fd < 0 && waitpid(pid, &st, WNOHANG) == pid)
            break;
        if (fd < 0)
            nanosleep(&(struct timespec){ 0, 1000000 }, NULL); /* a poll, not a wait for time to pass */
    }
    ck_assert_msg(fd >= 0, "the process never held a file of %s (status %d)", real, st);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the exit dump ended before the kill (status %d)", st);
    /* nothing at all: only the private directory, empty */
    char priv[PATH_MAX + 32];
    snprintf(priv, sizeof priv, "%s/leakwatch-%u", tmp, (unsigned)geteuid());
    assert_no_tmp(tmp, NULL);
    ck_assert_int_eq(count_entries(tmp), 1);
    ck_assert_int_eq(count_entries(priv), 0);
    lwt_rmtree(tmp);
}
END_TEST

/* The program exhausts its address space (64 MiB above its start) and frees everything but 10 blocks: its dump
 * either says what the tracker lost or has the exact totals. */
START_TEST(test_address_space_exhausted)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("mem_pressure")), NULL);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_int_eq(lwt_out_value(r, "exhausted", 0), 1);
    char dumps[PATH_MAX];
    snprintf(dumps, sizeof dumps, "%s/dumps", r->tmpdir);
    DIR *d = opendir(dumps);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char path[2 * PATH_MAX];
    int ndumps = 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "leakwatch.", 10) == 0) {
            snprintf(path, sizeof path, "%s/%s", dumps, e->d_name);
            ndumps++;
        }
    closedir(d);
    ck_assert_int_eq(ndumps, 1);
    json_error_t jerr;
    json_t *dump = json_load_file(path, 0, &jerr);
    ck_assert_msg(dump != NULL, "%s:%d: %s", path, jerr.line, jerr.text);
    json_t *lost = json_object_get(dump, "lost");
    ck_assert(json_is_object(lost));
    long long records = lwt_int(lost, "records"), sites = lwt_int(lost, "sites");
    json_t *heap = json_object_get(json_object_get(dump, "totals"), "heap");
    long long count = lwt_int(heap, "count"), bytes = lwt_int(heap, "bytes");
    ck_assert_int_ge(records, 0);
    ck_assert_int_ge(sites, 0);
    fprintf(stderr, "mem_pressure: allocated %lld blocks; lost records %lld, sites %lld; heap %lld blocks, %lld bytes\n",
            lwt_out_value(r, "allocated", -1), records, sites, count, bytes);
    ck_assert_msg(records > 0 || (count == 10 && bytes == 1000),
                  "nothing lost, yet the totals are %lld blocks of %lld bytes, not 10 of 1000", count, bytes);
    json_decref(dump);
    lwt_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dump files");
    TCase *tc = tcase_create("shared directories and lost memory");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_planted_links_are_not_followed);
    tcase_add_test(tc, test_planted_files_are_not_written);
    tcase_add_test(tc, test_private_dir_made_by_another_user_is_refused);
    tcase_add_test(tc, test_killed_during_exit_dump_leaves_nothing);
    tcase_add_test(tc, test_address_space_exhausted);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}

/* `leakwatch run` beyond the report: output paths checked early, kept dumps, per-process logs, --quiet and the
 * LSAN_OPTIONS it maps. */
#include "run_extras.h"

#include "escape.h"
#include "render.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- LSAN_OPTIONS ------------------------------------------------------------------------------------------ */

static void not_used(const char *name, const char *value, const char *why)
{
    fprintf(stderr, "leakwatch: LSAN_OPTIONS: %s=%s is not used by leakwatch%s%s\n", lwr_show(name), lwr_show(value),
            why ? ": " : "", why ? why : "");
}

/* One option; `seen` keeps each unmapped name from being named twice. */
static void lsan_option(lwr_lsan_t *l, const char *name, const char *value, char *seen, size_t seenlen)
{
    uint64_t n;
    if (strcmp(name, "suppressions") == 0 && value[0]) {
        l->suppressions = value;
    } else if (strcmp(name, "exitcode") == 0 && lwr_parse_uint(value, 255, &n) == 0) {
        l->has_exitcode = true;
        l->exitcode = (int)n;
    } else if (strcmp(name, "log_path") == 0 && value[0] && strcmp(value, "stdout") != 0) {
        l->log_path = strcmp(value, "stderr") == 0 ? NULL : value;
    } else if (strcmp(name, "detect_leaks") == 0 && (strcmp(value, "0") == 0 || strcmp(value, "false") == 0)) {
        l->no_detect = true;
    } else if (strcmp(name, "detect_leaks") == 0 && (strcmp(value, "1") == 0 || strcmp(value, "true") == 0)) {
        l->no_detect = false;
    } else if (strcmp(name, "report_objects") == 0 && (strcmp(value, "0") == 0 || strcmp(value, "1") == 0)) {
        /* leakwatch always lists sample addresses of each site: nothing to change */
    } else if (strcmp(name, "max_leaks") == 0 && lwr_parse_uint(value, UINT32_MAX, &n) == 0) {
        l->max_leaks = n;
    } else {
        /* `seen` is "\n" followed by "NAME\n" for each name said */
        char key[80];
        snprintf(key, sizeof key, "\n%.64s\n", name);
        if (strstr(seen, key))
            return;
        if (strlen(seen) + strlen(key) < seenlen)
            strcat(seen, key + 1);
        bool known = strcmp(name, "suppressions") == 0 || strcmp(name, "exitcode") == 0
                     || strcmp(name, "log_path") == 0 || strcmp(name, "detect_leaks") == 0
                     || strcmp(name, "report_objects") == 0 || strcmp(name, "max_leaks") == 0;
        not_used(name, value, known ? "a value leakwatch cannot use" : NULL);
    }
}

int lwr_lsan_parse(const char *text, lwr_lsan_t *l)
{
    memset(l, 0, sizeof *l);
    if (!text)
        return 0;
    if (!(l->buf = strdup(text)))
        return -1;
    char seen[1024] = "\n";
    for (char *p = l->buf; *p;) {
        p += strspn(p, ":, \t\r\n");
        if (!*p)
            break;
        char *name = p, *value = NULL;
        p += strcspn(p, "=:, \t\r\n");
        if (*p == '=') {
            *p++ = '\0';
            char q = *p == '\'' || *p == '"' ? *p : 0;
            value = q ? ++p : p;
            p = q ? strchr(p, q) : p + strcspn(p, ":, \t\r\n");
            if (!p)
                p = value + strlen(value);  /* an unclosed quote runs to the end */
        }
        char end = *p;
        *p = '\0';
        lsan_option(l, name, value ? value : "", seen, sizeof seen);
        if (end)
            p++;
    }
    return 0;
}

void lwr_lsan_free(lwr_lsan_t *l)
{
    free(l->buf);
    l->buf = NULL;
}

int lwr_lsan_add_suppressions(const lwr_lsan_t *l, lwr_ci_t *ci, const char *cmd)
{
    if (!l->suppressions)
        return 0;
    if (ci->nsupp_files == LWR_MAX_SUPP_FILES) {
        lwr_usage_error(cmd, "more than %d suppression files", LWR_MAX_SUPP_FILES);
        return -1;
    }
    memmove(&ci->supp_files[1], &ci->supp_files[0], ci->nsupp_files * sizeof ci->supp_files[0]);
    ci->supp_files[0] = l->suppressions;
    ci->nsupp_files++;
    return 0;
}

/* ---- output paths and directories --------------------------------------------------------------------------- */

int lwr_check_output(const char *opt, const char *path)
{
    struct stat st;
    int fd, err = 0;
    if (stat(path, &st) == 0) {
        /* never truncated here: the report replaces it only at the end */
        if (S_ISDIR(st.st_mode))
            err = EISDIR;
        else if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0)
            err = errno == ENXIO ? 0 : errno;   /* a FIFO without a reader yet is writable later */
        else
            close(fd);
    } else if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        err = errno;
    } else {
        close(fd);
        unlink(path);
    }
    if (err)
        fprintf(stderr, "leakwatch run: %s %s: %s (checked before running the command)\n", opt, lwr_show(path),
                strerror(err));
    return err;
}

int lwr_prepare_dir(const char *opt, const char *dir, char *out, size_t outlen)
{
    struct stat st;
    int err = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        err = errno;
    else if (stat(dir, &st) != 0)
        err = errno;
    else if (!S_ISDIR(st.st_mode))
        err = ENOTDIR;
    if (err) {
        fprintf(stderr, "leakwatch run: %s %s: %s\n", opt, lwr_show(dir), strerror(err));
        return err;
    }
    snprintf(out, outlen, "%s", dir);
    if (!(st.st_mode & S_ISVTX) || !(st.st_mode & (S_IWGRP | S_IWOTH))) {
        if (access(dir, W_OK | X_OK) == 0)
            return 0;
        err = errno;
        fprintf(stderr, "leakwatch run: %s %s: %s\n", opt, lwr_show(dir), strerror(err));
        return err;
    }
    /* shared like /tmp: a private directory of the user in it, which another user must not have made first */
    snprintf(out, outlen, "%s/leakwatch-%u", dir, (unsigned)geteuid());
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        err = errno;
    else if (lstat(out, &st) != 0)
        err = errno;
    else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0777) != 0700)
        err = EPERM;
    if (err)
        fprintf(stderr, "leakwatch run: %s: %s: %s\n", opt, lwr_show(out),
                err == EPERM ? "not a private directory of this user (mode 0700, not a link)" : strerror(err));
    return err;
}

/* Copies the file src into a new file dst (mode 0600, created exclusively, never through a link). Returns 0 or an
 * errno value (EEXIST when dst is taken); a part-written dst is removed. */
static int copy_new(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        int err = errno;
        close(in);
        return err;
    }
    int err = 0;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        for (ssize_t off = 0; off < n && !err;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w > 0)
                off += w;
            else if (w == 0)
                err = EIO;
            else if (errno != EINTR)
                err = errno;
        }
        if (err)
            break;
    }
    if (close(out) != 0 && !err)
        err = errno;
    close(in);
    if (err)
        unlink(dst);
    return err;
}

int lwr_keep_dump(const char *from, const char *name, const char *to, char *newpath, size_t len)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    long pid = 0, seq = 0;
    if (sscanf(base, "leakwatch.%ld.%ld.json", &pid, &seq) != 2)
        return EINVAL;
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s/%s", from, name);
    for (long k = 0; k < 10000; k++) {
        if (k == 0)
            snprintf(newpath, len, "%s/%s", to, base);
        else
            snprintf(newpath, len, "%s/leakwatch.%ld.%ld.json", to, pid, seq + k);
        /* RENAME_NOREPLACE where the filesystem has it; else a link, which never replaces either */
        if (renameat2(AT_FDCWD, src, AT_FDCWD, newpath, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EINVAL || errno == ENOSYS) {
            if (link(src, newpath) == 0)
                return unlink(src) == 0 ? 0 : errno;
        }
        if (errno == EXDEV) {
            int err = copy_new(src, newpath);
            if (err == 0)
                return unlink(src) == 0 ? 0 : errno;
            errno = err;
        }
        if (errno != EEXIST)
            return errno;
    }
    return EEXIST;
}

int lwr_closed_to_others(const char *path, char *closed, size_t len)
{
    char *real = realpath(path, NULL);
    if (!real)
        return -1;
    int r = 0;
    for (char *end = real;; end++) {
        if (*end != '/' && *end != '\0')
            continue;
        char c = *end;
        *end = '\0';
        struct stat st;
        if (stat(real[0] ? real : "/", &st) != 0 || !(st.st_mode & S_IXOTH)) {
            snprintf(closed, len, "%s", real[0] ? real : "/");
            r = 1;
        }
        *end = c;
        if (r || !c)
            break;
    }
    free(real);
    return r;
}

/* ---- per-process logs ---------------------------------------------------------------------------------------- */

/* Creates the log of process `pid` (see lwr_write_logs). Returns the stream, or NULL with the path in `path`. */
static FILE *open_log(const char *dir, const char *prefix, const char *exe, long pid, char *path, size_t len)
{
    char name[80] = "";
    if (!prefix) {
        const char *b = exe ? strrchr(exe, '/') : NULL;
        b = b ? b + 1 : exe ? exe : "";
        size_t n = 0;
        for (; b[n] && n < 48; n++)
            name[n] = (b[n] >= 'a' && b[n] <= 'z') || (b[n] >= 'A' && b[n] <= 'Z') || (b[n] >= '0' && b[n] <= '9')
                              || b[n] == '-' || b[n] == '_'
                          ? b[n]
                          : '_';
        name[n] = '\0';
        if (!n)
            snprintf(name, sizeof name, "process");
    }
    for (int k = 1; k < 1000; k++) {
        char tail[32] = "";
        if (k > 1)
            snprintf(tail, sizeof tail, ".%d", k);
        if (prefix)
            snprintf(path, len, "%s.%ld%s", prefix, pid, tail);
        else
            snprintf(path, len, "%s/%s.%ld%s.log", dir, name, pid, tail);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            FILE *f = fdopen(fd, "w");
            if (!f)
                close(fd);
            return f;
        }
        if (errno != EEXIST)
            return NULL;
    }
    return NULL;
}

int lwr_write_logs(const lwr_dumplist_t *dumps, lwr_symbolizer_t *sym, const lwr_ci_t *ci, const char *dir,
                   const char *prefix)
{
    int failed = 0;
    for (size_t i = 0, j; i < dumps->n; i = j) {
        for (j = i + 1; j < dumps->n && dumps->v[j]->pid == dumps->v[i]->pid;)
            j++;
        const lwr_dump_t *last = dumps->v[j - 1];
        lwr_report_t *rep = lwr_report_build(dumps->v + i, j - i, sym);
        char path[PATH_MAX + 128];
        FILE *f = NULL;
        if (!rep || lwr_ci_apply(rep, ci) != 0) {
            fprintf(stderr, "leakwatch: out of memory\n");
            failed = 1;
        } else if (!(f = open_log(dir, prefix, last->exe, last->pid, path, sizeof path))) {
            fprintf(stderr, "leakwatch: log of pid %ld: %s: %s\n", last->pid, lwr_show(path), strerror(errno));
            failed = 1;
        } else {
            failed |= lwr_output_close(f, path, path, lwr_render_text(f, rep));
        }
        lwr_report_free(rep);
    }
    return failed ? -1 : 0;
}

int lwr_lsan_report(const lwr_lsan_t *l, const lwr_report_t *rep)
{
    FILE *out = stdout;
    char path[PATH_MAX + 64] = "";
    if (l->log_path && !(out = open_log(NULL, l->log_path, NULL, rep->nprocesses ? rep->processes[0].pid : 0, path,
                                        sizeof path))) {
        fprintf(stderr, "leakwatch: LSAN_OPTIONS log_path: %s: %s\n", lwr_show(path), strerror(errno));
        return 1;
    }
    int rc = lwr_render_text_limited(out, rep, false, l->max_leaks);
    if (lwr_output_close(out, path[0] ? path : NULL, "the report", rc) != 0)
        return 1;
    return l->has_exitcode && lwr_report_count(rep, LWR_GATE_KINDS) > 0 ? l->exitcode : 0;
}

/* ---- --quiet and max_leaks --------------------------------------------------------------------------------- */

/* The text report in memory; NULL when out of memory or it could not be written. */
static char *render_to_memory(const lwr_report_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    int rc = lwr_render_text(m, r);
    if (fclose(m) != 0 || rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int lwr_render_text_limited(FILE *out, const lwr_report_t *r, bool quiet, uint64_t max_sites)
{
    size_t leak_sites = lwr_report_leak_sites(r);
    if (!quiet && (max_sites == 0 || leak_sites <= max_sites))
        return lwr_render_text(out, r);
    char *full = render_to_memory(r);
    if (!full)
        return -1;
    char *nl = strchr(full, '\n');
    size_t first = nl ? (size_t)(nl - full) + 1 : strlen(full);
    if (quiet) {
        /* generated suppressions were asked for (valgrind's -q keeps them too), before the summary as in the
         * whole report; then the summary lines the text report marks, else its headline */
        if (lwr_has_generated(r))
            lwr_render_generated(out, r);
        bool any = false;
        for (char *line = full; *line;) {
            char *end = strchr(line, '\n');
            size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
            if (strncmp(line, "SUMMARY:", 8) == 0) {
                fwrite(line, 1, n, out);
                any = true;
            }
            line += n;
        }
        if (!any)
            fwrite(full, 1, first, out);
        free(full);
        fflush(out);
        return ferror(out) ? -1 : 0;
    }
    /* the first line counts every site; the sites shown stop after max_sites leak sites */
    lwr_report_t shown = *r;
    shown.nsites = (size_t)max_sites;
    char *part = render_to_memory(&shown);
    if (!part) {
        free(full);
        return -1;
    }
    char *pnl = strchr(part, '\n');
    fwrite(full, 1, first, out);
    fputs(pnl ? pnl + 1 : "", out);
    fprintf(out, "leakwatch: %zu more %s not shown (LSAN_OPTIONS max_leaks=%" PRIu64 ")\n", leak_sites - shown.nsites,
            leak_sites - shown.nsites == 1 ? "site" : "sites", max_sites);
    free(full);
    free(part);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

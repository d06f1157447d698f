/* Shared helpers for the integration tests: process running with captured output and report JSON accessors. */
#include "lwtest.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LWT_DEFAULT_TIMEOUT_S 150

/* ---- small utilities ---------------------------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    if (f) {
        size_t got;
        while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
            n += got;
            if (cap - n < 2) {
                cap *= 2;
                buf = realloc(buf, cap);
                if (!buf)
                    abort();
            }
        }
        fclose(f);
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int lwt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int lwt_proc_stat(long pid, char *state, long *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *after = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    return after && sscanf(after + 1, " %c %ld", state, ppid) == 2 ? 0 : -1;
}

char *lwt_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = xprintf("%s/lwtest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl))
        abort();
    return tmpl;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void lwt_rmtree(const char *path)
{
    if (path && *path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- paths ---------------------------------------------------------------------------------------------------- */

const char *lwt_root(void)
{
    static const char *root;
    if (!root) {
        const char *e = getenv("LEAKWATCH_ROOT");
        root = xstrdup(e && *e ? e : ".");
    }
    return root;
}

const char *lwt_build(void)
{
    static const char *build;
    if (!build) {
        const char *e = getenv("LEAKWATCH_BUILD");
        build = e && *e ? xstrdup(e) : xprintf("%s/build", lwt_root());
    }
    return build;
}

const char *lwt_cli(void)
{
    static const char *cli;
    if (!cli)
        cli = xprintf("%s/bin/leakwatch", lwt_build());
    return cli;
}

const char *lwt_lib(void)
{
    static const char *lib;
    if (!lib)
        lib = xprintf("%s/lib/libleakwatch.so", lwt_build());
    return lib;
}

const char *lwt_fixture(const char *name)
{
    return xprintf("%s/tests/fixtures/%s", lwt_build(), name);
}

const char *lwt_which(const char *const *candidates)
{
    for (; *candidates; candidates++) {
        const char *c = *candidates;
        if (strchr(c, '/')) {
            if (access(c, X_OK) == 0)
                return c;
            continue;
        }
        const char *path = getenv("PATH");
        char *copy = xstrdup(path ? path : "/usr/bin:/bin"), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            char *full = xprintf("%s/%s", d, c);
            if (access(full, X_OK) == 0) {
                free(copy);
                return full;
            }
            free(full);
        }
        free(copy);
    }
    return NULL;
}

/* ---- running ---------------------------------------------------------------------------------------------------- */

static char *join_argv(const char *const *argv)
{
    size_t n = 1;
    for (const char *const *a = argv; *a; a++)
        n += strlen(*a) + 3;
    char *s = malloc(n), *p = s;
    if (!s)
        abort();
    *p = '\0';
    for (const char *const *a = argv; *a; a++) {
        p += sprintf(p, "%s%s", a == argv ? "" : " ", *a);
    }
    return s;
}

/* The inherited environment with `extra` entries added or replacing same-named ones. */
static char **merged_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    if (extra)
        while (extra[m])
            m++;
    char **env = calloc(n + m + 1, sizeof *env);
    size_t k = 0;
    if (!env)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int replaced = 0;
        for (size_t j = 0; j < m && !replaced; j++)
            replaced = strncmp(extra[j], environ[i], len) == 0 && extra[j][len] == '=';
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = (char *)extra[j];
    env[k] = NULL;
    return env;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv with its output in r->tmpdir/stdout and stderr; fills the status members of r. */
static void run_into(lwt_result_t *r, const char *const *argv, const lwt_opts_t *opts, const char *const *extra_env)
{
    lwt_opts_t none = { 0 };
    if (!opts)
        opts = &none;
    char *outp = xprintf("%s/stdout", r->tmpdir), *errp = xprintf("%s/stderr", r->tmpdir);
    char *inp = NULL;
    if (opts->stdin_text) {
        inp = xprintf("%s/stdin", r->tmpdir);
        if (lwt_write_file(inp, opts->stdin_text) != 0)
            abort();
    }
    /* Environment: the caller's extras win over ours, ours over the inherited ones. */
    size_t ne = 0, nx = 0;
    while (extra_env && extra_env[ne])
        ne++;
    while (opts->env && opts->env[nx])
        nx++;
    const char **all = calloc(ne + nx + 1, sizeof *all);
    size_t k = 0;
    if (!all)
        abort();
    for (size_t i = 0; i < ne; i++) {
        int shadowed = 0;
        size_t len = strcspn(extra_env[i], "=");
        for (size_t j = 0; j < nx; j++)
            shadowed |= strncmp(opts->env[j], extra_env[i], len) == 0 && opts->env[j][len] == '=';
        if (!shadowed)
            all[k++] = extra_env[i];
    }
    for (size_t j = 0; j < nx; j++)
        all[k++] = opts->env[j];
    all[k] = NULL;
    char **env = merged_env(all);

    int broken[2] = { -1, -1 };
    if (opts->broken_stderr) {
        if (pipe(broken) != 0)
            abort();
        close(broken[0]);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        setpgid(0, 0);
        int in = open(inp ? inp : "/dev/null", O_RDONLY);
        int out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = opts->broken_stderr ? broken[1] : open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (in > 2)
            close(in);
        if (out > 2)
            close(out);
        if (err > 2)
            close(err);
        if (opts->cwd && chdir(opts->cwd) != 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execvpe(argv[0], (char *const *)argv, env);
        dprintf(2, "lwtest: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    if (opts->broken_stderr)
        close(broken[1]);
    int timeout = opts->timeout_s > 0 ? opts->timeout_s : LWT_DEFAULT_TIMEOUT_S;
    double deadline = now_s() + timeout;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            abort();
        if (now_s() > deadline) {
            r->timed_out = 1;
            killpg(pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    /* Whatever the command left behind in its process group goes too. */
    killpg(pid, SIGKILL);

    r->exited = WIFEXITED(status);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->term_sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r->out = read_all(outp, &r->out_len);
    r->err = read_all(errp, &r->err_len);
    free(env);
    free(all);
    free(outp);
    free(errp);
    free(inp);
}

static lwt_result_t *new_result(const char *const *argv)
{
    lwt_result_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->tmpdir = lwt_mkdtemp();
    r->desc = join_argv(argv);
    r->exit_code = -1;
    return r;
}

lwt_result_t *lwt_exec(const char *const *argv, const lwt_opts_t *opts)
{
    lwt_result_t *r = new_result(argv);
    run_into(r, argv, opts, NULL);
    return r;
}

lwt_result_t *lwt_exec_preload(const char *const *argv, const lwt_opts_t *opts)
{
    lwt_result_t *r = new_result(argv);
    char *dumps = xprintf("%s/dumps", r->tmpdir);
    mkdir(dumps, 0755);
    char *pre = xprintf("LD_PRELOAD=%s", lwt_lib());
    char *dir = xprintf("LEAKWATCH_DUMP_DIR=%s", dumps);
    const char *extra[] = { pre, dir, "LEAKWATCH_REPORT=none", NULL };
    char *d = r->desc;
    r->desc = xprintf("LD_PRELOAD=%s LEAKWATCH_REPORT=none %s", lwt_lib(), d);
    free(d);
    run_into(r, argv, opts, extra);
    free(pre);
    free(dir);
    free(dumps);
    return r;
}

lwt_result_t *lwt_leakwatch(const char *const *lw_args, const char *const *cmd, const lwt_opts_t *opts)
{
    size_t na = 0, nc = 0;
    while (lw_args && lw_args[na])
        na++;
    while (cmd[nc])
        nc++;
    const char **argv = calloc(na + nc + 6, sizeof *argv);
    if (!argv)
        abort();
    size_t k = 0;
    argv[k++] = lwt_cli();
    argv[k++] = "run";
    argv[k++] = "--json";
    size_t json_slot = k++;
    for (size_t i = 0; i < na; i++)
        argv[k++] = lw_args[i];
    argv[k++] = "--";
    for (size_t i = 0; i < nc; i++)
        argv[k++] = cmd[i];
    argv[k] = NULL;

    argv[json_slot] = "REPORT";
    lwt_result_t *r = new_result(argv);
    char *json = xprintf("%s/report.json", r->tmpdir);
    argv[json_slot] = json;
    run_into(r, argv, opts, NULL);

    struct stat st;
    if (stat(json, &st) != 0) {
        r->report_error = xprintf("no report file was written (%s)", strerror(errno));
    } else {
        json_error_t jerr;
        r->report = json_load_file(json, 0, &jerr);
        if (!r->report)
            r->report_error = xprintf("report is not JSON: %s at line %d", jerr.text, jerr.line);
        else if (!json_is_object(r->report))
            r->report_error = xprintf("report is not a JSON object");
    }
    free(json);
    free(argv);
    return r;
}

void lwt_free(lwt_result_t *r)
{
    if (!r)
        return;
    lwt_rmtree(r->tmpdir);
    free(r->tmpdir);
    free(r->out);
    free(r->err);
    free(r->desc);
    free(r->report_error);
    json_decref(r->report);
    free(r);
}

/* ---- description for failure messages ------------------------------------------------------------------------ */

static void appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

const char *lwt_describe(const lwt_result_t *r)
{
    static char buf[7000];
    buf[0] = '\0';
    appendf(buf, sizeof buf, "\n  command: %.400s\n  status: exited=%d code=%d signal=%d timed_out=%d\n",
            r->desc, r->exited, r->exit_code, r->term_sig, r->timed_out);
    appendf(buf, sizeof buf, "  stderr: %.1200s%s\n", r->err, r->err_len > 1200 ? "..." : "");
    appendf(buf, sizeof buf, "  stdout: %.600s%s\n", r->out, r->out_len > 600 ? "..." : "");
    if (r->report_error)
        appendf(buf, sizeof buf, "  report: %s\n", r->report_error);
    if (!r->report)
        return buf;
    appendf(buf, sizeof buf, "  totals heap=%lld/%lldB all=%lld, %lld processes\n",
            lwt_total_count(r->report, "heap"), lwt_total_bytes(r->report, "heap"),
            lwt_total_count(r->report, NULL), lwt_process_count(r->report));
    json_t *sites = json_object_get(r->report, "sites");
    size_t i;
    json_t *site;
    json_array_foreach(sites, i, site) {
        if (i >= 30) {
            appendf(buf, sizeof buf, "  ... %zu sites in all\n", json_array_size(sites));
            break;
        }
        appendf(buf, sizeof buf, "  site %zu: %s count=%lld bytes=%lld:", i,
                json_string_value(json_object_get(site, "kind")), lwt_site_count(site), lwt_site_bytes(site));
        json_t *frames = json_object_get(site, "frames"), *fr;
        size_t j;
        json_array_foreach(frames, j, fr) {
            if (j >= 5)
                break;
            const char *fn = json_string_value(json_object_get(fr, "function"));
            appendf(buf, sizeof buf, " %s:%lld", fn ? fn : "?", lwt_int(fr, "line"));
        }
        appendf(buf, sizeof buf, "\n");
    }
    return buf;
}

int lwt_same_outcome(const lwt_result_t *a, const lwt_result_t *b)
{
    return a->exited == b->exited && a->exit_code == b->exit_code && a->term_sig == b->term_sig &&
           !a->timed_out && !b->timed_out && a->out_len == b->out_len && memcmp(a->out, b->out, a->out_len) == 0;
}

long long lwt_out_value(const lwt_result_t *r, const char *name, long long dflt)
{
    size_t n = strlen(name);
    for (const char *p = r->out; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == r->out || p[-1] == '\n' || p[-1] == ' ') && p[n] == '=')
            return strtoll(p + n + 1, NULL, 10);
    }
    return dflt;
}

/* ---- report accessors ----------------------------------------------------------------------------------------- */

long long lwt_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static const char *const kinds[] = { "heap", "fd", "socket", "thread", "timer" };

static long long total_of(json_t *report, const char *kind, const char *what)
{
    json_t *totals = json_object_get(report, "totals");
    if (!json_is_object(totals))
        return -1;
    if (kind)
        return lwt_int(json_object_get(totals, kind), what);
    long long sum = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        long long v = lwt_int(json_object_get(totals, kinds[i]), what);
        if (v < 0)
            return -1;
        sum += v;
    }
    return sum;
}

long long lwt_total_count(json_t *report, const char *kind)
{
    return total_of(report, kind, "count");
}

long long lwt_total_bytes(json_t *report, const char *kind)
{
    return total_of(report, kind, "bytes");
}

/* Whether the site is a leak (not `class: reachable`) of `kind` (NULL: any). The site helpers below look at leaks
 * only; tests of reachable sites read the report's sites themselves. */
static int kind_matches(json_t *site, const char *kind)
{
    const char *k = json_string_value(json_object_get(site, "kind"));
    const char *cls = json_string_value(json_object_get(site, "class"));
    if (cls && strcmp(cls, "reachable") == 0)
        return 0;
    return !kind || (k && strcmp(k, kind) == 0);
}

long long lwt_site_total(json_t *report, const char *kind)
{
    json_t *sites = json_object_get(report, "sites"), *site;
    size_t i;
    long long n = 0;
    if (!json_is_array(sites))
        return -1;
    json_array_foreach(sites, i, site) n += kind_matches(site, kind);
    return n;
}

long long lwt_process_count(json_t *report)
{
    json_t *p = json_object_get(report, "processes");
    return json_is_array(p) ? (long long)json_array_size(p) : -1;
}

json_t *lwt_process(json_t *report, long long pid)
{
    json_t *procs = json_object_get(report, "processes"), *p;
    size_t i;
    json_array_foreach(procs, i, p) {
        if (lwt_int(p, "pid") == pid)
            return p;
    }
    return NULL;
}

json_t *lwt_site_frame(json_t *site, const char *func)
{
    json_t *frames = json_object_get(site, "frames"), *fr;
    size_t i;
    json_array_foreach(frames, i, fr) {
        const char *fn = json_string_value(json_object_get(fr, "function"));
        if (fn && strcmp(fn, func) == 0)
            return fr;
    }
    return NULL;
}

static int file_matches(const char *have, const char *want)
{
    if (!have)
        return 0;
    size_t lh = strlen(have), lw = strlen(want);
    if (lh == lw)
        return strcmp(have, want) == 0;
    return lh > lw && have[lh - lw - 1] == '/' && strcmp(have + lh - lw, want) == 0;
}

/* Whether some frame of `site` is function `func` in `file` (when given) at `line` (when > 0). */
static int site_matches(json_t *site, const char *func, const char *file, int line)
{
    json_t *frames = json_object_get(site, "frames"), *fr;
    size_t i;
    json_array_foreach(frames, i, fr) {
        const char *fn = json_string_value(json_object_get(fr, "function"));
        if (!fn || strcmp(fn, func) != 0)
            continue;
        if (file && !file_matches(json_string_value(json_object_get(fr, "file")), file))
            continue;
        if (line > 0 && lwt_int(fr, "line") != line)
            continue;
        return 1;
    }
    return 0;
}

json_t *lwt_find_site(json_t *report, const char *kind, const char *func, const char *file, int line, int index)
{
    json_t *sites = json_object_get(report, "sites"), *site;
    size_t i;
    json_array_foreach(sites, i, site) {
        if (kind_matches(site, kind) && site_matches(site, func, file, line) && index-- == 0)
            return site;
    }
    return NULL;
}

int lwt_match_sites(json_t *report, const char *kind, const char *func, long long *count, long long *bytes)
{
    json_t *sites = json_object_get(report, "sites"), *site;
    size_t i;
    int n = 0;
    long long c = 0, b = 0;
    json_array_foreach(sites, i, site) {
        if (kind_matches(site, kind) && site_matches(site, func, NULL, 0)) {
            n++;
            c += lwt_site_count(site);
            b += lwt_site_bytes(site);
        }
    }
    if (count)
        *count = c;
    if (bytes)
        *bytes = b;
    return n;
}

int lwt_site_index(json_t *report, json_t *site)
{
    json_t *sites = json_object_get(report, "sites"), *s;
    size_t i;
    json_array_foreach(sites, i, s) {
        if (s == site)
            return (int)i;
    }
    return -1;
}

long long lwt_site_count(json_t *site)
{
    return lwt_int(site, "count");
}

long long lwt_site_bytes(json_t *site)
{
    return lwt_int(site, "bytes");
}

int lwt_site_npids(json_t *site)
{
    json_t *pids = json_object_get(site, "pids");
    return json_is_array(pids) ? (int)json_array_size(pids) : -1;
}

int lwt_site_has_pid(json_t *site, long long pid)
{
    json_t *pids = json_object_get(site, "pids"), *p;
    size_t i;
    json_array_foreach(pids, i, p) {
        if (json_is_integer(p) && json_integer_value(p) == pid)
            return 1;
    }
    return 0;
}

int lwt_marker_line(const char *relpath, const char *marker)
{
    char *path = xprintf("%s/%s", lwt_root(), relpath);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return -1;
    char line[1024];
    int n = 0, found = -1;
    while (fgets(line, sizeof line, f)) {
        n++;
        if (strstr(line, marker)) {
            found = n;
            break;
        }
    }
    fclose(f);
    return found;
}

/* ---- assertions ---------------------------------------------------------------------------------------------- */

void lwt_assert_run_at(const lwt_result_t *r, int code, const char *file, int line)
{
    ck_assert_msg(!r->timed_out, "%s:%d: the command did not finish in time%s", file, line, lwt_describe(r));
    ck_assert_msg(r->report != NULL && json_is_object(r->report), "%s:%d: no report%s", file, line,
                  lwt_describe(r));
    ck_assert_msg(lwt_int(r->report, "leakwatch_report") == 1, "%s:%d: leakwatch_report is not 1%s", file, line,
                  lwt_describe(r));
    ck_assert_msg(r->exited && r->exit_code == code, "%s:%d: expected exit status %d%s", file, line, code,
                  lwt_describe(r));
}

json_t *lwt_assert_site_at(const lwt_result_t *r, const char *kind, const char *func, long long count,
                           long long bytes, const char *src_file, int src_line, const char *file, int line)
{
    ck_assert_msg(r->report != NULL, "%s:%d: no report%s", file, line, lwt_describe(r));
    long long c = 0, b = 0;
    int n = lwt_match_sites(r->report, kind, func, &c, &b);
    ck_assert_msg(n == 1, "%s:%d: expected one %s site in %s(), found %d (count %lld, bytes %lld)%s", file, line,
                  kind ? kind : "", func, n, c, b, lwt_describe(r));
    json_t *site = lwt_find_site(r->report, kind, func, NULL, 0, 0);
    ck_assert_msg(c == count && b == bytes, "%s:%d: site in %s(): expected count %lld bytes %lld, got %lld and %lld%s",
                  file, line, func, count, bytes, c, b, lwt_describe(r));
    if (src_file) {
        json_t *fr = lwt_site_frame(site, func);
        const char *have = json_string_value(json_object_get(fr, "file"));
        ck_assert_msg(lwt_find_site(r->report, kind, func, src_file, src_line, 0) == site,
                      "%s:%d: frame %s() should be at %s:%d, is at %s:%lld%s", file, line, func, src_file, src_line,
                      have ? have : "(null)", lwt_int(fr, "line"), lwt_describe(r));
    }
    return site;
}

void lwt_assert_no_site_at(const lwt_result_t *r, const char *func, const char *file, int line)
{
    ck_assert_msg(r->report != NULL, "%s:%d: no report%s", file, line, lwt_describe(r));
    long long c = 0, b = 0;
    int n = lwt_match_sites(r->report, NULL, func, &c, &b);
    ck_assert_msg(n == 0, "%s:%d: expected no site in %s(), found %d (count %lld, bytes %lld)%s", file, line, func,
                  n, c, b, lwt_describe(r));
}

void lwt_assert_totals_at(const lwt_result_t *r, const char *kind, long long count, long long bytes, const char *why,
                          const char *file, int line)
{
    ck_assert_msg(r->report != NULL, "%s:%d: no report%s", file, line, lwt_describe(r));
    long long c = lwt_total_count(r->report, kind), b = lwt_total_bytes(r->report, kind);
    ck_assert_msg(c == count && b == bytes, "%s:%d: %s: expected %s totals of %lld, %lld bytes, got %lld, %lld bytes%s",
                  file, line, why, kind ? kind : "all", count, bytes, c, b, lwt_describe(r));
}

void lwt_assert_one_pid_at(const lwt_result_t *r, json_t *site, long long pid, const char *why, const char *file,
                           int line)
{
    ck_assert_msg(lwt_site_npids(site) == 1 && lwt_site_has_pid(site, pid), "%s:%d: %s: expected pid %lld alone%s",
                  file, line, why, pid, lwt_describe(r));
}

void lwt_assert_sorted_at(const lwt_result_t *r, const char *file, int line)
{
    ck_assert_msg(r->report != NULL, "%s:%d: no report%s", file, line, lwt_describe(r));
    json_t *sites = json_object_get(r->report, "sites"), *site;
    ck_assert_msg(json_is_array(sites), "%s:%d: sites is not an array%s", file, line, lwt_describe(r));
    size_t i;
    long long pb = -1, pc = -1;
    int reachable_seen = 0;
    int rank_seen = 0;
    json_array_foreach(sites, i, site) {
        long long b = lwt_site_bytes(site), c = lwt_site_count(site);
        const char *cls = json_string_value(json_object_get(site, "class"));
        int reachable = cls && strcmp(cls, "reachable") == 0;
        int cycle = json_is_true(json_object_get(site, "cycle"));
        int indirect = cls && strcmp(cls, "indirect") == 0 && !cycle;
        if (json_object_get(site, "indirect_count")) {
            /* a site heading lost blocks sorts by all it heads */
            b = (cycle ? lwt_int(site, "direct_bytes") : b) + lwt_int(site, "indirect_bytes");
            c = (cycle ? lwt_int(site, "direct_count") : c) + lwt_int(site, "indirect_count");
        }
        int rank = reachable ? 2 : indirect ? 1 : 0;
        ck_assert_msg(reachable || !reachable_seen, "%s:%d: leak site %zu after a reachable site%s", file, line, i,
                      lwt_describe(r));
        ck_assert_msg(rank >= rank_seen, "%s:%d: site %zu before an indirect one%s", file, line, i, lwt_describe(r));
        if (rank > rank_seen) {
            rank_seen = rank;       /* then indirect sites, then reachable ones, each sorted among themselves */
            reachable_seen = reachable;
            pb = pc = -1;
        }
        ck_assert_msg(pb < 0 || b < pb || (b == pb && c <= pc),
                      "%s:%d: site %zu (bytes %lld count %lld) is out of order after bytes %lld count %lld%s", file,
                      line, i, b, c, pb, pc, lwt_describe(r));
        pb = b;
        pc = c;
    }
}

int lwt_marker_line_at(const char *relpath, const char *marker, const char *file, int line)
{
    int n = lwt_marker_line(relpath, marker);
    ck_assert_msg(n > 0, "%s:%d: marker \"%s\" not found in %s/%s", file, line, marker, lwt_root(), relpath);
    return n;
}

void lwt_require_built_at(const char *file, int line)
{
    ck_assert_msg(access(lwt_cli(), X_OK) == 0, "%s:%d: %s is not built (make all)", file, line, lwt_cli());
    ck_assert_msg(access(lwt_lib(), R_OK) == 0, "%s:%d: %s is not built (make all)", file, line, lwt_lib());
}

int lwt_run_suite(Suite *s)
{
    /* a failure message carries the run's description (stderr, report sites): Check's default 4 KiB would drop it
     * and report only "Message string too long" */
    check_set_max_msg_size(1 << 20);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Helpers shared by the subcommands: usage errors, numbers, options, output files, loading dumps, the run exit
 * status. */
#include "cli.h"

#include "parallel.h"
#include "progress.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int lwr_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "leakwatch %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'leakwatch %s --help'.\n", cmd);
    return LWR_EXIT_USAGE;
}

int lwr_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int lwr_take_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        (*i)++;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        lwr_usage_error(cmd, "option '%s' needs a value", name);
        return -1;
    }
    *value = argv[*i + 1];
    *i += 2;
    return 1;
}

int lwr_parse_options(const char *cmd, const char *usage, int argc, char **argv, lwr_option_fn take, void *opts,
                      int *first)
{
    *first = argc;
    for (int i = 1; i < argc;) {
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--") == 0) {
            *first = i + 1;
            break;
        }
        if ((r = take(cmd, argc, argv, &i, opts)) != 0) {
            if (r < 0)
                return LWR_EXIT_USAGE;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return lwr_usage_error(cmd, "unknown option '%s'", argv[i]);
        *first = i;
        break;
    }
    return -1;
}

int lwr_take_sym_option(const char *cmd, int argc, char **argv, int *i, void *opts)
{
    lwr_sym_opts_t *o = opts;
    const char *v;
    int r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--debug-dir", &v)) > 0) {
        if (!v[0] || o->ndebug_dirs == LWR_MAX_DEBUG_DIRS) {
            lwr_usage_error(cmd, v[0] ? "more than %d --debug-dir options" : "--debug-dir needs a directory",
                            LWR_MAX_DEBUG_DIRS);
            return -1;
        }
        o->debug_dirs[o->ndebug_dirs++] = v;
    }
    if (r != 0)
        return r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--sysroot", &v)) > 0) {
        if (!v[0]) {
            lwr_usage_error(cmd, "--sysroot needs a directory");
            return -1;
        }
        o->sysroot = v;
    }
    return r;
}

lwr_symbolizer_t *lwr_sym_opts_symbolizer(const lwr_sym_opts_t *o)
{
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    int oom = !sym;
    for (size_t j = 0; sym && j < o->ndebug_dirs; j++)
        oom |= lwr_symbolizer_add_debug_dir(sym, o->debug_dirs[j]) != 0;
    if (sym && o->sysroot)
        oom |= lwr_symbolizer_set_sysroot(sym, o->sysroot) != 0;
    if (oom) {
        lwr_symbolizer_free(sym);
        fprintf(stderr, "leakwatch: out of memory\n");
        return NULL;
    }
    return sym;
}

int lwr_take_table_option(const char *cmd, int argc, char **argv, int *i, void *opts)
{
    lwr_table_opts_t *o = opts;
    const char *v;
    int r;
    if ((r = lwr_take_sym_option(cmd, argc, argv, i, &o->sym)) != 0)
        return r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--format", &v)) != 0) {
        if (r > 0 && strcmp(v, "text") != 0 && strcmp(v, "json") != 0) {
            lwr_usage_error(cmd, "unknown format '%s' (text or json)", v);
            return -1;
        }
        if (r > 0)
            o->format = v;
        return r;
    }
    if ((r = lwr_take_option(cmd, argc, argv, i, "--top", &v)) != 0) {
        if (r > 0 && lwr_parse_uint(v, 1000000000, &o->top) != 0) {
            lwr_usage_error(cmd, "bad number '%s' for --top", v);
            return -1;
        }
        return r;
    }
    if ((r = lwr_take_option(cmd, argc, argv, i, "--output", &v)) > 0)
        o->output = v;
    return r;
}

FILE *lwr_output_open(const char *path)
{
    if (!path)
        return stdout;
    FILE *out = fopen(path, "w");
    if (!out)
        fprintf(stderr, "leakwatch: %s: %s\n", path, strerror(errno));
    return out;
}

int lwr_output_close(FILE *out, const char *path, const char *what, int rc)
{
    int e = rc != 0 ? errno : 0;
    /* what is still buffered is written now, so that its failure counts too */
    if (fflush(out) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    if (rc != 0 && !ferror(out))
        e = 0; /* the rendering failed, not a write: errno says nothing of it */
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    if (rc != 0) {
        /* a reader that stopped early (`| head`) is told nothing; the exit status says the output is not whole */
        if (e != EPIPE)
            fprintf(stderr, "leakwatch: writing %s failed%s%s\n", path ? path : what, e ? ": " : "",
                    e ? strerror(e) : "");
        return 1;
    }
    return 0;
}

int lwr_dumplist_add(lwr_dumplist_t *l, lwr_dump_t *d)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        lwr_dump_t **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            lwr_dump_free(d);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = d;
    return 0;
}

static int cmp_dump(const void *a, const void *b)
{
    const lwr_dump_t *x = *(lwr_dump_t *const *)a, *y = *(lwr_dump_t *const *)b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void lwr_dumplist_sort(lwr_dumplist_t *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_dump);
}

void lwr_dumplist_free(lwr_dumplist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        lwr_dump_free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Parses `leakwatch.<pid>.<seq>.json`. Returns 0 or -1. */
static int dump_name(const char *name, long *pid, long *seq)
{
    const char *p = name;
    char *end;
    if (strncmp(p, "leakwatch.", 10) != 0)
        return -1;
    p += 10;
    if (*p < '0' || *p > '9')
        return -1;
    *pid = strtol(p, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9')
        return -1;
    *seq = strtol(end + 1, &end, 10);
    return strcmp(end, ".json") == 0 ? 0 : -1;
}

typedef struct {
    long pid, seq;
    char *name;
} entry_t;

static int cmp_entry(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Adds the dump names in dir/sub (sub "" for dir itself) to ents, named relative to dir. Returns how many names
 * could not be kept. */
static int add_names(const char *dir, const char *sub, entry_t **ents, size_t *n, size_t *cap)
{
    char where[PATH_MAX];
    snprintf(where, sizeof where, "%s%s%s", dir, sub[0] ? "/" : "", sub);
    DIR *d = opendir(where);
    if (!d)
        return -1;
    int failures = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid, seq;
        if (dump_name(e->d_name, &pid, &seq) != 0)
            continue;
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 16;
            entry_t *v = realloc(*ents, c * sizeof *v);
            if (!v) {
                failures++;
                continue;
            }
            *ents = v;
            *cap = c;
        }
        entry_t *en = &(*ents)[*n];
        en->pid = pid;
        en->seq = seq;
        size_t len = strlen(sub) + strlen(e->d_name) + 2;
        en->name = malloc(len);
        if (!en->name) {
            failures++;
            continue;
        }
        snprintf(en->name, len, "%s%s%s", sub, sub[0] ? "/" : "", e->d_name);
        (*n)++;
    }
    closedir(d);
    return failures;
}

int lwr_is_user_dir(int dirfd, const char *name)
{
    struct stat st;
    return strncmp(name, "uid-", 4) == 0 && name[4] && strspn(name + 4, "0123456789") == strlen(name + 4) &&
           fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

bool lwr_older_dump_kept(const lwr_dump_t *dump)
{
    return dump->reason && strcmp(dump->reason, "exec") == 0;
}

/* One dump to read: its path (NULL: nothing to read) and whether a newer dump of its process comes after it,
 * then the dump (an older one only when its reason is "exec") or why it could not be read. */
typedef struct {
    char *path;
    bool older;
    lwr_dump_t *dump;
    char err[512];
} load_t;

static void load_one(size_t i, void *arg)
{
    load_t *l = (load_t *)arg + i;
    if (!l->path)
        return;
    l->dump = lwr_dump_load(l->path, l->err, sizeof l->err);
    if (l->older && l->dump && !lwr_older_dump_kept(l->dump)) {
        lwr_dump_free(l->dump);
        l->dump = NULL;
    }
    lwr_progress_tick();
}

int lwr_collect_dir(const char *dir, lwr_dumplist_t *list)
{
    entry_t *ents = NULL;
    size_t n = 0, cap = 0;
    int failures = add_names(dir, "", &ents, &n, &cap);
    if (failures < 0) {
        fprintf(stderr, "leakwatch: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (lwr_is_user_dir(dirfd(d), e->d_name)) {
            int f = add_names(dir, e->d_name, &ents, &n, &cap);
            failures += f < 0 ? 1 : f;
        }
    }
    if (d)
    closedir(d);
    if (n > 1)
        qsort(ents, n, sizeof *ents, cmp_entry);
    /* Sorted by pid, then seq: the last entry of each pid is its newest dump. */
    load_t *loads = calloc(n ? n : 1, sizeof *loads);
    for (size_t i = 0; loads && i < n; i++) {
        size_t len = strlen(dir) + strlen(ents[i].name) + 2;
        loads[i].older = i + 1 < n && ents[i + 1].pid == ents[i].pid;
        if ((loads[i].path = malloc(len)) != NULL)
            snprintf(loads[i].path, len, "%s/%s", dir, ents[i].name);
    }
    if (loads)
        lwr_parallel_for(n, load_one, loads);
    for (size_t i = 0; i < n; i++) {
        lwr_dump_t *dump = loads ? loads[i].dump : NULL;
        if (!loads || !loads[i].path) {
            failures++;
        } else if (!dump && !loads[i].older) {
            lwr_progress_clear();
            fprintf(stderr, "leakwatch: %s\n", loads[i].err);
            failures++;
        } else if (dump && lwr_dumplist_add(list, dump) != 0) {
            failures++;
        }
        if (loads)
            free(loads[i].path);
        free(ents[i].name);
    }
    free(loads);
    free(ents);
    lwr_dumplist_sort(list);
    return failures;
}

int lwr_load_dumps(char *const *paths, int n, int (*add_dir)(const char *dir, lwr_dumplist_t *list),
                   lwr_dumplist_t *list)
{
    int failed = 0;
    /* the directories' dumps count as they are read (lwr_collect_dir, lwr_series_add_dir): no total up front */
    lwr_progress_begin("reading dumps", 0);
    /* the files named are read side by side first; directories are read in their turn */
    load_t *loads = calloc(n > 0 ? (size_t)n : 1, sizeof *loads);
    bool *is_dir = calloc(n > 0 ? (size_t)n : 1, sizeof *is_dir);
    if (!loads || !is_dir) {
        free(loads);
        free(is_dir);
        lwr_progress_end();
        fprintf(stderr, "leakwatch: out of memory\n");
        return 1;
    }
    for (int j = 0; j < n; j++) {
        struct stat st;
        is_dir[j] = stat(paths[j], &st) == 0 && S_ISDIR(st.st_mode);
        loads[j].path = is_dir[j] ? NULL : paths[j];
    }
    lwr_parallel_for((size_t)n, load_one, loads);
    for (int j = 0; j < n; j++) {
        if (is_dir[j]) {
            failed |= add_dir(paths[j], list) != 0;
            continue;
        }
        lwr_dump_t *d = loads[j].dump;
        if (!d) {
            lwr_progress_clear();
            fprintf(stderr, "leakwatch: %s\n", loads[j].err);
            failed = 1;
        } else if (lwr_dumplist_add(list, d) != 0) {
            fprintf(stderr, "leakwatch: out of memory\n");
            failed = 1;
        }
    }
    free(loads);
    free(is_dir);
    lwr_progress_end();
    return failed;
}

int lwr_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno;
    int err = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int r = unlinkat(dirfd(d), e->d_name, 0);
        if (r != 0 && (errno == EISDIR || errno == EPERM) && lwr_is_user_dir(dirfd(d), e->d_name)) {
            /* a user's directory holds dumps only */
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
            r = lwr_remove_dir(sub);
            errno = r;
        }
        if (r != 0 && err == 0)
            err = errno;
    }
    closedir(d);
    if (rmdir(dir) != 0 && err == 0)
        err = errno;
    return err;
}

int lwr_run_exit_status(int wait_status, uint64_t leaks, uint64_t max_leaks, int leak_exit_code)
{
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    if (leaks > max_leaks)
        return leak_exit_code;
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    return LWR_EXIT_INTERNAL;
}

char *lwr_find_library(void)
{
    const char *env = getenv("LEAKWATCH_LIB");
    if (env && env[0]) {
        if (access(env, R_OK) != 0) {
            fprintf(stderr, "leakwatch: LEAKWATCH_LIB=%s: %s\n", env, strerror(errno));
            return NULL;
        }
        return realpath(env, NULL);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        static const char *const rel[] = { "/../lib/libleakwatch.so", "/../lib/leakwatch/libleakwatch.so" };
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char path[PATH_MAX + 64];
            snprintf(path, sizeof path, "%s%s", self, rel[i]);
            if (access(path, R_OK) == 0)
                return realpath(path, NULL);
        }
    }
    fprintf(stderr,
            "leakwatch: libleakwatch.so not found (looked in %s/../lib and %s/../lib/leakwatch); "
            "set LEAKWATCH_LIB to its path\n",
            n > 0 ? self : "?", n > 0 ? self : "?");
    return NULL;
}

int lwr_pid_operand(const char *cmd, int argc, char **argv, int first, long *pid)
{
    uint64_t v;
    if (first >= argc)
        return lwr_usage_error(cmd, "no PID given");
    /* pid_max is at most 2^22 on Linux */
    if (first != argc - 1 || lwr_parse_uint(argv[first], 1u << 22, &v) != 0 || v == 0)
        return lwr_usage_error(cmd, "expected one PID, not '%s'", argv[first]);
    *pid = (long)v;
    return 0;
}

/* `leakwatch run`: runs a command tree under libleakwatch.so, then reports and gates on what every process leaked. */
#include "aggregate.h"
#include "ci.h"
#include "cli.h"
#include "escape.h"
#include "parallel.h"
#include "render.h"
#include "run_extras.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "Usage: leakwatch run [--json FILE] [--sarif FILE] [--junit FILE] [--max-leaks N] [--exit-code N]\n"
    "                     [--kinds LIST] [--suppressions FILE]... [--baseline FILE] [--keep-dumps DIR]\n"
    "                     [--log-dir DIR] [--debug-dir DIR]... [--sysroot DIR] [-q] -- CMD [ARGS...]\n"
    "\n"
    "Runs CMD with libleakwatch.so preloaded into it and into every process it starts, then prints on stderr\n"
    "what each of them still held at exit (heap blocks, descriptors, sockets, threads, timers), merged by\n"
    "call site.\n"
    "\n"
    "  --json FILE          also write the JSON report (docs/FORMAT.md) to FILE\n"
    "  --max-leaks N        allow up to N leaks before failing (default 0)\n"
    "  --exit-code N        exit status when there are more leaks than allowed (default 23)\n"
    "  --kinds LIST         the kinds that count against --max-leaks, comma-separated: heap,fd,socket,thread,timer,\n"
    "                       mmap, or all (default: all but mmap); what the library tracks stays LEAKWATCH_KINDS\n"
    "  --sarif FILE         also write a SARIF 2.1.0 log (one result per leaking site) to FILE\n"
    "  --junit FILE         also write JUnit XML (a test case per process, a failure per leaking site) to FILE\n"
    "  --suppressions FILE  hide the sites FILE's lines match (leak:, fd:, socket:, thread:, timer: PATTERN, as in\n"
    "                       LeakSanitizer's files); repeatable, read after the files of LEAKWATCH_SUPPRESSIONS\n"
    "  --no-default-suppressions  do not apply the built-in list for the C and C++ runtimes' own memory\n"
    "  --baseline FILE      an earlier --json report (or `leakwatch baseline` file): leaks at its call sites are\n"
    "                       listed, marked as in the baseline, but do not count against --max-leaks\n"
    "  --show-reachable     list the heap blocks still reachable at exit in the text report too\n"
    "  --gen-suppressions   after the report, a suppression line per site that hides exactly it\n"
    "  --show-indirect      list the indirect leaks' sites under the leak that holds them in the text report too\n"
    "  --gate-reachable     count reachable heap blocks against --max-leaks as well\n"
    "  --allow-unchecked    do not fail when some process could not be checked (it ran without the library, ended\n"
    "                       without its dump, was still running, or its dump was unreadable or incomplete)\n"
    "  --keep-dumps DIR     keep every dump in DIR (created if missing; LEAKWATCH_DUMP_DIR does the same) for\n"
    "                       `leakwatch report`, `triage`, `diff` and the flame graphs; without it they are removed\n"
    "  --log-dir DIR        also write one text report per process into DIR, named EXE.PID.log\n"
    LWR_SYM_OPTS_USAGE
    "  -q, --quiet          print only the summary line of the report and the exit-status line (after the\n"
    "                       generated suppressions with --gen-suppressions; the baseline's line when it passes)\n"
    "\n"
    "The --json, --sarif and --junit files and the directories are checked before CMD starts. LSAN_OPTIONS is\n"
    "read for suppressions=, exitcode=, log_path=, detect_leaks=0, report_objects= and max_leaks=; the options\n"
    "above take precedence (README, LeakSanitizer's options).\n"
    "\n"
    "Exit status: CMD's own status when it leaked at most N handles of the gated kinds; 23 (or --exit-code)\n"
    "when it leaked more; 24 when some process of the tree could not be checked (named in the report);\n"
    "128+S when CMD was killed by signal S; 127 when CMD was not found, 126 when it could not be executed;\n"
    "125 when leakwatch itself failed (e.g. libleakwatch.so not found); 2 on a usage error.\n"
    "\n"
    "The library is LEAKWATCH_LIB when set, else ../lib/libleakwatch.so or ../lib/leakwatch/libleakwatch.so\n"
    "next to this program's directory.\n";

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

/* The child while it runs, 0 before, -1 once it has been reaped (never signal a pid that may be reused). */
static volatile sig_atomic_t child_pid;
/* A signal that arrived after the child was reaped: the report stops where it is, and the signal is raised
 * again once the temporary directory is gone. */
static volatile sig_atomic_t late_signal;
/* The temporary directory, named by a second late signal that ends leakwatch at once. */
static const char *volatile dump_dir_name;

static void forward(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    pid_t pid = (pid_t)child_pid;
    if (pid <= 0 && late_signal) {
        /* A second signal after the command ended: whatever leakwatch is doing (a symbolizer stuck on a file, say)
         * must not keep it alive. Only async-signal-safe calls here. */
        static const char msg[] = "leakwatch: stopped by a second signal; left behind: ";
        const char *dir = dump_dir_name;
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        w = write(STDERR_FILENO, dir ? dir : "?", dir ? strlen(dir) : 1);
        w = write(STDERR_FILENO, "\n", 1);
        (void)w;
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
        raise(sig); /* delivered when this handler returns: the signal is blocked while it runs */
        return;
    }
    if (pid <= 0) {
        late_signal = sig;
        return;
    }
    /* A terminal sends SIGINT, SIGQUIT and SIGHUP to its whole foreground process group, which holds the
     * child too (si_code SI_KERNEL): forwarding those would deliver them twice, unless the child has left our
     * process group. */
    if (si && si->si_code == SI_KERNEL && getpgid(pid) == getpgrp())
        return;
    kill(pid, sig);
}

/* Everything the child needs before exec. */
typedef struct {
    const char *lib;
    const char *dump_dir;
    struct sigaction *old;
    sigset_t *oldmask;
    int errpipe;
    char **cmd;
} child_t;

static void child(const child_t *c)
{
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(c->lib) + (old ? strlen(old) : 0) + 2;
    char *preload = malloc(len);
    int err = ENOMEM;
    if (preload) {
        snprintf(preload, len, "%s%s%s", c->lib, old && old[0] ? ":" : "", old && old[0] ? old : "");
        if (setenv("LD_PRELOAD", preload, 1) == 0 && setenv("LEAKWATCH_DUMP_DIR", c->dump_dir, 1) == 0
            && setenv("LEAKWATCH_REPORT", "none", 1) == 0 && setenv("LEAKWATCH_MARKERS", "1", 1) == 0) {
            for (size_t i = 0; i < NFORWARDED; i++)
                sigaction(forwarded[i], &c->old[i], NULL);
            sigprocmask(SIG_SETMASK, c->oldmask, NULL);
            execvp(c->cmd[0], c->cmd);
        }
        err = errno;
    }
    /* Tell the parent why exec failed; it prints the message. */
    ssize_t w = write(c->errpipe, &err, sizeof err);
    (void)w;
    _exit(err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG ? LWR_EXIT_NOTFOUND : LWR_EXIT_NOEXEC);
}

typedef struct {
    const char *json;
    uint64_t max_leaks;
    int exit_code;
    lwr_kindset_t kinds;
    char **cmd;
    lwr_ci_t ci;
    bool allow_unchecked;   /* --allow-unchecked */
    bool exit_code_given;   /* --exit-code: LSAN_OPTIONS exitcode= does not apply */
    bool leaks_keep_status; /* LSAN_OPTIONS exitcode=0: leaks leave CMD's status as it is, as in LeakSanitizer */
    const char *keep_dumps; /* --keep-dumps DIR */
    const char *log_dir;    /* --log-dir DIR */
    const char *log_prefix; /* LSAN_OPTIONS log_path=PREFIX: logs at PREFIX.<pid> */
    bool quiet;             /* -q, --quiet */
    lwr_sym_opts_t sym;     /* --debug-dir, --sysroot */
    uint64_t max_sites;     /* LSAN_OPTIONS max_leaks=: sites in the text report, 0 for all */
    char keep_path[PATH_MAX];   /* the directory dumps are kept in, "" when they are not */
    char log_path[PATH_MAX];    /* the directory of the logs, "" without --log-dir */
} options_t;

static int parse(int argc, char **argv, options_t *o, int *status)
{
    int i = 1;
    while (i < argc) {
        const char *v;
        int r;
        uint64_t n;
        if (strcmp(argv[i], "--") == 0) {
            if (i + 1 >= argc) {
                *status = lwr_usage_error("run", "no command after '--'");
                return -1;
            }
            o->cmd = &argv[i + 1];
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            *status = 0;
            return -1;
        }
        if (strcmp(argv[i], "--allow-unchecked") == 0) {
            o->allow_unchecked = true;
            i++;
            continue;
        }
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            o->quiet = true;
            i++;
            continue;
        }
        static const char *const dir_opts[] = { "--keep-dumps", "--log-dir" };
        for (size_t k = 0; k < 2; k++) {
            if ((r = lwr_take_option("run", argc, argv, &i, dir_opts[k], &v)) == 0)
                continue;
            if (r < 0 || !v[0]) {
                *status = r < 0 ? LWR_EXIT_USAGE : lwr_usage_error("run", "%s needs a directory", dir_opts[k]);
                return -1;
            }
            *(k == 0 ? &o->keep_dumps : &o->log_dir) = v;
            break;
        }
        if (r > 0)
            continue;
        if ((r = lwr_take_option("run", argc, argv, &i, "--json", &v)) != 0) {
            if (r < 0 || !v[0]) {
                *status = r < 0 ? LWR_EXIT_USAGE : lwr_usage_error("run", "--json needs a file name");
                return -1;
            }
            o->json = v;
        } else if ((r = lwr_take_option("run", argc, argv, &i, "--max-leaks", &v)) != 0) {
            if (r < 0 || lwr_parse_uint(v, INT64_MAX, &n) != 0) {
                *status = r < 0 ? LWR_EXIT_USAGE : lwr_usage_error("run", "--max-leaks: '%s' is not a count", v);
                return -1;
            }
            o->max_leaks = n;
        } else if ((r = lwr_take_option("run", argc, argv, &i, "--exit-code", &v)) != 0) {
            if (r < 0 || lwr_parse_uint(v, 255, &n) != 0) {
                *status = r < 0 ? LWR_EXIT_USAGE
                                : lwr_usage_error("run", "--exit-code: '%s' is not a number from 0 to 255", v);
                return -1;
            }
            o->exit_code = (int)n;
            o->exit_code_given = true;
        } else if ((r = lwr_take_option("run", argc, argv, &i, "--kinds", &v)) != 0) {
            char bad[80];
            if (r < 0) {
                *status = LWR_EXIT_USAGE;
                return -1;
            }
            if (lwr_kinds_parse(v, &o->kinds, bad, sizeof bad) != 0) {
                *status = lwr_usage_error(
                    "run", "--kinds: unknown kind '%s' (heap, fd, socket, thread, timer, mmap, all)", bad);
                return -1;
            }
        } else if ((r = lwr_ci_take_option("run", argc, argv, &i, true, &o->ci)) != 0
                   || (r = lwr_take_sym_option("run", argc, argv, &i, &o->sym)) != 0) {
            if (r < 0) {
                *status = LWR_EXIT_USAGE;
                return -1;
            }
        } else if (argv[i][0] == '-') {
            *status = lwr_usage_error("run", "unknown option '%s'", argv[i]);
            return -1;
        } else {
            *status = lwr_usage_error("run", "missing '--' before the command ('%s')", argv[i]);
            return -1;
        }
    }
    *status = lwr_usage_error("run", "missing '--' and the command to run");
    return -1;
}

/* ---- what the dump directory holds: dumps, and the markers of tracker/markers.c --------------------------- */

/* A marker: leakwatch.PID.start or .exec, or leakwatch.PID.K.start/.exec (one of an earlier process of that number,
 * moved aside). */
typedef struct {
    long pid;
    unsigned long aside;    /* K, 0 for the current marker of the number */
    long uid;               /* N for a marker in the directory uid-N of a process that became user N, else -1 */
    bool exec;
    bool spawn;             /* started by posix_spawn (written by the parent) */
    bool covered;           /* a start marker that an exec marker of the same process stands for, or a spawn
                             * marker of a process that ran the library */
    unsigned long long start;   /* the process's start time, 0 when unknown */
    char *what;             /* the executable, or the path exec'd; NULL when unknown */
} marker_t;

typedef struct {
    long pid, seq;
    char *name;
} dump_entry_t;

/* Everything the directory held, and the processes that could not be checked. */
typedef struct {
    dump_entry_t *dumps;
    size_t ndumps, capdumps;
    marker_t *markers;
    size_t nmarkers, capmarkers;
    lwr_unchecked_t *unchecked;
    size_t nunchecked, capunchecked;
    int oom;
} scan_t;

/* Parses `leakwatch.<pid>.<n>.json`, `leakwatch.<pid>[.<k>].start`, `.exec` and `.spawn`. Returns 'd' for a dump,
 * 's', 'e' or 'p' for a marker, 0 for any other name. */
static int entry_name(const char *name, long *pid, long *n)
{
    char *end;
    if (strncmp(name, "leakwatch.", 10) != 0 || name[10] < '0' || name[10] > '9')
        return 0;
    *pid = strtol(name + 10, &end, 10);
    *n = 0;
    if (*end != '.')
        return 0;
    if (end[1] >= '0' && end[1] <= '9') {
        *n = strtol(end + 1, &end, 10);
        if (strcmp(end, ".json") == 0)
            return 'd';
        if (*end != '.' || *n <= 0)
            return 0;
    }
    return strcmp(end, ".start") == 0 ? 's' : strcmp(end, ".exec") == 0 ? 'e' : strcmp(end, ".spawn") == 0 ? 'p' : 0;
}

/* Grows *v (of *cap elements of `size` bytes) to hold n + 1. Returns 0 or -1. */
static int grow(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*(void **)v, c * size);
    if (!p)
        return -1;
    *(void **)v = p;
    *cap = c;
    return 0;
}

/* A copy of s that jansson accepts: bytes of a path that is not UTF-8 become '?'. */
static char *utf8_copy(const char *s)
{
    char *c = strdup(s);
    json_t *t = c ? json_string(c) : NULL;
    if (t)
        json_decref(t);
    else if (c)
        for (char *p = c; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    return c;
}

__attribute__((format(printf, 4, 5)))
static void add_unchecked(scan_t *sc, long pid, const char *exe, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (grow(&sc->unchecked, &sc->capunchecked, sc->nunchecked, sizeof *sc->unchecked) != 0) {
        sc->oom = 1;
        return;
    }
    lwr_unchecked_t *u = &sc->unchecked[sc->nunchecked];
    u->pid = pid;
    u->executable = exe ? utf8_copy(exe) : NULL;
    u->reason = utf8_copy(reason);
    if (!u->reason || (exe && !u->executable)) {
        free(u->executable);
        free(u->reason);
        sc->oom = 1;
        return;
    }
    sc->nunchecked++;
}

/* Reads the regular file `name` of directory `dfd` whole, never following a link and never waiting for a FIFO or
 * a device (opened non-blocking, refused unless regular). Returns the text, NUL-terminated, *len bytes, or NULL
 * with errno set (EINVAL: not a regular file). */
static char *read_regular(int dfd, const char *name, size_t *len)
{
    int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int err = S_ISREG(st.st_mode) ? errno : EINVAL;
        close(fd);
        errno = err;
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got < 0) {
                int err = errno;
                free(buf);
                buf = NULL;
                errno = err;
            }
            break;
        }
        n += (size_t)got;
        if (n == cap - 1) {
            /* grown since fstat: a file still being written, read what is there now */
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    int err = errno;
    close(fd);
    errno = err;
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static const char *read_error(int err)
{
    return err == EINVAL ? "not a regular file" : strerror(err);
}

static void add_marker(scan_t *sc, int dfd, const char *sub, const char *name, long pid, long aside, int type)
{
    size_t len;
    char *text = read_regular(dfd, name, &len);
    if (!text) {
        add_unchecked(sc, pid, NULL, "its marker %s cannot be read: %s", name, read_error(errno));
        return;
    }
    if (grow(&sc->markers, &sc->capmarkers, sc->nmarkers, sizeof *sc->markers) != 0) {
        free(text);
        sc->oom = 1;
        return;
    }
    /* two lines: the start time, then the executable or the path exec'd */
    marker_t *m = &sc->markers[sc->nmarkers++];
    char *nl = strchr(text, '\n'), *what = nl ? nl + 1 : NULL;
    m->pid = pid;
    m->aside = (unsigned long)aside;
    unsigned u;
    m->uid = sscanf(sub, "uid-%u", &u) == 1 ? (long)u : -1;
    m->exec = type == 'e';
    m->spawn = type == 'p';
    m->covered = false;
    m->start = strtoull(text, NULL, 10);
    m->what = NULL;
    if (what && (nl = strchr(what, '\n')) != NULL)
        *nl = '\0';
    if (what && what[0] && !(m->what = strdup(what)))
        sc->oom = 1;
    free(text);
}

static int cmp_dump_entry(const void *a, const void *b)
{
    const dump_entry_t *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Lists the directory: dumps to read, markers read at once, and names that claim to be a dump or a marker but are
 * no regular file (a FIFO would block a reader forever) become unchecked entries. Returns 0, or -1 when the
 * directory cannot be read (said). */
/* Lists dir/sub (sub "" for dir itself), naming entries relative to dir. Returns 0 or -1 (errno set). */
static int scan_one(const char *dir, const char *sub, scan_t *sc)
{
    char where[PATH_MAX];
    snprintf(where, sizeof where, "%s%s%s", dir, sub[0] ? "/" : "", sub);
    DIR *d = opendir(where);
    if (!d)
        return -1;
    int base = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct dirent *e;
    while (!late_signal && (e = readdir(d)) != NULL) {
        long pid, n;
        if (!sub[0] && base >= 0 && lwr_is_user_dir(base, e->d_name)) {
            scan_one(dir, e->d_name, sc);
            continue;
        }
        int type = entry_name(e->d_name, &pid, &n);
        struct stat st;
        if (!type)
            continue;
        char name[PATH_MAX];
        snprintf(name, sizeof name, "%s%s%s", sub, sub[0] ? "/" : "", e->d_name);
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
            add_unchecked(sc, pid, NULL, "%s in the dump directory is not a regular file", name);
            continue;
        }
        if (type != 'd') {
            add_marker(sc, dirfd(d), sub, e->d_name, pid, n, type);
            continue;
        }
        if (grow(&sc->dumps, &sc->capdumps, sc->ndumps, sizeof *sc->dumps) != 0
            || !(sc->dumps[sc->ndumps].name = strdup(name))) {
            sc->oom = 1;
            continue;
        }
        sc->dumps[sc->ndumps].pid = pid;
        sc->dumps[sc->ndumps].seq = n;
        sc->ndumps++;
    }
    if (base >= 0)
        close(base);
    closedir(d);
    return 0;
}

static int scan_dir(const char *dir, scan_t *sc)
{
    if (scan_one(dir, "", sc) != 0) {
        fprintf(stderr, "leakwatch: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (sc->ndumps > 1)
        qsort(sc->dumps, sc->ndumps, sizeof *sc->dumps, cmp_dump_entry);
    return 0;
}

/* One dump of the directory, read and parsed by one of the threads of lwr_parallel_for. */
typedef struct {
    int dfd;
    const char *dir, *name;
    bool older;         /* a newer dump of the same pid follows */
    lwr_dump_t *dump;   /* NULL when unreadable, or an older dump that is not an exec dump */
    char err[PATH_MAX + 1024];
} load_t;

static void load_one(size_t i, void *arg)
{
    load_t *l = (load_t *)arg + i;
    char path[PATH_MAX + 256];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", l->dir, l->name);
    char *text = read_regular(l->dfd, l->name, &len);
    if (text)
        l->dump = lwr_dump_parse(text, len, path, l->err, sizeof l->err);
    else
        snprintf(l->err, sizeof l->err, "%s: %s", path, read_error(errno));
    free(text);
    if (l->older && l->dump && !lwr_older_dump_kept(l->dump)) {
        lwr_dump_free(l->dump);
        l->dump = NULL;
    }
}

/* Reads the dumps as lwr_collect_dir does (the newest of each pid, and older ones whose reason is "exec"); a
 * newest dump that cannot be read makes its process unchecked. */
static void load_dumps(const char *dir, scan_t *sc, lwr_dumplist_t *list)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    load_t *loads = dfd >= 0 ? calloc(sc->ndumps ? sc->ndumps : 1, sizeof *loads) : NULL;
    if (!loads) {
        fprintf(stderr, "leakwatch: %s: %s\n", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        sc->oom = 1;
        return;
    }
    for (size_t i = 0; i < sc->ndumps; i++)
        loads[i] = (load_t){ .dfd = dfd, .dir = dir, .name = sc->dumps[i].name,
                             .older = i + 1 < sc->ndumps && sc->dumps[i + 1].pid == sc->dumps[i].pid };
    if (!late_signal)
        lwr_parallel_for(sc->ndumps, load_one, loads);
    for (size_t i = 0; i < sc->ndumps && !late_signal; i++) {
        load_t *l = &loads[i];
        if (!l->dump && !l->older) {
            size_t plen = strlen(dir) + 1 + strlen(l->name);
            fprintf(stderr, "leakwatch: %s\n", l->err);
            add_unchecked(sc, sc->dumps[i].pid, NULL, "its dump %s cannot be read: %s", l->name,
                          strlen(l->err) > plen + 2 ? l->err + plen + 2 : l->err);
        } else if (l->dump) {
            if (lwr_dumplist_add(list, l->dump) != 0) /* which frees it when it cannot be listed */
                sc->oom = 1;
            l->dump = NULL;
        }
    }
    for (size_t i = 0; i < sc->ndumps; i++)
        lwr_dump_free(loads[i].dump);   /* not listed: a signal came */
    free(loads);
    close(dfd);
    lwr_dumplist_sort(list);
}

/* --keep-dumps: moves every dump of the run's directory into `keep` (nothing there is replaced: a name taken gets
 * the next seq) and points the loaded dumps at their new files; a dump that cannot be moved is said and goes with
 * the directory. */
static void keep_dumps(const char *dir, const scan_t *sc, lwr_dumplist_t *list, const char *keep)
{
    for (size_t i = 0; i < sc->ndumps; i++) {
        char old[PATH_MAX + 256], kept[PATH_MAX + 256];
        snprintf(old, sizeof old, "%s/%s", dir, sc->dumps[i].name);
        int err = lwr_keep_dump(dir, sc->dumps[i].name, keep, kept, sizeof kept);
        if (err) {
            fprintf(stderr, "leakwatch: cannot keep %s in %s: %s\n", lwr_show(sc->dumps[i].name), lwr_show(keep),
                    strerror(err));
            continue;
        }
        for (size_t j = 0; j < list->n; j++) {
            char *name;
            if (strcmp(list->v[j]->file, old) == 0 && (name = strdup(kept)) != NULL) {
                free(list->v[j]->file);
                list->v[j]->file = name;
            }
        }
    }
}

/* `processes[].dump` names only a file that stays: none when the dumps are removed with the run's directory, and
 * only those that were moved into `keep` otherwise. */
static void forget_gone_dumps(lwr_report_t *rep, const char *keep)
{
    for (size_t i = 0; i < rep->nprocesses; i++) {
        char path[PATH_MAX + 256];
        lwr_process_t *p = &rep->processes[i];
        if (!p->dump)
            continue;
        snprintf(path, sizeof path, "%s/%s", keep, p->dump);
        if (!keep[0] || access(path, F_OK) != 0) {
            free(p->dump);
            p->dump = NULL;
        }
    }
}

/* The start time of process `pid` now (field 22 of /proc/PID/stat), 0 when it is gone. */
static unsigned long long proc_start_time(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');   /* the command name may hold spaces */
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

#define NEVER_STARTED "it never started libleakwatch.so (it cleared LD_PRELOAD, or ended before the library started)"

/* Why a program ran without the library, from its file: no program interpreter (static), or set-user-ID or
 * set-group-ID bits that make the dynamic linker ignore LD_PRELOAD. NULL when the file says neither. */
static const char *why_untraced(const char *path)
{
    if (!path || path[0] != '/')
        return NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    unsigned char h[sizeof(Elf64_Ehdr)];
    ssize_t n = pread(fd, h, sizeof h, 0);
    const char *why = NULL;
    if (n >= EI_NIDENT && memcmp(h, ELFMAG, SELFMAG) == 0 && (h[EI_CLASS] == ELFCLASS64 || h[EI_CLASS] == ELFCLASS32)) {
        bool is64 = h[EI_CLASS] == ELFCLASS64, interp = false;
        Elf64_Ehdr e64;
        Elf32_Ehdr e32;
        uint64_t phoff;
        unsigned phnum, phentsize;
        if (is64 && n >= (ssize_t)sizeof e64) {
            memcpy(&e64, h, sizeof e64);
            phoff = e64.e_phoff, phnum = e64.e_phnum, phentsize = e64.e_phentsize;
        } else if (!is64 && n >= (ssize_t)sizeof e32) {
            memcpy(&e32, h, sizeof e32);
            phoff = e32.e_phoff, phnum = e32.e_phnum, phentsize = e32.e_phentsize;
        } else {
            phnum = 0, phoff = 0, phentsize = 0;
        }
        for (unsigned i = 0; i < phnum && i < 256 && phentsize >= 8; i++) {
            uint32_t type;
            if (pread(fd, &type, sizeof type, (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sizeof type)
                break;
            interp |= type == PT_INTERP;
        }
        if (phnum > 0 && !interp)
            why = "a static binary (no program interpreter): LD_PRELOAD does not reach it";
    }
    if (!why && (st.st_mode & (S_ISUID | S_ISGID)))
        why = "set-user-ID or set-group-ID: the dynamic linker ignores LD_PRELOAD for it";
    close(fd);
    return why;
}

/* Where execvp finds cmd (PATH as this process has it, which the command inherited). Returns a malloc'd path, or
 * NULL when not found. */
static char *find_command(const char *cmd)
{
    if (strchr(cmd, '/'))
        return realpath(cmd, NULL);
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char buf[PATH_MAX];
        struct stat st;
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
            return realpath(buf, NULL);
        if (!colon)
            return NULL;
        p = colon + 1;
    }
}

/* The markers left behind in the run's directory `dir`, the top-level command and incomplete dumps become the
 * report's `unchecked` entries. */
static void find_unchecked(const char *dir, scan_t *sc, const lwr_report_t *rep, const options_t *o, pid_t child,
                           int ws)
{
    char closed[PATH_MAX];
    for (size_t i = 0; i < sc->nmarkers; i++) {
        /* an image that exec'd leaks nothing: its start marker stands for the exec, which is named instead */
        const marker_t *x = &sc->markers[i];
        for (size_t j = 0; x->exec && j < sc->nmarkers; j++) {
            marker_t *m = &sc->markers[j];
            if (!m->exec && m->pid == x->pid && m->start == x->start)
                m->covered = true;
        }
    }
    for (size_t i = 0; i < sc->nmarkers; i++) {
        /* the parent writes a spawn marker after the child started: the child's own start marker or dump, whichever
         * came first, shows that the library ran there */
        marker_t *m = &sc->markers[i];
        for (size_t j = 0; m->spawn && !m->covered && j < sc->nmarkers; j++)
            m->covered = !sc->markers[j].spawn && sc->markers[j].pid == m->pid && sc->markers[j].start == m->start;
        for (size_t j = 0; m->spawn && !m->covered && j < sc->ndumps; j++)
            m->covered = sc->dumps[j].pid == m->pid;
    }
    bool child_seen = false;
    for (size_t i = 0; i < sc->nmarkers; i++) {
        const marker_t *m = &sc->markers[i];
        child_seen |= m->pid == child;
        if (m->covered)
            continue;
        char *file = m->exec || m->spawn ? find_command(m->what ? m->what : "") : NULL;
        const char *why = file ? why_untraced(file) : NULL;
        bool running = m->start && proc_start_time(m->pid) == m->start;
        free(file);
        if ((m->exec || m->spawn) && running) {
            add_unchecked(sc, m->pid, m->what, "still running when the command ended, in %s%s%s",
                          m->what ? m->what : "a program it executed", why ? ": " : "", why ? why : "");
        } else if (m->exec || m->spawn) {
            add_unchecked(sc, m->pid, m->what, "%s %s, which ran without libleakwatch.so: %s",
                          m->exec ? "it executed" : "posix_spawn started it as", m->what ? m->what : "a program",
                          why ? why : NEVER_STARTED);
        } else if (running) {
            add_unchecked(sc, m->pid, m->what, "still running when the command ended");
        } else if (m->pid == child && m->aside == 0 && WIFSIGNALED(ws)) {
            add_unchecked(sc, m->pid, m->what, "killed by signal %d (%s) before it wrote its exit dump", WTERMSIG(ws),
                          strsignal(WTERMSIG(ws)));
        } else if (m->uid >= 0 && lwr_closed_to_others(dir, closed, sizeof closed) == 1) {
            add_unchecked(sc, m->pid, m->what,
                          "it became user %ld, who cannot write its exit dump: %s is closed to other users", m->uid,
                          closed);
        } else {
            add_unchecked(sc, m->pid, m->what,
                          "it ended without writing its exit dump (killed by a signal, or it exited from several "
                          "threads at once)");
        }
    }
    for (size_t i = 0; i < rep->nprocesses; i++) {
        const lwr_process_t *p = &rep->processes[i];
        uint64_t records = p->lost_records + p->dropped;
        child_seen |= p->pid == child;
        char stacks[64] = "";
        if (p->lost_sites > 0)
            snprintf(stacks, sizeof stacks, ", %" PRIu64 " %s not stored", p->lost_sites,
                     p->lost_sites == 1 ? "stack" : "stacks");
        if (records > 0 || p->lost_sites > 0)
            add_unchecked(sc, p->pid, p->executable, "incomplete: %" PRIu64 " %s not recorded%s", records,
                          records == 1 ? "record" : "records", stacks);
        else if (p->sample_bytes > 0) /* an exit gate counts exactly: estimates are no check */
            add_unchecked(sc, p->pid, p->executable, "sampled (LEAKWATCH_SAMPLE=%" PRIu64 "): its heap leaks are "
                          "estimates, not an exact count", p->sample_bytes);
    }
    for (size_t i = 0; i < sc->nunchecked; i++)
        child_seen |= sc->unchecked[i].pid == child;
    if (!child_seen) {
        /* no marker and no dump of the command itself: the library never ran in it */
        char *path = find_command(o->cmd[0]);
        const char *why = why_untraced(path);
        if (WIFSIGNALED(ws))
            add_unchecked(sc, child, path ? path : o->cmd[0], "killed by signal %d (%s); %s", WTERMSIG(ws),
                          strsignal(WTERMSIG(ws)), why ? why : NEVER_STARTED);
        else
            add_unchecked(sc, child, path ? path : o->cmd[0], "%s", why ? why : NEVER_STARTED);
        free(path);
    }
}

static int cmp_unchecked(const void *a, const void *b)
{
    const lwr_unchecked_t *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void scan_free(scan_t *sc)
{
    for (size_t i = 0; i < sc->ndumps; i++)
        free(sc->dumps[i].name);
    free(sc->dumps);
    for (size_t i = 0; i < sc->nmarkers; i++)
        free(sc->markers[i].what);
    free(sc->markers);
    for (size_t i = 0; i < sc->nunchecked; i++) {
        free(sc->unchecked[i].executable);
        free(sc->unchecked[i].reason);
    }
    free(sc->unchecked);
}

/* Whether a start marker names a process that still runs (an orphan that has not finished yet, or a daemon). */
static bool any_running(const scan_t *sc)
{
    for (size_t i = 0; i < sc->nmarkers; i++)
        if (sc->markers[i].start && proc_start_time(sc->markers[i].pid) == sc->markers[i].start)
            return true;
    return false;
}

/* Whether every marker of `now` is one of `then`'s: the same file of the same process. */
static bool markers_within(const scan_t *now, const scan_t *then)
{
    for (size_t i = 0; i < now->nmarkers; i++) {
        const marker_t *m = &now->markers[i];
        bool found = false;
        for (size_t j = 0; j < then->nmarkers && !found; j++) {
            const marker_t *t = &then->markers[j];
            found = t->pid == m->pid && t->aside == m->aside && t->exec == m->exec && t->spawn == m->spawn
                    && t->start == m->start;
        }
        if (!found)
            return false;
    }
    return true;
}

static bool past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Lists the directory once the processes that outlived the command (a popen child finishing, a pipeline's last
 * stage, a process that escaped leakwatch's reaping through a subreaper of its own) have ended and written their
 * dumps, or `deadline` passed: a daemon is then named as still running. A process found ended after a listing may
 * have written its dump while that listing was read, so the listing kept is one taken after a check that found
 * every marked process ended, and holds no marker that check did not see: each of those processes wrote its dump,
 * if it ever did, before the listing began. */
static int scan_settled(const char *dir, scan_t *sc, const struct timespec *deadline)
{
    scan_t ended;   /* the last listing whose marked processes had all ended when checked, when have_ended */
    bool have_ended = false;
    for (;;) {
        if (scan_dir(dir, sc) != 0) {
            if (have_ended)
                scan_free(&ended);
            return -1;
        }
        bool settled = have_ended && markers_within(sc, &ended);
        if (have_ended)
            scan_free(&ended);
        if (settled || late_signal || past(deadline))
            return 0;
        have_ended = !any_running(sc);
        if (have_ended)
            ended = *sc;
        else
            scan_free(sc);
        memset(sc, 0, sizeof *sc);
        if (!have_ended)
            nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
}

/* Reaps the processes of the tree that outlived the command (orphans come to leakwatch, a subreaper) until none
 * is left or `deadline` passes. Each wrote its dump, if it did, before it could be reaped. */
static void reap_orphans(const struct timespec *deadline)
{
    while (!late_signal) {
        pid_t w = waitpid(-1, NULL, WNOHANG);
        if (w > 0)
            continue;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 || past(deadline))
            return;
        nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
    }
}

/* Reads the dumps and markers, prints the report, writes --json. Returns the gated leak count with *unchecked the
 * number of processes that could not be checked, or -1 when leakwatch failed (reported) or a signal stopped it. */
static int64_t report(const char *dir, const options_t *o, pid_t child, int wait_status, size_t *unchecked)
{
    lwr_dumplist_t dumps = { NULL, 0, 0 };
    scan_t sc;
    memset(&sc, 0, sizeof sc);
    *unchecked = 0;
    /* processes that outlive the command get a second to end */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 1;
    reap_orphans(&deadline);
    if (scan_settled(dir, &sc, &deadline) != 0) {
        scan_free(&sc);
        return -1;
    }
    load_dumps(dir, &sc, &dumps);
    if (o->keep_path[0] && !late_signal)
        keep_dumps(dir, &sc, &dumps, o->keep_path);
    if (late_signal || sc.oom) {
        if (sc.oom && !late_signal)
            fprintf(stderr, "leakwatch: out of memory\n");
        lwr_dumplist_free(&dumps);
        scan_free(&sc);
        return -1;
    }
    lwr_symbolizer_t *sym = lwr_sym_opts_symbolizer(&o->sym);
    if (!sym) {
        lwr_dumplist_free(&dumps);
        scan_free(&sc);
        return -1;
    }
    lwr_report_t *rep = lwr_report_build(dumps.v, dumps.n, sym);
    int logs = 0;
    if (rep && (o->log_path[0] || o->log_prefix))
        logs = lwr_write_logs(&dumps, sym, &o->ci, o->log_path[0] ? o->log_path : NULL, o->log_prefix);
    lwr_dumplist_free(&dumps);
    if (rep) {
        forget_gone_dumps(rep, o->keep_path);
        find_unchecked(dir, &sc, rep, o, child, wait_status);
    }
    if (!rep || sc.oom || late_signal || lwr_ci_apply(rep, &o->ci) != 0) {
        lwr_report_free(rep);
        lwr_symbolizer_free(sym);
        scan_free(&sc);
        if (!late_signal) /* a signal during the symbolizing: stop here, the caller raises it again */
            fprintf(stderr, "leakwatch: out of memory\n");
        return -1;
    }
    if (sc.nunchecked > 1)
        qsort(sc.unchecked, sc.nunchecked, sizeof *sc.unchecked, cmp_unchecked);
    rep->has_unchecked = true;
    rep->unchecked = sc.unchecked;   /* the report owns them now */
    rep->nunchecked = *unchecked = sc.nunchecked;
    sc.unchecked = NULL;
    sc.nunchecked = 0;
    scan_free(&sc);
    lwr_report_gate(rep, o->max_leaks, o->kinds, o->ci.gate_reachable, o->ci.baseline != NULL);

    /* the text goes out in one write, not in one a line: standard error is unbuffered, and a CI log reads it
     * through a pipe. Without memory for the text, it is rendered again straight to stderr. */
    char *text = NULL;
    size_t tlen = 0;
    FILE *mem = open_memstream(&text, &tlen);
    if (mem)
        lwr_render_text_limited(mem, rep, o->quiet, o->max_sites);
    if (mem && fclose(mem) == 0)
        fwrite(text, 1, tlen, stderr);
    else
        lwr_render_text_limited(stderr, rep, o->quiet, o->max_sites);
    free(text);
    if (WIFSIGNALED(wait_status))
        fprintf(stderr, "leakwatch: %s was killed by signal %d (%s)\n", o->cmd[0], WTERMSIG(wait_status),
                strsignal(WTERMSIG(wait_status)));
    else if (rep->gate.failed && o->leaks_keep_status)
        fprintf(stderr, "leakwatch: %" PRIu64 " %s%s, more than --max-leaks %" PRIu64 "; the exit status stays the "
                        "command's (LSAN_OPTIONS exitcode=0)\n",
                rep->gate.leaks, rep->gate.leaks == 1 ? "leak" : "leaks",
                rep->gate.has_baseline ? " not in the baseline" : "", o->max_leaks);
    else if (rep->gate.failed)
        fprintf(stderr, "leakwatch: %" PRIu64 " %s%s, more than --max-leaks %" PRIu64 "; exit status %d\n",
                rep->gate.leaks, rep->gate.leaks == 1 ? "leak" : "leaks",
                rep->gate.has_baseline ? " not in the baseline" : "", o->max_leaks, o->exit_code);
    else if (rep->nunchecked > 0)
        fprintf(stderr, "leakwatch: %zu %s could not be checked; %s\n", rep->nunchecked,
                rep->nunchecked == 1 ? "process" : "processes",
                o->allow_unchecked ? "accepted (--allow-unchecked)" : "exit status 24 (--allow-unchecked accepts it)");
    /* with -q too when the gate passed: the summary counts the baseline's leaks, and this says why they pass */
    if ((!o->quiet || !rep->gate.failed) && !WIFSIGNALED(wait_status) && rep->gate.has_baseline
        && rep->gate.baseline > 0)
        fprintf(stderr, "leakwatch: %" PRIu64 " %s in the baseline (%s), not counted\n", rep->gate.baseline,
                rep->gate.baseline == 1 ? "leak is" : "leaks are", o->ci.baseline);
    int64_t leaks = (int64_t)rep->gate.leaks;
    if (o->json) {
        int err = lwr_render_json_file(o->json, rep);
        if (err) {
            fprintf(stderr, "leakwatch: --json %s: %s\n", o->json, strerror(err));
            leaks = -1;
        }
    }
    if (lwr_ci_write_outputs(rep, &o->ci) != 0 || logs != 0)
        leaks = -1;
    lwr_report_free(rep);
    lwr_symbolizer_free(sym);
    return leaks;
}

static int run_command(options_t *op);

/* Applies what LSAN_OPTIONS maps to (README): leakwatch's own options take precedence. Returns 0, or -1 when
 * there is no room for one more suppression file (said). */
static int apply_lsan(options_t *o, const lwr_lsan_t *l)
{
    if (lwr_lsan_add_suppressions(l, &o->ci, "run") != 0)
        return -1;
    if (l->has_exitcode && !o->exit_code_given) {
        o->exit_code = l->exitcode;
        o->leaks_keep_status = l->exitcode == 0;
    }
    if (l->log_path && !o->log_dir)
        o->log_prefix = l->log_path;
    o->max_sites = l->max_leaks;
    return 0;
}

/* Checks every output path and prepares the directories before CMD starts: a path that cannot be written is
 * found now, not after the whole test suite ran. Returns 0 or LWR_EXIT_USAGE (said). */
static int check_outputs(options_t *o)
{
    const char *outs[][2] = { { "--json", o->json }, { "--sarif", o->ci.sarif }, { "--junit", o->ci.junit } };
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        if (outs[i][1] && lwr_check_output(outs[i][0], outs[i][1]) != 0)
            return LWR_EXIT_USAGE;
    const char *env = getenv("LEAKWATCH_DUMP_DIR");
    const char *keep = o->keep_dumps ? o->keep_dumps : env && env[0] ? env : NULL;
    if (keep && lwr_prepare_dir(o->keep_dumps ? "--keep-dumps" : "LEAKWATCH_DUMP_DIR", keep, o->keep_path,
                                sizeof o->keep_path) != 0)
        return LWR_EXIT_USAGE;
    if (o->log_dir && lwr_prepare_dir("--log-dir", o->log_dir, o->log_path, sizeof o->log_path) != 0)
        return LWR_EXIT_USAGE;
    return 0;
}

static int run_main(int argc, char **argv)
{
    options_t o = (options_t){ .exit_code = LWR_EXIT_LEAKS, .kinds = LWR_GATE_KINDS, .ci = LWR_CI_INIT };
    int status;
    if (parse(argc, argv, &o, &status) != 0) {
        lwr_ci_free(&o.ci);
        return status;
    }
    lwr_lsan_t lsan;
    if (lwr_lsan_parse(getenv("LSAN_OPTIONS"), &lsan) != 0) {
        fprintf(stderr, "leakwatch: out of memory\n");
        return LWR_EXIT_INTERNAL;
    }
    if (lsan.no_detect) {
        /* detect_leaks=0: the command runs as it would without leakwatch, as LeakSanitizer lets it */
        lwr_lsan_free(&lsan);
        fflush(NULL);
        execvp(o.cmd[0], o.cmd);
        int err = errno;
        fprintf(stderr, "leakwatch: %s: %s\n", lwr_show(o.cmd[0]),
                err == ENOENT && !strchr(o.cmd[0], '/') ? "command not found" : strerror(err));
        return err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG ? LWR_EXIT_NOTFOUND : LWR_EXIT_NOEXEC;
    }
    status = apply_lsan(&o, &lsan) != 0 ? LWR_EXIT_USAGE : check_outputs(&o);
    if (status == 0)
        status = lwr_ci_load("run", &o.ci);   /* bad suppressions or baseline: said before CMD runs */
    if (status == 0)
        status = run_command(&o);
    lwr_ci_free(&o.ci);
    lwr_lsan_free(&lsan);
    return status;
}

static int run_command(options_t *op)
{
    options_t o = *op;

    char *lib = lwr_find_library();
    if (!lib)
        return LWR_EXIT_INTERNAL;
    if (strpbrk(lib, " :")) {
        fprintf(stderr, "leakwatch: %s: LD_PRELOAD cannot name a path with a space or a colon\n", lib);
        free(lib);
        return LWR_EXIT_INTERNAL;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX + 32], closed[PATH_MAX];
    /* Dumps to keep are written beside where they stay: moving them there is a rename on one filesystem. But a
     * process that root's tree hands to another user (a server's workers) writes its dumps into the run's
     * directory too, so when others cannot pass through the keep directory they are written in TMPDIR and
     * copied. */
    if (o.keep_path[0] && (geteuid() != 0 || lwr_closed_to_others(o.keep_path, closed, sizeof closed) == 0))
        snprintf(dir, sizeof dir, "%s/.leakwatch-run.XXXXXX", o.keep_path);
    else
        snprintf(dir, sizeof dir, "%s/leakwatch.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "leakwatch: cannot create a directory %s: %s\n", dir, strerror(errno));
        free(lib);
        return LWR_EXIT_INTERNAL;
    }
    dump_dir_name = dir;
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "leakwatch: pipe: %s\n", strerror(errno));
        lwr_remove_dir(dir);
        free(lib);
        return LWR_EXIT_INTERNAL;
    }

    /* Signals are blocked across fork so that none is lost or handled before child_pid is known. */
    struct sigaction act, old[NFORWARDED];
    sigset_t block, oldmask;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = forward;
    act.sa_flags = SA_SIGINFO | SA_RESTART;
    /* one handler at a time: two late signals must see each other (the second one ends leakwatch) */
    sigemptyset(&act.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&act.sa_mask, forwarded[i]);
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &act, &old[i]);
    /* every process of the tree stays a descendant of leakwatch: one that outlives its parent is reaped here, so
     * the report waits for it to end and write its dump */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(errpipe[0]);
        child_t c = { lib, dir, old, &oldmask, errpipe[1], o.cmd };
        child(&c);
    }
    int fork_errno = errno;
    close(errpipe[1]);
    child_pid = pid > 0 ? pid : -1;
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    /* A reader that closed our stderr must not kill us before the JSON report is written, the temporary
     * directory removed and the status returned: writes then fail with EPIPE instead. Set after fork so that
     * the command keeps the disposition it was given. */
    struct sigaction ign, oldpipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &oldpipe);
    free(lib);
    if (pid < 0) {
        fprintf(stderr, "leakwatch: fork: %s\n", strerror(fork_errno));
        close(errpipe[0]);
        lwr_remove_dir(dir);
        return LWR_EXIT_INTERNAL;
    }

    int exec_err = 0;
    ssize_t got;
    do
        got = read(errpipe[0], &exec_err, sizeof exec_err);
    while (got < 0 && errno == EINTR);
    close(errpipe[0]);
    /* orphans of the tree are reaped here as they end, so that none stays a zombie while the command runs */
    int ws = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w == pid) {
            ws = st;
            break;
        }
        if (w < 0 && errno != EINTR)
            break;
    }
    sigprocmask(SIG_BLOCK, &block, NULL);
    child_pid = -1;
    sigprocmask(SIG_SETMASK, &oldmask, NULL);

    int rc;
    if (got == (ssize_t)sizeof exec_err) {
        fprintf(stderr, "leakwatch: %s: %s\n", o.cmd[0],
                exec_err == ENOENT && !strchr(o.cmd[0], '/') ? "command not found" : strerror(exec_err));
        rc = exec_err == ENOENT || exec_err == ENOTDIR || exec_err == ENAMETOOLONG ? LWR_EXIT_NOTFOUND
                                                                                  : LWR_EXIT_NOEXEC;
    } else {
        size_t unchecked = 0;
        int64_t leaks = report(dir, &o, pid, ws, &unchecked);
        rc = leaks < 0 ? LWR_EXIT_INTERNAL
                       : lwr_run_exit_status(ws, o.leaks_keep_status ? 0 : (uint64_t)leaks, o.max_leaks, o.exit_code);
        /* below a signal's 128+S and the leaks' 23: a process nobody checked is not a pass */
        if (leaks >= 0 && unchecked > 0 && !o.allow_unchecked && !WIFSIGNALED(ws) && (uint64_t)leaks <= o.max_leaks)
            rc = LWR_EXIT_UNCHECKED;
    }
    int err = lwr_remove_dir(dir);
    if (err)
        fprintf(stderr, "leakwatch: cannot remove %s: %s\n", dir, strerror(err));
    dump_dir_name = NULL;
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &old[i], NULL);
    sigaction(SIGPIPE, &oldpipe, NULL);
    if (late_signal) {
        /* Interrupted while reporting: die of the same signal, as the user asked. */
        signal(late_signal, SIG_DFL);
        raise(late_signal);
    }
    return rc;
}

const lwr_command_t lwr_cmd_run = {
    "run",
    "run a command under libleakwatch.so, report its leaks and gate on them",
    usage,
    run_main,
};

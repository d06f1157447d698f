/* Configuration from LEAKWATCH_* environment variables, read once at start; odd values get a warning and the
 * default, never a changed program. */
#include "internal.h"
#include "lsan.h"
#include "sys.h"

#include <dlfcn.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

lw_config_t lw_config = {
    .kinds = (1u << LW_KIND_COUNT) - 1,
    .depth = 32,
    .unwind = LW_UNWIND_LIBUNWIND,
    .report = LW_REPORT_TEXT,
    .freeres = true,
    .reach = LW_REACH_AT_EXIT,
};

static const char *const kind_names[LW_KIND_COUNT] = { "heap", "fd", "socket", "thread", "timer", "mmap" };

const char *lw_kind_name(lw_kind_t kind)
{
    return (unsigned)kind < LW_KIND_COUNT ? kind_names[kind] : "unknown";
}

int lw_parse_kinds(const char *s)
{
    int bits = 0;
    while (*s) {
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - s);
        int found = 0;
        if (n == 3 && strncasecmp(s, "all", 3) == 0) {
            bits |= (1 << LW_KIND_COUNT) - 1;
            found = 1;
        }
        for (int k = 0; k < LW_KIND_COUNT && !found; k++) {
            if (strlen(kind_names[k]) == n && strncasecmp(s, kind_names[k], n) == 0) {
                bits |= 1 << k;
                found = 1;
            }
        }
        if (!found && n > 0)
            return -1;
        s = *e ? e + 1 : e;
    }
    return bits;
}

/* Parses a decimal in [lo, hi]; returns 0 on success. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* LEAKWATCH_DUMP_INTERVAL: a decimal number of seconds (the old form, "30"), or a number followed by a unit as
 * the leakwatch command's durations take them, ms, s, m or h ("2000ms", "30s", "5m", "1h"); no sign, blank or
 * fraction. Dumps are scheduled in whole seconds (dumper.c), so the value must be one from 1 s to 365 days: "1500ms"
 * is refused rather than rounded. Returns 0 with the seconds in *out, or -1. */
static int parse_interval(const char *s, unsigned long *out)
{
    unsigned long long v = 0, ms_per_unit = 1000;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned long long)(*p - '0');
        if (v > 86400ull * 365 * 1000)
            return -1;
    }
    if (strcmp(p, "ms") == 0)
        ms_per_unit = 1;
    else if (strcmp(p, "m") == 0)
        ms_per_unit = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        ms_per_unit = 3600 * 1000;
    else if (*p && strcmp(p, "s") != 0)
        return -1;
    unsigned long long ms = v * ms_per_unit;
    if (ms % 1000 != 0 || ms < 1000 || ms > 86400ull * 365 * 1000)
        return -1;
    *out = (unsigned long)(ms / 1000);
    return 0;
}

/* The signals a dump may take over: ones that by default only end or are ignored by a program and that programs
 * rarely rely on, plus the real-time range. Everything else is the program's to fault, stop, die or reap children
 * with (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS, CHLD, KILL, STOP, CONT, TSTP, TTIN, TTOU, INT, TERM, ...), and glibc
 * keeps the two real-time signals below SIGRTMIN for its threads. */
static const struct {
    const char *name;
    int sig;
} dump_signals[] = { { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "HUP", SIGHUP }, { "PROF", SIGPROF },
                     { "WINCH", SIGWINCH }, { "URG", SIGURG }, { "PWR", SIGPWR } };
#define N_DUMP_SIGNALS (sizeof(dump_signals) / sizeof(dump_signals[0]))

static int dump_signal_ok(int sig)
{
    for (size_t i = 0; i < N_DUMP_SIGNALS; i++)
        if (dump_signals[i].sig == sig)
            return 1;
    return sig >= SIGRTMIN && sig <= SIGRTMAX;
}

int lw_parse_signal(const char *s)
{
    unsigned long v;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < N_DUMP_SIGNALS; i++)
        if (strcasecmp(s, dump_signals[i].name) == 0)
            return dump_signals[i].sig;
    if (strcasecmp(s, "RTMIN") == 0)
        return SIGRTMIN;
    if (strcasecmp(s, "RTMAX") == 0)
        return SIGRTMAX;
    if (strncasecmp(s, "RTMIN+", 6) == 0 && parse_uint(s + 6, 0, 64, &v) == 0 && (int)v <= SIGRTMAX - SIGRTMIN)
        return SIGRTMIN + (int)v;
    if (strncasecmp(s, "RTMAX-", 6) == 0 && parse_uint(s + 6, 0, 64, &v) == 0 && (int)v <= SIGRTMAX - SIGRTMIN)
        return SIGRTMAX - (int)v;
    /* a number is taken only when it is one of the signals above: 11 is refused as SEGV is */
    if (parse_uint(s, 1, 64, &v) == 0)
        return dump_signal_ok((int)v) ? (int)v : -2;
    if (*s) {
        for (int sig = 1; sig < SIGRTMIN; sig++) {
            const char *abbrev = sigabbrev_np(sig);
            if (abbrev && strcasecmp(s, abbrev) == 0)
                return -2;
        }
    }
    return -1;
}

/* The leakwatch command installed beside the library: build/lib -> build/bin, PREFIX/lib/leakwatch -> PREFIX/bin. */
static void find_cli(void)
{
    Dl_info info;
    /* Any object inside the library names it; a data address avoids converting a function pointer. */
    if (!dladdr(&lw_config, &info) || !info.dli_fname)
        return;
    char dir[sizeof(lw_config.cli)];
    lw_strlcpy(dir, info.dli_fname, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    static const char *const rel[] = { "/../bin/leakwatch", "/../../bin/leakwatch" };
    for (size_t i = 0; i < 2; i++) {
        char path[sizeof(lw_config.cli)];
        size_t n = lw_strlcpy(path, dir, sizeof(path));
        if (n + strlen(rel[i]) + 1 > sizeof(path))
            return;
        memcpy(path + n, rel[i], strlen(rel[i]) + 1);
        if (access(path, X_OK) == 0) {
            lw_strlcpy(lw_config.cli, path, sizeof(lw_config.cli));
            return;
        }
    }
}

/* LD_PRELOAD and the LEAKWATCH_* settings as they were at start, so that a program that execs with an
 * environment of its own (or after clearing ours) still runs its children under leakwatch. */
#define LW_SAVED_ENV 24
static char saved_env[LW_SAVED_ENV][1024];
static size_t nsaved_env;

/* The names of the other variables the process started with, as hashes: enough to tell an environment that was
 * edited (most of them still there) from one built afresh, without keeping pointers into memory the program may
 * reuse (setproctitle-style programs overwrite the strings of the initial environment). */
#define LW_START_NAMES 256
static uint32_t start_names[LW_START_NAMES];
static size_t nstart_names;

/* The library's own path as the dynamic linker loaded it, "" when unknown. */
static char lib_path[512];

static int is_leakwatch_var(const char *e)
{
    return strncmp(e, "LD_PRELOAD=", 11) == 0 || strncmp(e, "LEAKWATCH_", 10) == 0;
}

/* FNV-1a of the name of a NAME=VALUE entry. */
static uint32_t name_hash(const char *e)
{
    uint32_t h = 2166136261u;
    for (; *e && *e != '='; e++)
        h = (h ^ (unsigned char)*e) * 16777619u;
    return h;
}

static void save_env(void)
{
    extern char **environ;
    nsaved_env = 0;
    nstart_names = 0;
    for (char **e = environ; e && *e; e++) {
        if (!is_leakwatch_var(*e)) {
            if (nstart_names < LW_START_NAMES)
                start_names[nstart_names++] = name_hash(*e);
            continue;
        }
        if (nsaved_env < LW_SAVED_ENV && lw_strlcpy(saved_env[nsaved_env], *e, sizeof(saved_env[0])) < sizeof(saved_env[0]))
            nsaved_env++;
    }
    Dl_info info;
    lib_path[0] = '\0';
    if (dladdr(&lw_config, &info) && info.dli_fname)
        lw_strlcpy(lib_path, info.dli_fname, sizeof(lib_path));
}

static int env_has(char *const envp[], const char *entry)
{
    size_t name = (size_t)(strchr(entry, '=') - entry) + 1;
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, entry, name) == 0)
            return 1;
    return 0;
}

/* Whether an LD_PRELOAD value (entries separated by colons or blanks, as the dynamic linker reads it) still
 * loads leakwatch: an entry whose base name starts with "libleakwatch", or this library's own path. */
static int preload_names_us(const char *v)
{
    while (*v) {
        while (*v == ':' || *v == ' ' || *v == '\t')
            v++;
        const char *end = v, *base = v;
        while (*end && *end != ':' && *end != ' ' && *end != '\t') {
            if (*end == '/')
                base = end + 1;
            end++;
        }
        size_t n = (size_t)(end - v);
        if (end - base >= 12 && strncmp(base, "libleakwatch", 12) == 0)
            return 1;
        if (n > 0 && lib_path[0] && strlen(lib_path) == n && strncmp(v, lib_path, n) == 0)
            return 1;
        v = end;
    }
    return 0;
}

/* Whether envp, which lacks LD_PRELOAD, was edited from this process's environment (LD_PRELOAD removed on
 * purpose: unsetenv, `env -u`, a shell's unset) rather than cleared or built afresh (clearenv, `env -i`, an
 * execve with a small environment of its own): it still carries a LEAKWATCH_* variable, or more than half of the
 * other variables the process started with. */
static int env_edited(char *const envp[])
{
    uint64_t seen[LW_START_NAMES / 64] = { 0 };
    size_t kept = 0;
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, "LEAKWATCH_", 10) == 0)
            return 1;
        uint32_t h = name_hash(*e);
        for (size_t i = 0; i < nstart_names; i++) {
            if (start_names[i] == h && !(seen[i / 64] & (1ull << (i % 64)))) {
                seen[i / 64] |= 1ull << (i % 64);
                kept++;
                break;
            }
        }
    }
    return nstart_names > 0 && kept * 2 > nstart_names;
}

size_t lw_exec_env_size(char *const envp[])
{
    size_t n = 0;
    for (char *const *e = envp; e && *e; e++)
        n++;
    return n + nsaved_env + 1;
}

char *const *lw_exec_env(char *const envp[], char **out, size_t cap)
{
    const char *preload = NULL;
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) == 0)
            preload = *e + 11;
    /* The program's own choice stands: a preload list without us, or no LD_PRELOAD in an edited environment. A
     * program that re-execs itself until LD_PRELOAD is gone then ends as it does without leakwatch. */
    if (preload ? !preload_names_us(preload) : env_edited(envp))
        return envp;
    size_t n = 0, added = 0;
    for (char *const *e = envp; e && *e && n < cap; e++)
        out[n++] = *e;
    for (size_t i = 0; i < nsaved_env && n + 1 < cap; i++) {
        if (!env_has(envp, saved_env[i])) {
            out[n++] = saved_env[i];
            added++;
        }
    }
    if (!added || n >= cap)
        return envp;
    out[n] = NULL;
    return out;
}

void lw_config_load(void)
{
    save_env();
    const char *v;
    unsigned long n;

    if ((v = getenv("LEAKWATCH_KINDS")) && *v) {
        int bits = lw_parse_kinds(v);
        if (bits < 0)
            lw_warn("LEAKWATCH_KINDS=%s: unknown kind (use heap,fd,socket,thread,timer or all); tracking all", v);
        else
            lw_config.kinds = (unsigned)bits;
    }
    if ((v = getenv("LEAKWATCH_DEPTH")) && *v) {
        if (parse_uint(v, 1, LW_MAX_DEPTH, &n) == 0)
            lw_config.depth = (int)n;
        else
            lw_warn("LEAKWATCH_DEPTH=%s: expected 1 to %d; using %d", v, LW_MAX_DEPTH, lw_config.depth);
    }
    if ((v = getenv("LEAKWATCH_UNWIND")) && *v) {
        if (strcmp(v, "fp") == 0)
            lw_config.unwind = LW_UNWIND_FP;
        else if (strcmp(v, "libunwind") == 0 || strcmp(v, "default") == 0)
            lw_config.unwind = LW_UNWIND_LIBUNWIND;
        else
            lw_warn("LEAKWATCH_UNWIND=%s: expected libunwind or fp; using libunwind", v);
    }
    if ((v = getenv("LEAKWATCH_VERIFY")) && *v)
        lw_config.verify = strcmp(v, "0") != 0;
    if ((v = getenv("LEAKWATCH_REPORT")) && *v) {
        if (strcmp(v, "none") == 0)
            lw_config.report = LW_REPORT_NONE;
        else if (strcmp(v, "text") == 0)
            lw_config.report = LW_REPORT_TEXT;
        else
            lw_warn("LEAKWATCH_REPORT=%s: expected text or none; using text", v);
    }
    if ((v = getenv("LEAKWATCH_FREERES")) && *v)
        lw_config.freeres = strcmp(v, "0") != 0;
    if ((v = getenv("LEAKWATCH_REACHABILITY")) && *v) {
        if (strcmp(v, "never") == 0 || strcmp(v, "0") == 0)
            lw_config.reach = LW_REACH_NEVER;
        else if (strcmp(v, "exit") == 0)
            lw_config.reach = LW_REACH_AT_EXIT;
        else if (strcmp(v, "always") == 0)
            lw_config.reach = LW_REACH_EVERY_DUMP;
        else
            lw_warn("LEAKWATCH_REACHABILITY=%s: expected exit, always or never; using exit", v);
    }
    if ((v = getenv("LEAKWATCH_DUMP_DIR")) && *v) {
        if (lw_strlcpy(lw_config.dump_dir, v, sizeof(lw_config.dump_dir)) >= sizeof(lw_config.dump_dir)) {
            lw_warn("LEAKWATCH_DUMP_DIR is longer than %u bytes; dumps go to /tmp", (unsigned)sizeof(lw_config.dump_dir) - 1);
            lw_config.dump_dir[0] = '\0';
        }
    }
    if ((v = getenv("LEAKWATCH_DUMP_SIGNAL")) && *v) {
        int sig = lw_parse_signal(v);
        if (sig == -2)
            lw_warn("LEAKWATCH_DUMP_SIGNAL=%s: a signal the program needs for itself, not taken over (use USR1, "
                    "USR2, HUP, PROF, WINCH, URG, PWR or RTMIN+n); no signal dumps", v);
        else if (sig < 0)
            lw_warn("LEAKWATCH_DUMP_SIGNAL=%s: not a signal name or number; no signal dumps", v);
        else
            lw_config.dump_signal = sig;
    }
    if ((v = getenv("LEAKWATCH_DUMP_INTERVAL")) && *v) {
        if (parse_interval(v, &n) == 0)
            lw_config.dump_interval_s = (unsigned)n;
        else
            lw_warn("LEAKWATCH_DUMP_INTERVAL=%s: expected a duration of whole seconds from 1s to 365 days, as a "
                    "number and ms, s, m or h (30s, 5m, 1h, 2000ms) or plain seconds (30); no interval dumps", v);
    }
    if ((v = getenv("LEAKWATCH_SAMPLE")) && *v) {
        uint64_t bytes;
        if (lw_parse_sample(v, &bytes) == 0)
            lw_sample_mean = bytes;
        else
            lw_warn("LEAKWATCH_SAMPLE=%s: expected the mean bytes between sampled blocks (such as 524288 or 512K, "
                    "at most 1024G) or 0; recording every block", v);
    }
    if ((v = getenv("LEAKWATCH_CLI")) && *v)
        lw_strlcpy(lw_config.cli, v, sizeof(lw_config.cli));
    else
        find_cli();
    lw_lsan_load();
}

/* ---- LSAN_OPTIONS by hand --------------------------------------------------------------------------------- */

static int lsan_on;         /* LSAN_OPTIONS is set and not left to `leakwatch run` */
static int lsan_exitcode;   /* exitcode=N, 0 when absent */

/* The value of option `name` in LSAN_OPTIONS `opts` (separated by ':', ',' or blanks, as LeakSanitizer reads
 * them), copied into buf without quotes; the last one wins. Returns 1 when present. */
static int lsan_value(const char *opts, const char *name, char *buf, size_t cap)
{
    int found = 0;
    size_t n = strlen(name);
    for (const char *p = opts; *p;) {
        p += strspn(p, ":, \t\r\n");
        const char *start = p;
        p += strcspn(p, "=:, \t\r\n");
        int match = (size_t)(p - start) == n && strncmp(start, name, n) == 0;
        if (*p != '=') {
            continue;
        }
        p++;
        char q = *p == '\'' || *p == '"' ? *p++ : 0;
        const char *v = p;
        p = q ? (strchr(p, q) ? strchr(p, q) : p + strlen(p)) : p + strcspn(p, ":, \t\r\n");
        if (match) {
            size_t len = (size_t)(p - v) < cap - 1 ? (size_t)(p - v) : cap - 1;
            memcpy(buf, v, len);
            buf[len] = '\0';
            found = 1;
        }
        if (q && *p)
            p++;
    }
    return found;
}

void lw_lsan_load(void)
{
    const char *opts = getenv("LSAN_OPTIONS");
    const char *markers = getenv("LEAKWATCH_MARKERS");
    lsan_on = 0;
    lsan_exitcode = 0;
    if (!opts || !*opts || (markers && *markers))
        return;     /* nothing to map, or `leakwatch run` maps it for the whole tree */
    lsan_on = 1;
    char v[32];
    unsigned long n;
    const char *report = getenv("LEAKWATCH_REPORT");
    /* detect_leaks=0 stops the report at exit; LEAKWATCH_REPORT, leakwatch's own setting, wins */
    if (lsan_value(opts, "detect_leaks", v, sizeof v) && (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        && !(report && *report))
        lw_config.report = LW_REPORT_NONE;
    if (lsan_value(opts, "exitcode", v, sizeof v) && parse_uint(v, 0, 255, &n) == 0)
        lsan_exitcode = (int)n;
}

int lw_lsan_active(void)
{
    return lsan_on;
}

void lw_lsan_exit(int report_status, int flush)
{
    if (!lsan_on || lsan_exitcode == 0 || report_status != lsan_exitcode)
        return;
    if (flush)
        fflush(NULL);   /* exit would still have flushed it */
    lw_syscall(SYS_exit_group, lsan_exitcode);
}

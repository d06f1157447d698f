/* `leakwatch dump PID`: asks a running process under the library for a dump now, with the signal the library
 * uses there, and waits for the dump file to appear. */
#include "cli.h"
#include "procinfo.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <strings.h>
#include <time.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char usage[] =
    "Usage: leakwatch dump [--dir DIR] [--timeout SECONDS] PID\n"
    "\n"
    "Asks the running process PID (started under the library, or attached with `leakwatch attach`) for a dump\n"
    "now and waits until it is written; prints the dump's path. The signal is the one the library uses in that\n"
    "process: named by its dump thread (`leakwatch-sN`), else LEAKWATCH_DUMP_SIGNAL in its environment, else\n"
    "its parent's (a worker that has not dumped yet). It goes to the dump thread alone, so no thread of the\n"
    "program is interrupted. Nothing is kept open in the process between dumps.\n"
    "\n"
    "  --dir DIR            where the process writes its dumps (default: LEAKWATCH_DUMP_DIR in its environment,\n"
    "                       else $TMPDIR or /tmp); its leakwatch-<uid> and uid-<uid> directories are looked in too\n"
    "  --timeout SECONDS    how long to wait for the dump (default 30; 3 when the process's environment no longer\n"
    "                       says where it writes and --dir is not given)\n"
    "\n"
    "Exit status: 0; 1 when the process has no dump signal, cannot be signalled, or wrote no dump in time;\n"
    "2 on a usage error.\n";

typedef struct {
    const char *dir;
    uint64_t timeout_s;
    bool timeout_given;
} dump_opts_t;

/* The wait without --timeout for a process whose environment no longer names its directory: its dump is most
 * likely elsewhere, and a dump takes well under a second to appear where it is. */
#define ENV_LOST_TIMEOUT_S 3

static int take_option(const char *cmd, int argc, char **argv, int *i, void *opts)
{
    dump_opts_t *o = opts;
    const char *v;
    int r;
    if ((r = lwr_take_option(cmd, argc, argv, i, "--dir", &v)) != 0) {
        if (r > 0)
            o->dir = v;
        return r;
    }
    if ((r = lwr_take_option(cmd, argc, argv, i, "--timeout", &v)) != 0) {
        if (r > 0 && (lwr_parse_uint(v, 86400, &o->timeout_s) != 0 || o->timeout_s == 0)) {
            lwr_usage_error(cmd, "--timeout takes whole seconds from 1 to 86400, not '%s'", v);
            return -1;
        }
        o->timeout_given = r > 0;
        return r;
    }
    return 0;
}

/* Whether the library takes sig for dumps (tracker/config.c): USR1, USR2, HUP, PROF, WINCH, URG, PWR and the
 * real-time range; any other one it refuses, and sending it would fault, stop or end the program. */
static int dump_signal_ok(int sig)
{
    return sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGHUP || sig == SIGPROF || sig == SIGWINCH || sig == SIGURG ||
           sig == SIGPWR || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

/* A LEAKWATCH_DUMP_SIGNAL value as this machine numbers it (the library takes the same forms); 0 if unknown or
 * one the library does not take. */
static int signal_value(const char *v);

static int signal_number(const char *v)
{
    int sig = signal_value(v);
    return dump_signal_ok(sig) ? sig : 0;
}

static int signal_value(const char *v)
{
    uint64_t k;
    if (strncasecmp(v, "SIG", 3) == 0)
        v += 3;
    if (lwr_parse_uint(v, 64, &k) == 0)
        return (int)k;
    if (strncasecmp(v, "RTMIN", 5) == 0 || strncasecmp(v, "RTMAX", 5) == 0) {
        int base = toupper((unsigned char)v[4]) == 'N' ? SIGRTMIN : SIGRTMAX, sign = base == SIGRTMIN ? 1 : -1;
        if (!v[5])
            return base;
        if (v[5] == (sign > 0 ? '+' : '-') && lwr_parse_uint(v + 6, 64, &k) == 0)
            return base + sign * (int)k;
        return 0;
    }
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && strcasecmp(v, abbrev) == 0)
            return sig;
    }
    return 0;
}

static long parent_of(long pid)
{
    char st[1024];
    if (lwr_read_proc(pid, "stat", st, sizeof st) <= 0)
        return -1;
    const char *p = strrchr(st, ')'); /* the command name may hold spaces and parentheses */
    long ppid = -1;
    return p && sscanf(p + 1, " %*c %ld", &ppid) == 1 ? ppid : -1;
}

/* The process's dump signal: its dump thread's (that thread's id into *tid), its environment's, or the nearest
 * ancestor's (a forked worker whose thread has not started yet). 0 when none says. */
static int dump_signal_of(long pid, long *tid)
{
    *tid = 0;
    for (int up = 0; up < 8 && pid > 1; up++, pid = parent_of(pid)) {
        char v[64];
        int sig = lwr_dump_thread_signal(pid, up == 0 ? tid : NULL);
        if (sig <= 0) {
            *tid = 0;
            sig = 0;
        }
        if (!sig && lwr_environ_value(pid, "LEAKWATCH_DUMP_SIGNAL", v, sizeof v) == 0)
            sig = signal_number(v);
        if (sig)
            return sig;
    }
    return 0;
}

/* The highest dump number of pid in the directories the process may write to; the path of it into path. */
static long newest_dump(char dirs[][4200], int ndirs, long pid, char *path, size_t cap)
{
    long best = 0;
    for (int i = 0; i < ndirs; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            long p, seq;
            char tail[8];
            if (sscanf(e->d_name, "leakwatch.%ld.%ld.%7s", &p, &seq, tail) == 3 && p == pid && strcmp(tail, "json") == 0
                && seq > best) {
                best = seq;
                snprintf(path, cap, "%s/%s", dirs[i], e->d_name);
            }
        }
        if (d)
            closedir(d);
    }
    return best;
}

static int dump_main(int argc, char **argv)
{
    dump_opts_t o = { NULL, 30, false };
    int first;
    int status = lwr_parse_options("dump", usage, argc, argv, take_option, &o, &first);
    if (status >= 0)
        return status;
    long pid;
    if ((status = lwr_pid_operand("dump", argc, argv, first, &pid)) != 0)
        return status;
    long euid, named; /* named: the pid in the dumps' names, the one it has in its own pid namespace */
    if (lwr_proc_ids(pid, &euid, &named) != 0) {
        fprintf(stderr, "leakwatch dump: no process %ld\n", pid);
        return 1;
    }
    long tid;
    int sig = dump_signal_of(pid, &tid);
    if (!sig) {
        fprintf(stderr, "leakwatch dump: process %ld has no dump signal: it runs without the library, or without "
                        "LEAKWATCH_DUMP_SIGNAL (start it with one, or use `leakwatch attach`)\n", pid);
        return 1;
    }
    char base[4096], dirs[3][4200], probe[64];
    const char *tmp = getenv("TMPDIR");
    /* a program that rewrites its environment's memory (nginx's process titles) no longer shows where it
     * writes; then only --dir can say */
    int env_lost = !o.dir && lwr_environ_value(pid, "LEAKWATCH_DUMP_SIGNAL", probe, sizeof probe) != 0
                   && lwr_environ_value(pid, "LEAKWATCH_DUMP_INTERVAL", probe, sizeof probe) != 0
                   && lwr_environ_value(pid, "LD_PRELOAD", probe, sizeof probe) != 0;
    if (env_lost && !o.timeout_given)
        o.timeout_s = ENV_LOST_TIMEOUT_S;
    if (o.dir)
        snprintf(base, sizeof base, "%s", o.dir);
    else if (lwr_environ_value(pid, "LEAKWATCH_DUMP_DIR", base, sizeof base) != 0) {
        /* the library's default: the process's temporary directory */
        if (lwr_environ_value(pid, "TMPDIR", base, sizeof base) != 0 || base[0] != '/')
            snprintf(base, sizeof base, "%s", tmp && *tmp ? tmp : "/tmp");
    } else if (base[0] != '/') {
        /* relative to the process's working directory (as it is now: one that changes it is not followed) */
        char cwdlink[64], cwd[4096], rel[4096];
        snprintf(cwdlink, sizeof cwdlink, "/proc/%ld/cwd", pid);
        ssize_t n = readlink(cwdlink, cwd, sizeof cwd - 1);
        if (n > 0) {
            cwd[n] = '\0';
            snprintf(rel, sizeof rel, "%s", base);
            snprintf(base, sizeof base, "%.2000s/%.2000s", cwd, rel);
        }
    }
    /* the directory as the process sees it (through its root: a process in a container of its own); when it
     * is not there, nothing is signalled, since the process could not write a dump */
    struct stat st;
    char seen[4200];
    snprintf(seen, sizeof seen, "/proc/%ld/root%s", pid, base);
    int gone = 0;
    if (base[0] == '/' && stat(seen, &st) != 0)
        gone = errno == ENOENT || errno == ENOTDIR ? errno : 0; /* unreadable (another user's root): try it */
    else if (base[0] == '/' && !S_ISDIR(st.st_mode))
        gone = ENOTDIR;
    if (gone) {
        fprintf(stderr, "leakwatch dump: %s: %s: process %ld cannot write its dumps there%s\n", base,
                gone == ENOENT ? strerror(gone) : "not a directory", pid,
                o.dir ? "" : " (give the directory it writes to with --dir)");
        return 1;
    }
    /* A process in a mount namespace of its own (a container) writes where only its root shows */
    char root[64];
    lwr_proc_root(pid, root, sizeof root);
    snprintf(dirs[0], sizeof dirs[0], "%s%s", root, base);
    snprintf(dirs[1], sizeof dirs[1], "%s%s/leakwatch-%ld", root, base, euid);
    snprintf(dirs[2], sizeof dirs[2], "%s%s/uid-%ld", root, base, euid);
    char path[4300] = "";
    long before = newest_dump(dirs, 3, named, path, sizeof path);
    /* to the dump thread alone, where the signal waits until the thread takes it: no thread of the program is
     * interrupted (a process without that thread yet gets it as a process, and its handler passes it on) */
    /* a thread gone meanwhile (an exec) leaves the process to signal */
    if ((tid > 0 && syscall(SYS_tgkill, pid, tid, sig) == 0 ? 0 : kill((pid_t)pid, sig)) != 0) {
        fprintf(stderr, "leakwatch dump: cannot signal process %ld: %s\n", pid, strerror(errno));
        return 1;
    }
    struct timespec tick = { 0, 20 * 1000 * 1000 };
    for (uint64_t waited = 0; waited < o.timeout_s * 1000; waited += 20) {
        if (newest_dump(dirs, 3, named, path, sizeof path) > before) {
            printf("%s\n", path);
            return fflush(stdout) == 0 ? 0 : 1;
        }
        nanosleep(&tick, NULL);
    }
    char name[32];
    if (sig >= SIGRTMIN)
        snprintf(name, sizeof name, "RTMIN+%d", sig - SIGRTMIN);
    else
        snprintf(name, sizeof name, "%s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    fprintf(stderr, "leakwatch dump: process %ld wrote no dump in %s within %ld s of signal %d (%s): is that the "
                    "directory it writes to (--dir)? has the program taken the signal over (its stderr says so)?\n",
            pid, base, (long)o.timeout_s, sig, name);
    if (tid <= 0)
        fprintf(stderr, "leakwatch dump: process %ld has no dump thread yet: a forked worker starts it at its next "
                        "allocation or open, and writes the dump then\n", pid);
    if (env_lost)
        fprintf(stderr, "leakwatch dump: the process's environment no longer names its dump directory (the program "
                        "rewrote it, as nginx does for its process titles, or it was attached): give it with --dir\n");
    return 1;
}

const lwr_command_t lwr_cmd_dump = {
    "dump",
    "ask a running process under the library for a dump now",
    usage,
    dump_main,
};

/* `leakwatch attach PID`: loads the library into a running process with ptrace (a call of its dlopen, the way
 * heaptrack injects itself through gdb), with the dump settings of this command's own environment, and lets the
 * process go on; the library then tracks from that moment and writes dumps on the signal, on the interval and
 * for `leakwatch dump`. */
#include "cli.h"
#include "inject.h"
#include "procinfo.h"

#include <dlfcn.h>
#include <sys/uio.h>

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

static const char usage[] =
    "Usage: leakwatch attach PID\n"
    "\n"
    "Loads the library into the running process PID with ptrace (its main thread stops while dlopen runs),\n"
    "and returns once it tracks and its dump thread runs: heap, descriptors, sockets, threads and timers\n"
    "acquired from then on. What was acquired before is not known (dumps say so in `attached`), and its\n"
    "release is no error. The process's calls are rebound to the library's wrappers in every loaded module;\n"
    "programs it executes are not traced.\n"
    "\n"
    "Settings come from this command's environment, as the library reads them: LEAKWATCH_DUMP_DIR (default\n"
    "$TMPDIR or /tmp), LEAKWATCH_DUMP_SIGNAL (default RTMIN+3, so that `leakwatch dump` works),\n"
    "LEAKWATCH_DUMP_INTERVAL, LEAKWATCH_REPORT (default none: nothing printed on the program's stderr at exit),\n"
    "LEAKWATCH_KINDS, LEAKWATCH_DEPTH, LEAKWATCH_UNWIND, LEAKWATCH_REACHABILITY; LEAKWATCH_LIB names the\n"
    "library. They are set in the process only for the load and removed after it.\n"
    "\n"
    "Needs the right to trace the process (its user with Yama's ptrace_scope 0, or root), and the process must\n"
    "run on this machine's C library (not a static binary, not a container's own libc).\n"
    "\n"
    "Exit status: 0 once the process is tracked; 1 when it could not be (no such process, tracing\n"
    "refused, the library already there or not loadable); 2 on a usage error.\n";

/* Settings passed into the process: name, default when this command's environment lacks it (NULL: none). */
static const struct {
    const char *name;
    const char *dflt;
} settings[] = {
    { "LEAKWATCH_DUMP_SIGNAL", "RTMIN+3" }, { "LEAKWATCH_DUMP_INTERVAL", NULL }, { "LEAKWATCH_REPORT", "none" },
    { "LEAKWATCH_KINDS", NULL },            { "LEAKWATCH_DEPTH", NULL },         { "LEAKWATCH_UNWIND", NULL },
    { "LEAKWATCH_REACHABILITY", NULL },     { "LEAKWATCH_FREERES", NULL },       { "LEAKWATCH_CLI", NULL },
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

#define DUMP_THREAD_WAIT_MS 5000 /* how long the loaded library's dump thread gets to appear */

/* In the stopped process: setenv each setting, dlopen the library (its constructor rebinds the process's calls
 * and starts the dump thread), unsetenv the settings again. Returns 0, or -1 with the reason in err. */
static int load_library(pid_t pid, const char *lib, const char *const *names, const char *const *values, size_t n,
                        char *err, size_t errlen)
{
    lwr_inject_t *in;
    if (lwr_inject_begin(pid, &in, err, errlen) != 0)
        return -1;
    uintptr_t set = lwr_inject_libc(in, "setenv"), unset = lwr_inject_libc(in, "unsetenv"),
              open = lwr_inject_libc(in, "dlopen"), dlerr = lwr_inject_libc(in, "dlerror"), r = 0;
    int e = 0, failed = !set || !unset || !open || !dlerr;
    if (failed)
        snprintf(err, errlen, "setenv, unsetenv, dlopen or dlerror not found in the C library");
    for (size_t i = 0; i < n && !failed; i++) {
        const char *s[3] = { names[i], values[i], NULL };
        uintptr_t v[3] = { 0, 0, 1 };
        if ((e = lwr_inject_call(in, set, s, v, 3, &r)) != 0 || (int)r != 0) {
            snprintf(err, errlen, "setenv(%s) in the process failed: %s", names[i], e ? strerror(e) : "-1");
            failed = 1;
        }
    }
    if (!failed) {
        const char *s[2] = { lib, NULL };
        uintptr_t v[2] = { 0, RTLD_NOW };
        if ((e = lwr_inject_call(in, open, s, v, 2, &r)) != 0) {
            snprintf(err, errlen, "the call of dlopen failed: %s", strerror(e));
            failed = 1;
        } else if (r == 0) {
            /* dlerror's message lives in the process: read it from there */
            uintptr_t msg = 0;
            char text[400] = "";
            if (lwr_inject_call(in, dlerr, NULL, NULL, 0, &msg) == 0 && msg) {
                struct iovec l = { text, sizeof text - 1 }, rm = { (void *)msg, sizeof text - 1 };
                if (process_vm_readv(pid, &l, 1, &rm, 1, 0) < 0)
                    text[0] = '\0';
                text[sizeof text - 1] = '\0';
            }
            snprintf(err, errlen, "dlopen: %s", text[0] ? text : "failed");
            failed = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *s[1] = { names[i] };
        lwr_inject_call(in, unset, s, NULL, 1, &r);
    }
    if ((e = lwr_inject_end(in)) != 0 && !failed) {
        snprintf(err, errlen, "could not let the process go on: %s", strerror(e));
        failed = 1;
    }
    return failed ? -1 : 0;
}

static int private_dir_of(const char *path, long uid)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (long)st.st_uid == uid && (st.st_mode & 07777) == 0700;
}

/* dir into out, or, when others may write it and it is sticky (/tmp), the private directory the library makes
 * for user euid in it, dir/leakwatch-EUID. */
static void in_shared(char *out, size_t cap, const char *dir, const struct stat *st, long euid)
{
    if ((st->st_mode & S_ISVTX) && (st->st_mode & (S_IWGRP | S_IWOTH)))
        snprintf(out, cap, "%s/leakwatch-%ld", dir, euid);
    else
        snprintf(out, cap, "%s", dir);
}

/* The directory the dumps of a process running as user `euid` land in, into out, as the library picks it: `dir`
 * when that user owns it (or is root), else that user's private directory in it, dir/uid-EUID, when there is one,
 * else `dir` again when others may write it; in a sticky directory others write (/tmp), the library's directory of
 * that user in it (in_shared). A dump directory private to root gets that user's directory
 * made here (a worker of a server that dropped its privileges), as the library makes it for a process that changes
 * user. 0, or -1 with the reason in err. */
static int dump_dir_of_user(const char *dir, long euid, char *out, size_t cap, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    if (euid == 0 || (long)st.st_uid == euid) {
        in_shared(out, cap, dir, &st, euid);
        return 0;
    }
    snprintf(out, cap, "%s/uid-%ld", dir, euid);
    if (private_dir_of(out, euid))
        return 0;
    if (st.st_mode & S_IWOTH) {
        in_shared(out, cap, dir, &st, euid);
        return 0;
    }
    if (geteuid() == 0 && st.st_uid == 0) {
        char tmp[4500];
        snprintf(tmp, sizeof tmp, "%s.new-%ld", out, (long)getpid());
        /* made whole under a name of its own, then renamed into place: the process may be making it too */
        if (mkdir(tmp, 0700) == 0 && (chown(tmp, (uid_t)euid, (gid_t)-1) != 0
                                      || renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) != 0))
            rmdir(tmp);
        if ((st.st_mode & 07777) == 0700)
            chmod(dir, 0711); /* the user passes through the dump directory, and neither lists nor writes it */
        if (private_dir_of(out, euid))
            return 0;
    }
    snprintf(err, errlen, "the process runs as user %ld, who cannot write its dumps into %s (attach as root, or set "
                          "LEAKWATCH_DUMP_DIR to a directory that user may write)", euid, dir);
    return -1;
}

/* attach has no options of its own: every other argument is an operand or an unknown option */
static int no_options(const char *cmd, int argc, char **argv, int *i, void *opts)
{
    (void)cmd;
    (void)argc;
    (void)argv;
    (void)i;
    (void)opts;
    return 0;
}

static int attach_main(int argc, char **argv)
{
    int first;
    int status = lwr_parse_options("attach", usage, argc, argv, no_options, NULL, &first);
    if (status >= 0)
        return status;
    long pid;
    if ((status = lwr_pid_operand("attach", argc, argv, first, &pid)) != 0)
        return status;
    char procdir[64];
    snprintf(procdir, sizeof procdir, "/proc/%ld", pid);
    if (access(procdir, F_OK) != 0) {
        fprintf(stderr, "leakwatch attach: no process %ld\n", pid);
        return 1;
    }
    if (lwr_maps_contain(pid, "libleakwatch")) {
        fprintf(stderr, "leakwatch attach: process %ld already runs with leakwatch; ask it for a dump with "
                        "`leakwatch dump %ld` (with --dir DIR when it was attached, or rewrote its environment)\n",
                pid, pid);
        return 1;
    }
    char *lib = lwr_find_library();
    if (!lib)
        return 1;
    /* the dump directory as the process will see it: absolute, and existing */
    const char *dir = getenv("LEAKWATCH_DUMP_DIR"), *tmp = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = tmp && *tmp ? tmp : "/tmp";
    char *absdir = realpath(dir, NULL);
    struct stat sb;
    if (!absdir || stat(absdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "leakwatch attach: LEAKWATCH_DUMP_DIR=%s: %s\n", dir, absdir ? "not a directory" : strerror(errno));
        free(absdir);
        free(lib);
        return 1;
    }

    char where[4400], why[600];
    long euid, nspid;
    if (lwr_proc_ids(pid, &euid, &nspid) != 0 || euid < 0) {
        fprintf(stderr, "leakwatch attach: cannot read the user of process %ld\n", pid);
        free(absdir);
        free(lib);
        return 1;
    }
    if (dump_dir_of_user(absdir, euid, where, sizeof where, why, sizeof why) != 0) {
        fprintf(stderr, "leakwatch attach: %s\n", why);
        free(absdir);
        free(lib);
        return 1;
    }

    const char *names[NSETTINGS + 2], *values[NSETTINGS + 2];
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%ld", (long)time(NULL));
    size_t nset = 0;
    names[nset] = "LEAKWATCH_ATTACH";
    values[nset++] = stamp;
    names[nset] = "LEAKWATCH_DUMP_DIR";
    values[nset++] = absdir;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *v = getenv(settings[i].name);
        if ((v && *v) || settings[i].dflt) {
            names[nset] = settings[i].name;
            values[nset++] = v && *v ? v : settings[i].dflt;
        }
    }
    char err[512] = "";
    int failed = load_library((pid_t)pid, lib, names, values, nset, err, sizeof err);
    if (failed || !lwr_maps_contain(pid, "libleakwatch")) {
        fprintf(stderr, "leakwatch attach: could not load %s into process %ld: %s\n", lib, pid,
                err[0] ? err : "it is not mapped after the load");
        free(absdir);
        free(lib);
        return 1;
    }
    /* dlopen returns before the dump thread has named itself, and the name is what `leakwatch dump` looks for
     * once the settings have left the environment: tracking is announced once the thread is there */
    int named = 0;
    struct timespec tick = { 0, 10 * 1000 * 1000 };
    for (int tries = 0; tries < DUMP_THREAD_WAIT_MS / 10; tries++) {
        if ((named = lwr_dump_thread_signal(pid, NULL) >= 0))
            break;
        if (access(procdir, F_OK) != 0) {
            fprintf(stderr, "leakwatch attach: process %ld ended right after the load\n", pid);
            free(absdir);
            free(lib);
            return 1;
        }
        nanosleep(&tick, NULL);
    }
    if (!named)
        fprintf(stderr, "leakwatch attach: process %ld shows no dump thread after %d s: `leakwatch dump` cannot ask "
                        "it for dumps (the process's stderr says why)\n", pid, DUMP_THREAD_WAIT_MS / 1000);
    const char *sig = getenv("LEAKWATCH_DUMP_SIGNAL"), *interval = getenv("LEAKWATCH_DUMP_INTERVAL");
    printf("leakwatch attach: tracking pid %ld from now on; what it acquired before is not known\n"
           "dumps go to %s: `leakwatch dump --dir %s %ld`, signal %s", pid, where, absdir,
           pid, sig && *sig ? sig : "RTMIN+3");
    if (interval && *interval)
        /* plain seconds, or a duration with its unit (LEAKWATCH_DUMP_INTERVAL=5m) */
        printf(", every %s%s", interval, interval[strspn(interval, "0123456789")] ? "" : " s");
    printf("\n");
    free(absdir);
    free(lib);
    return fflush(stdout) == 0 ? 0 : 1;
}

const lwr_command_t lwr_cmd_attach = {
    "attach",
    "start tracking a running process and leave it running",
    usage,
    attach_main,
};

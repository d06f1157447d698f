/* Calls functions of the C library inside another running process, with ptrace: one thread is stopped, its
 * registers saved, the call made on its stack (below the red zone) with a return to address 0, whose fault
 * brings the thread back to us, and its registers and vector state put back, so that an interrupted system call
 * restarts and code stopped between two instructions goes on as it was. */
#include "inject.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

struct lwr_inject {
    pid_t pid;
    struct user_regs_struct saved;
    struct user_fpregs_struct fpsaved;
    int have_fp;
    /* the whole extended state (AVX, AVX-512, AMX: 11 KB on this machine), which the calls clobber; the legacy
     * FXSAVE part alone when the kernel does not give it */
    unsigned char xstate[64 * 1024];
    size_t xstate_len;
    uintptr_t libc_delta; /* the process's libc base minus ours */
};

/* The load address of the mapping at offset 0 of the file with inode `ino` in process pid (0: not mapped). */
static uintptr_t base_of(pid_t pid, ino_t ino)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    uintptr_t base = 0;
    while (f && !base && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, inode;
        char perms[8], dev[16];
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev, &inode) == 6 && off == 0
            && inode == (unsigned long)ino)
            base = lo;
    }
    if (f)
        fclose(f);
    return base;
}

/* Whether address pc lies in the C library (the file with inode libc_ino) or the dynamic linker in process pid. */
static int in_runtime(pid_t pid, uintptr_t pc, ino_t libc_ino)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    int in = 0, found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, inode;
        char perms[8], dev[16];
        int name = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms, &off, dev, &inode, &name) < 6
            || pc < lo || pc >= hi)
            continue;
        found = 1;
        in = inode == (unsigned long)libc_ino || (name && strstr(line + name, "/ld-linux"));
    }
    if (f)
        fclose(f);
    return in;
}

static int wait_stop(pid_t pid, int *sig)
{
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, __WALL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (WIFEXITED(st) || WIFSIGNALED(st))
            return ESRCH;
        if (WIFSTOPPED(st)) {
            *sig = WSTOPSIG(st);
            return 0;
        }
    }
}

/* Stops the traced thread again with a SIGSTOP of our own, letting any other signal through to it. */
static int stop_again(pid_t pid)
{
    int sig = 0, e;
    if (syscall(SYS_tgkill, pid, pid, SIGSTOP) != 0)
        return errno;
    while ((e = wait_stop(pid, &sig)) == 0 && sig != SIGSTOP)
        if (ptrace(PTRACE_CONT, pid, NULL, (void *)(uintptr_t)sig) != 0)
            return errno;
    return e;
}

/* Lets the stopped main thread run on until it is stopped at a point where it holds none of the C library's or
 * the dynamic linker's locks, as far as can be told: dlopen allocates and takes the loader's lock, and a thread
 * stopped inside malloc or dlopen would wait on itself for ever. Such a point is one outside both, or a system
 * call the thread blocks in (what services wait in: epoll_wait, accept, read, a futex). Returns 0, or an errno
 * value (EBUSY: no such point within about two seconds). */
static int reach_safe_point(pid_t pid, ino_t libc_ino, struct user_regs_struct *regs)
{
    for (int tries = 0;; tries++) {
        if (ptrace(PTRACE_GETREGS, pid, NULL, regs) != 0)
            return errno;
        int in_call = (long)regs->orig_rax >= 0; /* stopped inside a system call, not between instructions */
        if (in_call || !in_runtime(pid, regs->rip, libc_ino))
            return 0;
        if (tries == 1000)
            return EBUSY;
        if (ptrace(PTRACE_CONT, pid, NULL, NULL) != 0)
            return errno;
        struct timespec pause = { 0, 2000000 };
        nanosleep(&pause, NULL);
        int e = stop_again(pid);
        if (e)
            return e;
    }
}

int lwr_inject_begin(pid_t pid, lwr_inject_t **out, char *err, size_t errlen)
{
    Dl_info self;
    void *sym = dlsym(RTLD_DEFAULT, "setenv");
    struct stat sb;
    if (!sym || !dladdr(sym, &self) || !self.dli_fname || stat(self.dli_fname, &sb) != 0) {
        snprintf(err, errlen, "cannot find this program's own C library");
        return -1;
    }
    uintptr_t theirs = base_of(pid, sb.st_ino);
    if (!theirs) {
        snprintf(err, errlen, "process %d does not run on this machine's C library (%s): a static binary, or in a "
                              "container with its own", (int)pid, self.dli_fname);
        return -1;
    }
    lwr_inject_t *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    in->pid = pid;
    in->libc_delta = theirs - (uintptr_t)self.dli_fbase;
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) != 0) {
        snprintf(err, errlen, "ptrace: %s%s", strerror(errno),
                 errno == EPERM ? " (run as the process's user or root; Yama's ptrace_scope must allow it)" : "");
        free(in);
        return -1;
    }
    int sig = 0, e;
    /* the attach's SIGSTOP; any other signal that comes first is kept for the thread */
    while ((e = wait_stop(pid, &sig)) == 0 && sig != SIGSTOP)
        ptrace(PTRACE_CONT, pid, NULL, (void *)(uintptr_t)sig);
    if (!e)
        e = reach_safe_point(pid, sb.st_ino, &in->saved);
    if (e) {
        if (e == EBUSY)
            snprintf(err, errlen, "the main thread of process %d stayed inside the C library for 2 s (it may hold "
                                  "the allocator's lock); nothing was loaded, try again", (int)pid);
        else
            snprintf(err, errlen, "cannot stop process %d: %s", (int)pid, strerror(e));
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
        free(in);
        return -1;
    }
    struct iovec xs = { in->xstate, sizeof in->xstate };
    if (ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, &xs) == 0)
        in->xstate_len = xs.iov_len;
    in->have_fp = ptrace(PTRACE_GETFPREGS, pid, NULL, &in->fpsaved) == 0;
    *out = in;
    return 0;
}

uintptr_t lwr_inject_libc(const lwr_inject_t *in, const char *name)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    return sym ? (uintptr_t)sym + in->libc_delta : 0;
}

int lwr_inject_call(lwr_inject_t *in, uintptr_t fn, const char *const *strings, const uintptr_t *ints, int nargs,
                    uintptr_t *result)
{
    /* the strings go below the red zone, then the return address 0 with the stack aligned as at a call */
    struct user_regs_struct r = in->saved;
    uintptr_t sp = (in->saved.rsp - 128 - 4096) & ~(uintptr_t)15, args[6] = { 0 };
    for (int i = 0; i < nargs && i < 6; i++) {
        if (!strings || !strings[i]) {
            args[i] = ints ? ints[i] : 0;
            continue;
        }
        size_t len = strlen(strings[i]) + 1;
        sp = (sp - len) & ~(uintptr_t)15;
        struct iovec local = { (void *)strings[i], len }, remote = { (void *)sp, len };
        if (process_vm_writev(in->pid, &local, 1, &remote, 1, 0) != (ssize_t)len)
            return errno ? errno : EIO;
        args[i] = sp;
    }
    sp -= 8;
    uintptr_t zero = 0;
    struct iovec lz = { &zero, sizeof zero }, rz = { (void *)sp, sizeof zero };
    if (process_vm_writev(in->pid, &lz, 1, &rz, 1, 0) != (ssize_t)sizeof zero)
        return errno ? errno : EIO;
    r.rsp = sp;
    r.rip = fn;
    r.rdi = args[0];
    r.rsi = args[1];
    r.rdx = args[2];
    r.rcx = args[3];
    r.r8 = args[4];
    r.r9 = args[5];
    r.rax = 0;
    r.orig_rax = (unsigned long)-1; /* no restart of the interrupted system call onto our registers */
    if (ptrace(PTRACE_SETREGS, in->pid, NULL, &r) != 0)
        return errno;
    int sig = 0;
    if (ptrace(PTRACE_CONT, in->pid, NULL, NULL) != 0)
        return errno;
    for (;;) {
        int e = wait_stop(in->pid, &sig);
        if (e)
            return e;
        struct user_regs_struct now;
        if (ptrace(PTRACE_GETREGS, in->pid, NULL, &now) != 0)
            return errno;
        if (sig == SIGSEGV && now.rip == 0) {
            *result = now.rax;
            return 0;
        }
        /* a signal of the program's while the call runs: its handler runs on top of the call, as it would */
        if (ptrace(PTRACE_CONT, in->pid, NULL, (void *)(uintptr_t)(sig == SIGSTOP ? 0 : sig)) != 0)
            return errno;
    }
}

int lwr_inject_end(lwr_inject_t *in)
{
    int rc = 0;
    struct iovec xs = { in->xstate, in->xstate_len };
    if (!in->xstate_len || ptrace(PTRACE_SETREGSET, in->pid, (void *)(uintptr_t)NT_X86_XSTATE, &xs) != 0) {
        if (in->have_fp)
            ptrace(PTRACE_SETFPREGS, in->pid, NULL, &in->fpsaved);
    }
    if (ptrace(PTRACE_SETREGS, in->pid, NULL, &in->saved) != 0)
        rc = errno;
    if (ptrace(PTRACE_DETACH, in->pid, NULL, NULL) != 0 && !rc)
        rc = errno;
    free(in);
    return rc;
}

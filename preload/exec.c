/* The exec family and posix_spawn, interposed to tell the tracker which tracked descriptors the new program
 * inherits, and to keep leakwatch's settings in the new program's environment. */
#include "real.h"

#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

extern char **environ;

/* The environment the new program gets, with leakwatch's own settings put back where a cleared environment lost
 * them (lw_exec_env says when an LD_PRELOAD removed on purpose stays removed). */
#define WITH_ENV(envp, fixed)                                                                                   \
    size_t fixed##_cap = lw_exec_env_size(envp);                                                                \
    char *fixed##_buf[fixed##_cap];                                                                             \
    char *const *fixed = lw_exec_env((envp), fixed##_buf, fixed##_cap)

/* How a program is named: by path, by file name searched in PATH (execvp: execvpe where the C library has it,
 * else execvp with the process's own environment), the same with an environment of the caller's (execvpe,
 * which needs the real execvpe), or by descriptor (fexecve). */
typedef enum { BY_PATH, BY_SEARCH, BY_SEARCH_ENV, BY_FD } exec_how_t;

/* The one body of the exec family: tells the tracker (lw_on_exec_at, with the origin of the exported wrapper),
 * runs the real call with leakwatch's settings in the environment, and withdraws the warnings when the call
 * returns, which it does only when it failed. `name` is the path or file name; `fd` the descriptor for BY_FD. */
static int exec_as(exec_how_t how, const char *name, int fd, char *const argv[], char *const envp[],
                   lw_origin_t origin)
{
    LW_ENSURE_REAL(execve);
    if ((how == BY_SEARCH_ENV && !lw_real.execvpe) || (how == BY_FD && !lw_real.fexecve)) {
        errno = ENOSYS;
        return -1;
    }
    WITH_ENV(envp, env);
    unsigned mark = how == BY_FD ? lw_on_fexec_at(fd, origin) : lw_on_exec_at(name, 1, origin);
    int r;
    switch (how) {
    case BY_PATH:
        r = lw_real.execve(name, argv, env);
        break;
    case BY_SEARCH:
    case BY_SEARCH_ENV:
        r = lw_real.execvpe ? lw_real.execvpe(name, argv, env) : lw_real.execvp(name, argv);
        break;
    default:
        r = lw_real.fexecve(fd, argv, env);
        break;
    }
    lw_on_exec_failed(mark); /* keeps errno */
    return r;
}

LW_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return exec_as(BY_PATH, path, -1, argv, envp, LW_HERE());
}

LW_EXPORT int execv(const char *path, char *const argv[])
{
    return exec_as(BY_PATH, path, -1, argv, environ, LW_HERE());
}

LW_EXPORT int execvp(const char *file, char *const argv[])
{
    return exec_as(BY_SEARCH, file, -1, argv, environ, LW_HERE());
}

LW_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return exec_as(BY_SEARCH_ENV, file, -1, argv, envp, LW_HERE());
}

LW_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    return exec_as(BY_FD, NULL, fd, argv, envp, LW_HERE());
}

/* The execl family passes its arguments one by one, ending with NULL; they are gathered into an argv here. */
static size_t count_args(const char *arg, va_list ap)
{
    size_t n = arg ? 1 : 0;
    while (arg && va_arg(ap, const char *))
        n++;
    return n;
}

#define GATHER_ARGS(arg, out_env)                                                                               \
    va_list ap;                                                                                                 \
    va_start(ap, arg);                                                                                          \
    size_t argc = count_args(arg, ap);                                                                          \
    va_end(ap);                                                                                                 \
    char *argv[argc + 1];                                                                                       \
    argv[0] = (char *)arg;                                                                                      \
    va_start(ap, arg);                                                                                          \
    for (size_t i = 1; i <= argc; i++)                                                                          \
        argv[i] = va_arg(ap, char *);                                                                           \
    argv[argc] = NULL;                                                                                          \
    out_env;                                                                                                    \
    va_end(ap)

LW_EXPORT int execl(const char *path, const char *arg, ...)
{
    GATHER_ARGS(arg, (void)0);
    return exec_as(BY_PATH, path, -1, argv, environ, LW_HERE());
}

LW_EXPORT int execlp(const char *file, const char *arg, ...)
{
    GATHER_ARGS(arg, (void)0);
    return exec_as(BY_SEARCH, file, -1, argv, environ, LW_HERE());
}

LW_EXPORT int execle(const char *path, const char *arg, ...)
{
    char **envp;
    GATHER_ARGS(arg, envp = va_arg(ap, char **));
    return exec_as(BY_PATH, path, -1, argv, envp, LW_HERE());
}

/* posix_spawn starts a child and goes on: the warnings stay with this process and reach its exit dump. File
 * actions may close or move descriptors in the child, and their list is opaque, so a spawn with file actions is
 * not checked rather than warned about wrongly. */
static int spawn(int search, pid_t *pid, const char *what, const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[], lw_origin_t origin)
{
    LW_ENSURE_REAL(execve);
    int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                char *const[], char *const[]) = search ? lw_real.posix_spawnp : lw_real.posix_spawn;
    if (!real)
        return ENOSYS;
    WITH_ENV(envp, env);
    unsigned mark = actions ? ~0u : lw_on_exec_at(what, 0, origin);
    int r = real(pid, what, actions, attr, argv, env);
    if (r != 0)
        lw_on_exec_failed(mark);
    else if (pid)
        lw_marker_spawned(*pid, what);
    return r;
}

LW_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn(0, pid, path, actions, attr, argv, envp, LW_HERE());
}

LW_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn(1, pid, file, actions, attr, argv, envp, LW_HERE());
}

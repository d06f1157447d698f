/* Recognises a shell started on a script and releases the descriptor the shell holds on that script before the
 * exit dump: the shell's own, not a leak of the script. */
#include "internal.h"
#include "fd_list.h"
#include "shell_script.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Shells read their script while it runs and keep it open on a descriptor of their own to the end (dash moves it
 * to 10 or above, bash to 255). That descriptor is the shell's, not a leak of the script. */
static const char *const shells[] = { "sh", "dash", "bash", "rbash", "ash", "ksh", "ksh93", "mksh", "lksh",
                                      "pdksh", "zsh", "yash", "posh", "busybox" };
static dev_t script_dev;
static ino_t script_ino;
static int have_script;

/* Whether option `a` of a shell's command line takes the next argument as its value (-o name, -O shopt). */
static int takes_value(const char *a)
{
    if (strcmp(a, "--rcfile") == 0 || strcmp(a, "--init-file") == 0)
        return 1;
    size_t n = strlen(a);
    return a[0] != '-' || a[1] != '-' ? (a[n - 1] == 'o' || a[n - 1] == 'O') : 0;
}

void lw_shell_script_init(void)
{
    have_script = 0;
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    static char cmd[8192];
    ssize_t len = lw_read_file("/proc/self/cmdline", cmd, sizeof(cmd) - 1);
    if (len > 0)
        lw_shell_script_pick(exe, cmd, (size_t)len);
}

int lw_shell_script_pick(const char *exe, char *cmd, size_t len)
{
    have_script = 0;
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    int shell = 0;
    for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]); i++)
        shell |= strcmp(base, shells[i]) == 0;
    if (!shell || len == 0)
        return 0;
    cmd[len - 1] = '\0'; /* the last argument ends the buffer, terminated or cut short */
    /* The script is the first argument that is not an option nor an option's value; -c (a command string) and
     * -s (commands from stdin) mean there is none. */
    const char *a = cmd + strlen(cmd) + 1, *end = cmd + len;
    int skip = 0, after_dashes = 0;
    for (; a < end; a += strlen(a) + 1) {
        if (skip) {
            skip = 0;
            continue;
        }
        if (!after_dashes && strcmp(a, "--") == 0) {
            after_dashes = 1;
            continue;
        }
        if (!after_dashes && (a[0] == '-' || a[0] == '+') && a[1]) {
            if (a[0] == '-' && a[1] != '-' && (strchr(a, 'c') || strchr(a, 's')))
                return 0;
            skip = takes_value(a);
            continue;
        }
        struct stat st;
        if (stat(a, &st) == 0 && S_ISREG(st.st_mode)) {
            script_dev = st.st_dev;
            script_ino = st.st_ino;
            have_script = 1;
        }
        return have_script;
    }
    return 0;
}

size_t lw_forget_shell_script(void)
{
    if (!have_script || !lw_fd_events_on())
        return 0;
    lw_guard_t guard = lw_enter();
    lw_fd_list_t c = lw_fd_list(3, INT_MAX, 0);
    lw_self.busy = 0; /* lw_on_release does nothing inside the guard */
    size_t done = 0;
    for (size_t i = 0; i < c.n; i++) {
        struct stat st;
        if (fstat(c.v[i].fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == script_dev && st.st_ino == script_ino)
            done += (size_t)lw_on_release((lw_kind_t)c.v[i].kind, c.v[i].handle);
    }
    lw_fd_list_free(&c);
    lw_leave(guard);
    return done;
}

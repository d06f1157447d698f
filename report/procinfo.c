/* What the commands that act on a running process read of it in /proc. */
#include "procinfo.h"
#include "cli.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t lwr_read_proc(long pid, const char *what, char *buf, size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/%ld/%s", pid, what);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

int lwr_environ_value(long pid, const char *name, char *out, size_t cap)
{
    static char env[1 << 16];
    ssize_t n = lwr_read_proc(pid, "environ", env, sizeof env);
    size_t len = strlen(name);
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
        if (strncmp(env + i, name, len) == 0 && env[i + (ssize_t)len] == '=') {
            snprintf(out, cap, "%s", env + i + len + 1);
            return 0;
        }
    }
    return -1;
}

int lwr_dump_thread_signal(long pid, long *tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    struct dirent *e;
    int sig = -1;
    while (d && sig < 0 && (e = readdir(d))) {
        char comm[64], what[300];
        uint64_t k;
        snprintf(what, sizeof what, "task/%s/comm", e->d_name);
        if (e->d_name[0] == '.' || lwr_read_proc(pid, what, comm, sizeof comm) <= 0)
            continue;
        comm[strcspn(comm, "\n")] = '\0';
        if (strncmp(comm, "leakwatch-s", 11) == 0 && lwr_parse_uint(comm + 11, 64, &k) == 0) {
            sig = (int)k;
            if (tid)
                *tid = strtol(e->d_name, NULL, 10);
        }
    }
    if (d)
        closedir(d);
    return sig;
}

int lwr_maps_contain(long pid, const char *needle)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%ld/maps", pid);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

int lwr_proc_ids(long pid, long *euid, long *nspid)
{
    char text[4096];
    if (lwr_read_proc(pid, "status", text, sizeof text) < 0)
        return -1;
    long ruid;
    const char *u = strstr(text, "\nUid:");
    if (!u || sscanf(u + 5, "%ld %ld", &ruid, euid) != 2)
        *euid = -1;
    *nspid = pid;
    const char *n = strstr(text, "\nNSpid:");
    for (const char *q = n ? n + 7 : NULL; q && *q && *q != '\n';) {
        char *end;
        long v = strtol(q, &end, 10);
        if (end == q)
            break;
        *nspid = v;
        q = end;
    }
    return 0;
}

void lwr_proc_root(long pid, char *buf, size_t cap)
{
    char self[64] = "", theirs[64] = "", link[64];
    snprintf(link, sizeof link, "/proc/%ld/ns/mnt", pid);
    ssize_t a = readlink("/proc/self/ns/mnt", self, sizeof self - 1), b = readlink(link, theirs, sizeof theirs - 1);
    if (a > 0 && b > 0 && (a != b || memcmp(self, theirs, (size_t)a) != 0))
        snprintf(buf, cap, "/proc/%ld/root", pid);
    else if (cap)
        buf[0] = '\0';
}

/* Makes the sentence a report shows for a non-heap sample ("AF_INET SOCK_STREAM 127.0.0.1:5432 -> ...",
 * "FILE* fd 5 /etc/hosts", "start=0x401136 running", "clock=CLOCK_MONOTONIC notify=SIGEV_SIGNAL",
 * "rw- private anon") from the
 * values a version-2 dump carries, and reads a version-1 dump's sentence back into values. */
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends s to the growing sentence *buf (length *len); returns -1 when out of memory. */
static int add(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        return -1;
    memcpy(b + *len, s, n + 1);
    *buf = b;
    *len += n;
    return 0;
}

static int describe_values(lwr_sample_t *smp, lwr_kind_t kind, const lwr_sample_values_t *v)
{
    char *buf = NULL;
    size_t len = 0;
    int bad = 0;
    const char *target = v->target;
    switch (kind) {
    case LWR_FD: {
        const char *stream = v->stream;
        if (stream) {
            char num[32] = "0";
            if (v->fd >= 0)
                snprintf(num, sizeof num, "%lld", v->fd);
            bad |= add(&buf, &len, stream) | add(&buf, &len, "* fd ") | add(&buf, &len, num) |
                   add(&buf, &len, " ");
        }
        if (target)
            bad |= add(&buf, &len, target);
        break;
    }
    case LWR_SOCKET: {
        const char *family = v->family, *type = v->type, *local = v->local, *peer = v->peer;
        if (!family) { /* no socket any more: what the number is now */
            if (target)
                bad |= add(&buf, &len, target);
            break;
        }
        bad |= add(&buf, &len, family);
        if (type)
            bad |= add(&buf, &len, " ") | add(&buf, &len, type);
        if (local)
            bad |= add(&buf, &len, " ") | add(&buf, &len, local);
        if (peer)
            bad |= add(&buf, &len, " -> ") | add(&buf, &len, peer);
        else if (v->listening)
            bad |= add(&buf, &len, " listening");
        break;
    }
    case LWR_THREAD: {
        const char *start = v->start, *state = v->state;
        if (start) {
            smp->thread_start = strtoull(start, NULL, 16);
            bad |= add(&buf, &len, "start=") | add(&buf, &len, start);
        }
        if (state) {
            smp->thread_state = strdup(state);
            bad |= (smp->thread_state ? 0 : -1) | add(&buf, &len, " ") | add(&buf, &len, state);
        }
        break;
    }
    case LWR_TIMER: {
        const char *clock = v->clock, *notify = v->notify;
        if (clock)
            bad |= add(&buf, &len, "clock=") | add(&buf, &len, clock);
        if (notify)
            bad |= add(&buf, &len, clock ? " notify=" : "notify=") | add(&buf, &len, notify);
        break;
    }
    case LWR_MMAP: {
        /* "rw- private anon", "r-- shared file /path", "shm /dev/shm/NAME", "sysv-segment SYSV... shmid N" */
        const char *words[] = { v->prot, v->sharing, v->backing, target };
        const char *sep = "";
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
            if (!words[i] || !words[i][0])
                continue;
            bad |= add(&buf, &len, sep) | add(&buf, &len, words[i]);
            sep = " ";
        }
        break;
    }
    default:
        break;
    }
    if (bad) {
        free(buf);
        return -1;
    }
    smp->detail = buf;
    return 0;
}

/* A version-1 thread sentence, "start=0x401136 running": its values. */
static int read_thread_sentence(lwr_sample_t *smp)
{
    const char *p = smp->detail ? strstr(smp->detail, "start=0x") : NULL;
    if (!p)
        return 0;
    char *end;
    smp->thread_start = strtoull(p + 6, &end, 16);
    while (*end == ' ')
        end++;
    if (*end) {
        smp->thread_state = strdup(end);
        if (!smp->thread_state)
            return -1;
    }
    return 0;
}

int lwr_sample_describe(lwr_sample_t *smp, lwr_kind_t kind, const lwr_sample_values_t *v)
{
    if (kind == LWR_HEAP)
        return 0;
    if (smp->detail)
        return kind == LWR_THREAD ? read_thread_sentence(smp) : 0;
    return describe_values(smp, kind, v);
}

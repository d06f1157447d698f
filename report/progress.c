/* Writes and erases the progress line of long work on standard error when it is a terminal. */
#include "progress.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *what;   /* NULL outside a phase */
    size_t total, done;
    bool shown;         /* a line is on the terminal */
    bool tty;
    long long last_ms;  /* when the line was last written */
} p;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lwr_progress_begin(const char *what, size_t total)
{
    lwr_progress_end();
    p.what = what;
    p.total = total;
    p.done = 0;
    p.tty = isatty(STDERR_FILENO) == 1;
}

/* Ticks come from the threads that read dumps side by side (parallel.c); a phase begins and ends on one. */
static pthread_mutex_t tick_lock = PTHREAD_MUTEX_INITIALIZER;

static void tick(void)
{
    p.done++;
    if (p.done < LWR_PROGRESS_MIN_ITEMS)
        return;
    long long t = now_ms();
    bool last = p.total && p.done == p.total;
    if (p.shown && !last && t - p.last_ms < 100)
        return;
    if (p.total)
        fprintf(stderr, "\rleakwatch: %s %zu/%zu", p.what, p.done, p.total);
    else
        fprintf(stderr, "\rleakwatch: %s %zu", p.what, p.done);
    fflush(stderr);
    p.shown = true;
    p.last_ms = t;
}

void lwr_progress_tick(void)
{
    if (!p.what || !p.tty)
        return;
    pthread_mutex_lock(&tick_lock);
    tick();
    pthread_mutex_unlock(&tick_lock);
}

void lwr_progress_clear(void)
{
    if (p.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p.shown = false;
}

void lwr_progress_end(void)
{
    lwr_progress_clear();
    p.what = NULL;
}

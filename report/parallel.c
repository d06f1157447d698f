/* lwr_parallel_for: worker threads that take the next index from a shared counter until none is left. */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MAX_THREADS 8

typedef struct {
    void (*fn)(size_t i, void *arg);
    void *arg;
    size_t n;
    atomic_size_t next;
} work_t;

static void *worker(void *v)
{
    work_t *w = v;
    for (size_t i; (i = atomic_fetch_add(&w->next, 1)) < w->n;)
        w->fn(i, w->arg);
    return NULL;
}

void lwr_parallel_for(size_t n, void (*fn)(size_t i, void *arg), void *arg)
{
    work_t w = { fn, arg, n, 0 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = cpus > 1 ? (size_t)cpus : 1;
    if (want > MAX_THREADS)
        want = MAX_THREADS;
    if (want > n)
        want = n;
    pthread_t t[MAX_THREADS];
    size_t started = 0;
    /* the calling thread is one of the workers */
    while (started + 1 < want && pthread_create(&t[started], NULL, worker, &w) == 0)
        started++;
    worker(&w);
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
}

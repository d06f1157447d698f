/* The reference workload of `make bench`: allocation churn, live blocks or descriptor churn from deep call chains. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Every frame of the call chain must stay a real frame: no inlining, no cloning, no merging. clang has no
 * noclone and warns about unknown attributes, which -Werror turns into an error. */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

#define MAX_THREADS 8
#define MAX_PATHS 16384 /* -p: distinct allocation paths; the default 128 gives about 128 distinct stacks */
#define LEAK_SITES 10   /* the leaks come from this many distinct paths */
#define NSTEPS 8
#define NLEAVES 4
#define MAX_DEPTH 10

enum mode { MODE_CHURN, MODE_LIVE, MODE_FD };
enum action { ACT_CHURN, ACT_LEAK, ACT_LIVE, ACT_FD };

typedef struct {
    uint64_t rng;
    const unsigned char *seq; /* the steps of the current path, one per level */
    int depth;           /* number of step frames between the entry point and the leaf */
    int leaf;            /* which leaf function the current path ends in */
    enum action action;
    uint64_t trail;      /* work done after each call, so that no call becomes a tail call */
    void **slots;        /* churn: the sliding window of live blocks; live: every block */
    size_t nslots;
    size_t index;        /* live: the next slot to fill */
    uint64_t ops;        /* operations this thread performs */
    uint64_t bytes;      /* bytes allocated, for -v */
    int failed;
} ctx_t;

static struct {
    enum mode mode;
    int threads;
    unsigned paths;
    uint64_t ops;
    size_t window;
    int leaks;
    uint64_t seed;
    int print_end;
    int verbose;
} opt = { MODE_CHURN, 2, 128, 0, 4096, 100, 0x6c65616b77617463ULL, 0, 0 };

/* Stores each leaked pointer once, so that the compiler must perform the allocation; cleared afterwards so
 * that no global keeps the last leak reachable. */
static void *volatile sink;

/* xorshift64*: fixed seed, one stream per thread, so every run performs the same operations. */
static inline uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Sizes skewed towards small, like real programs: 50% 8-64 B, 30% 72-256 B, 15% 264 B-4 KB, 4.5% 4-64 KB,
 * 0.5% 64-256 KB, all multiples of 8 like most structures. (Byte-granular sizes give heaptrack 1.4.0 so many
 * distinct size and stack pairs that heaptrack_interpret dies of std::bad_alloc after about 40000 of them.) */
static size_t pick_size(uint64_t *s)
{
    uint64_t r = next_rand(s);
    unsigned u = (unsigned)(r % 1000);
    uint64_t v = r >> 20;
    if (u < 500)
        return 8 * (1 + v % 8);
    if (u < 800)
        return 8 * (9 + v % 24);
    if (u < 950)
        return 8 * (33 + v % 480);
    if (u < 995)
        return 8 * (513 + v % 7680);
    return 8 * (8193 + v % 24576);
}

/* Hot paths are taken more often than cold ones: the product of two uniform picks skews towards path 0. */
static unsigned pick_path(uint64_t *s)
{
    uint64_t r = next_rand(s);
    unsigned n = opt.paths;
    unsigned a = (unsigned)(r % n), b = (unsigned)((r >> 32) % n);
    return ((a + 1) * (b + 1) - 1) / n;
}

/* The operation itself, inlined into each of the leaf functions so that each has its own call sites. */
static inline __attribute__((always_inline)) void operate(ctx_t *c)
{
    switch (c->action) {
    case ACT_CHURN: {
        size_t slot = (size_t)(next_rand(&c->rng) % c->nslots);
        size_t size = pick_size(&c->rng);
        free(c->slots[slot]);
        char *p = malloc(size);
        if (!p) {
            c->failed = 1;
            c->slots[slot] = NULL;
            break;
        }
        p[0] = (char)size;
        p[size - 1] = (char)slot;
        c->slots[slot] = p;
        c->bytes += size;
        break;
    }
    case ACT_LEAK: {
        size_t size = 8 + next_rand(&c->rng) % 121;
        char *p = malloc(size);
        if (!p) {
            c->failed = 1;
            break;
        }
        memset(p, 0x5a, size);
        sink = p;
        c->bytes += size;
        break;
    }
    case ACT_LIVE: {
        size_t size = 16 + next_rand(&c->rng) % 49;
        char *p = malloc(size);
        if (!p) {
            c->failed = 1;
            break;
        }
        p[0] = (char)size;
        c->slots[c->index++] = p;
        c->bytes += size;
        break;
    }
    case ACT_FD: {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || close(fd) != 0)
            c->failed = 1;
        break;
    }
    }
}

/* Four leaves, so that there are four allocation call sites; the constants differ so that no two are folded. */
#define LEAF(name, k)                    \
    static NOINLINE void name(ctx_t *c)  \
    {                                    \
        operate(c);                      \
        c->trail += (k);                 \
    }
LEAF(leaf0, 1)
LEAF(leaf1, 3)
LEAF(leaf2, 5)
LEAF(leaf3, 7)

typedef void (*leaf_fn)(ctx_t *);
static const leaf_fn leaves[NLEAVES] = { leaf0, leaf1, leaf2, leaf3 };

/* Eight distinct functions, each with a different frame size like real code, call one another in the order the
 * path prescribes. The work after each call keeps every call from becoming a tail call. */
typedef void (*step_fn)(ctx_t *, int);
static const step_fn steps[NSTEPS];

static inline __attribute__((always_inline)) void descend(ctx_t *c, int level)
{
    if (level >= c->depth)
        leaves[c->leaf](c);
    else
        steps[c->seq[level]](c, level + 1);
}

#define STEP(name, pad)                                 \
    static NOINLINE void name(ctx_t *c, int level)      \
    {                                                   \
        volatile char frame[pad];                       \
        frame[0] = (char)level;                         \
        descend(c, level);                              \
        c->trail += (uint64_t)frame[0] * (pad);         \
    }
STEP(step0, 24)
STEP(step1, 40)
STEP(step2, 72)
STEP(step3, 112)
STEP(step4, 176)
STEP(step5, 280)
STEP(step6, 456)
STEP(step7, 736)

static const step_fn steps[NSTEPS] = { step0, step1, step2, step3, step4, step5, step6, step7 };

/* Each path is a fixed sequence of steps, 5 to 9 of them, then one of the leaves: with the leaf, run_path and the
 * thread's entry function the program's own part of each stack is 8 to 12 frames deep. */
static unsigned char path_seq[MAX_PATHS][MAX_DEPTH];

static void make_paths(void)
{
    uint64_t s = 0x70617468735f5f31ULL;
    for (unsigned p = 0; p < opt.paths; p++)
        for (int l = 0; l < MAX_DEPTH; l++)
            path_seq[p][l] = (unsigned char)(next_rand(&s) % NSTEPS);
}

static NOINLINE void run_path(ctx_t *c, unsigned path, enum action action)
{
    c->seq = path_seq[path];
    c->depth = 5 + (int)(path % 5);
    c->leaf = (int)(path % NLEAVES);
    c->action = action;
    steps[c->seq[0]](c, 1);
    c->trail += path;
}

static void *worker(void *arg)
{
    ctx_t *c = arg;
    enum action action = opt.mode == MODE_FD ? ACT_FD : opt.mode == MODE_LIVE ? ACT_LIVE : ACT_CHURN;
    for (uint64_t i = 0; i < c->ops; i++)
        run_path(c, pick_path(&c->rng), action);
    if (opt.mode == MODE_CHURN) {
        for (size_t i = 0; i < c->nslots; i++) {
            free(c->slots[i]);
            c->slots[i] = NULL;
        }
    }
    return NULL;
}

/* The known leaks: opt.leaks blocks from LEAK_SITES paths, after every worker has finished. */
static NOINLINE void make_leaks(ctx_t *c)
{
    for (int i = 0; i < opt.leaks; i++)
        run_path(c, (unsigned)(i % LEAK_SITES) * 13 % opt.paths, ACT_LEAK);
    sink = NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: workload [-m churn|live|fd] [-t THREADS] [-p PATHS] [-n OPS] [-w WINDOW] [-l LEAKS] [-s SEED]\n"
            "                [-T] [-v] [OPS]\n"
            "  churn  malloc/free pairs, 8 B-256 KB, sliding window of WINDOW live blocks per thread (default)\n"
            "  live   OPS small blocks allocated and never freed (default 1000000)\n"
            "  fd     OPS open/close pairs of /dev/null\n"
            "  -n     operations over all threads (churn default 4000000, fd 1000000)\n"
            "  -p     distinct call paths, 1 to 16384 (default 128), so about as many distinct stacks\n"
            "  -l     leaked blocks at the end (churn only, default 100)\n"
            "  -T     print main_end_ns=<CLOCK_REALTIME ns> and main_end_rss_kb=<VmRSS> on stdout when main returns\n");
    exit(2);
}

static uint64_t parse_u64(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        usage();
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "m:t:p:n:w:l:s:Tv")) != -1) {
        switch (c) {
        case 'm':
            if (!strcmp(optarg, "churn"))
                opt.mode = MODE_CHURN;
            else if (!strcmp(optarg, "live"))
                opt.mode = MODE_LIVE;
            else if (!strcmp(optarg, "fd"))
                opt.mode = MODE_FD;
            else
                usage();
            break;
        case 't': opt.threads = (int)parse_u64(optarg); break;
        case 'p': opt.paths = (unsigned)parse_u64(optarg); break;
        case 'n': opt.ops = parse_u64(optarg); break;
        case 'w': opt.window = (size_t)parse_u64(optarg); break;
        case 'l': opt.leaks = (int)parse_u64(optarg); break;
        case 's': opt.seed = parse_u64(optarg); break;
        case 'T': opt.print_end = 1; break;
        case 'v': opt.verbose = 1; break;
        default: usage();
        }
    }
    if (optind < argc)
        opt.ops = parse_u64(argv[optind++]);
    if (optind < argc || opt.threads < 1 || opt.threads > MAX_THREADS || opt.paths < 1 ||
        opt.paths > MAX_PATHS || opt.window < 1 || opt.leaks < 0)
        usage();
    if (opt.ops == 0)
        opt.ops = opt.mode == MODE_CHURN ? 4000000 : 1000000;
    if (opt.mode == MODE_LIVE)
        opt.threads = 1;

    make_paths();
    ctx_t ctx[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    memset(ctx, 0, sizeof ctx);
    for (int i = 0; i < opt.threads; i++) {
        ctx[i].rng = opt.seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1));
        ctx[i].ops = opt.ops / (uint64_t)opt.threads + ((uint64_t)i < opt.ops % (uint64_t)opt.threads);
        if (opt.mode != MODE_FD) {
            ctx[i].nslots = opt.mode == MODE_LIVE ? (size_t)ctx[i].ops : opt.window;
            ctx[i].slots = calloc(ctx[i].nslots ? ctx[i].nslots : 1, sizeof(void *));
            if (!ctx[i].slots) {
                perror("workload: calloc");
                return 1;
            }
        }
    }

    if (opt.mode == MODE_LIVE) {
        /* On the main thread, so the dump holds exactly the live blocks and nothing waits for a thread. */
        worker(&ctx[0]);
    } else {
        for (int i = 0; i < opt.threads; i++) {
            int err = pthread_create(&tid[i], NULL, worker, &ctx[i]);
            if (err) {
                fprintf(stderr, "workload: pthread_create: %s\n", strerror(err));
                return 1;
            }
        }
        for (int i = 0; i < opt.threads; i++)
            pthread_join(tid[i], NULL);
    }

    uint64_t leaked = 0;
    if (opt.mode == MODE_CHURN) {
        ctx_t lc = { .rng = opt.seed };
        make_leaks(&lc);
        leaked = lc.bytes;
    }

    int failed = 0;
    uint64_t bytes = 0, trail = 0;
    for (int i = 0; i < opt.threads; i++) {
        failed |= ctx[i].failed;
        bytes += ctx[i].bytes;
        trail += ctx[i].trail;
        /* live: dropping the array leaves every block live and unreachable, the worst case for a report. */
        free(ctx[i].slots);
    }
    if (opt.verbose)
        fprintf(stderr, "workload: mode=%s threads=%d ops=%" PRIu64 " bytes=%" PRIu64 " leaks=%d (%" PRIu64
                " B) trail=%" PRIx64 "\n",
                opt.mode == MODE_CHURN ? "churn" : opt.mode == MODE_LIVE ? "live" : "fd", opt.threads, opt.ops,
                bytes, opt.mode == MODE_CHURN ? opt.leaks : 0, leaked, trail);
    if (failed) {
        fprintf(stderr, "workload: an operation failed\n");
        return 1;
    }
    if (opt.print_end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        printf("main_end_ns=%" PRIu64 "\n", (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
        /* the resident size while the blocks are live, before any exit-time work */
        FILE *st = fopen("/proc/self/status", "r");
        char line[256];
        while (st && fgets(line, sizeof line, st))
            if (strncmp(line, "VmRSS:", 6) == 0)
                printf("main_end_rss_kb=%ld\n", strtol(line + 6, NULL, 10));
        if (st)
            fclose(st);
        fflush(stdout);
    }
    return 0;
}

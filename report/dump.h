/* The in-memory form of one dump file (docs/FORMAT.md, `leakwatch_dump: 1`) and the reader that fills it. */
#ifndef LWR_DUMP_H
#define LWR_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Resource kinds, in the order of `totals` in every dump and report. */
typedef enum {
    LWR_HEAP,
    LWR_FD,
    LWR_SOCKET,
    LWR_THREAD,
    LWR_TIMER,
    LWR_MMAP,
    LWR_KIND_COUNT
} lwr_kind_t;

/* Bit set of kinds, bit i for lwr_kind_t i. */
typedef unsigned lwr_kindset_t;
#define LWR_ALL_KINDS ((lwr_kindset_t)((1u << LWR_KIND_COUNT) - 1))
/* The kinds a gate counts unless told (--kinds): every kind but mmap, which real programs leave mapped at exit
 * without harm (README, "Memory mappings"). */
#define LWR_GATE_KINDS ((lwr_kindset_t)(LWR_ALL_KINDS & ~(1u << LWR_MMAP)))

typedef struct {
    uint64_t count;
    uint64_t bytes;
} lwr_total_t;

/* What the library's reachability scan made of a heap site (`class` in the dump). Reachable blocks are still
 * pointed to from live memory: not leaks, never counted in the kinds' totals. */
typedef enum {
    LWR_CLASS_NONE,         /* not classified (no `class` member, or one this reader does not know) */
    LWR_CLASS_DEFINITE,
    LWR_CLASS_INDIRECT,
    LWR_CLASS_REACHABLE
} lwr_class_t;

typedef struct {
    char *path;
    char *build_id;     /* lower-case hex, "" when the object has none */
    uint64_t bias;
    uint64_t start;     /* inclusive */
    uint64_t end;       /* exclusive */
} lwr_module_t;

typedef struct {
    char *handle;       /* as written in the dump: hex address or decimal descriptor */
    uint64_t size;
    int64_t age_ms;     /* -1 when absent */
    char *detail;       /* what a non-heap handle refers to, as the reports say it (sample.c); NULL when unknown */
    uint64_t thread_start; /* a thread's start routine, 0 when unknown */
    char *thread_state;    /* "running" or "finished", NULL when unknown */
    long pid;           /* a saved report's sample: its process; 0 in a dump (the dump's pid) */
} lwr_sample_t;

/* A frame a saved JSON report already symbolized (saved.c): what the report says of it. */
typedef struct {
    uint64_t address;
    char *function;     /* NULL when unknown */
    char *file;         /* NULL when unknown */
    unsigned line;      /* 0 when unknown */
    unsigned column;    /* 0 when unknown or absent */
    char *module;       /* NULL when unknown */
    uint64_t offset;    /* `offset`, else the address */
} lwr_known_frame_t;

/* What holds a reachable site (`held_by`): the root the scan reached its first block through and the sites on
 * the way down, the root's end first. */
typedef struct {
    char *root;         /* "global", "stack", "registers", "memory", "tls", "heap", or a kind unknown here */
    uint64_t address;   /* the root word */
    uint64_t frame;     /* a stack root's frame (the nearest code address below the word), 0 when absent */
    uint64_t tls_image; /* a "tls" root in an object's TLS block: that object's TLS image, 0 when absent */
    uint64_t tls_offset; /* and the word's offset in the block */
    size_t *path;       /* indexes into the dump's sites (as read), those of unknown kinds left out */
    size_t npath;
} lwr_held_by_t;

typedef struct {
    lwr_kind_t kind;
    lwr_class_t cls;
    uint64_t count;
    uint64_t bytes;
    /* The grouping of lost blocks (docs/FORMAT.md): a site heading lost blocks (definite, or a cycle's) has
     * `attributed`, the indirect blocks it holds and those sites; an indirect site held by one, root_site. Indexes
     * are into the dump's sites as read. */
    bool attributed;
    uint64_t indirect_count, indirect_bytes;
    size_t *indirect_sites;
    size_t nindirect_sites;
    bool cycle;                         /* an indirect site heading a group nothing definite reaches */
    uint64_t direct_count, direct_bytes; /* a cycle's: its own blocks heading their groups */
    size_t root_site;                   /* SIZE_MAX when absent */
    lwr_held_by_t *held_by;             /* NULL when absent */
    size_t json_index;                  /* its index in the dump's `sites` array */
    uint64_t *frames;   /* return addresses, innermost first */
    size_t nframes;
    lwr_sample_t *samples;
    size_t nsamples;
    int64_t oldest_age_ms;  /* -1 when absent */
    int64_t median_age_ms;  /* -1 when absent */
    lwr_known_frame_t *known;   /* a saved report's site: its frames, one per `frames` entry; NULL in a dump */
    long *pids;             /* a saved report's site: its `pids`; NULL in a dump (the dump's pid) */
    size_t npids;
} lwr_dump_site_t;

/* One entry of a dump's `warnings` (bad-close, double-close, fd-into-exec). */
typedef struct {
    char *type;
    char *handle;           /* NULL when absent */
    char *message;          /* NULL when absent */
    uint64_t count;         /* 1 when absent */
    uint64_t *frames;       /* the stack of the event, innermost first */
    size_t nframes;
    uint64_t *other_frames; /* the other stack involved (the earlier close, the exec) */
    size_t nother;
    long pid;               /* a saved report's warning: its process; 0 in a dump (the dump's pid) */
    lwr_known_frame_t *known;       /* a saved report's warning: frames and other_frames as it wrote them */
    lwr_known_frame_t *known_other;
} lwr_dump_warning_t;

/* A saved report's `unchecked` entry. */
typedef struct {
    long pid;
    char *executable;       /* NULL when unknown */
    char *reason;
} lwr_dump_unchecked_t;

typedef struct lwr_dump {
    char *file;         /* the path the dump was read from */
    int version;
    long pid;
    long ppid;          /* -1 when absent */
    char *exe;          /* NULL when absent */
    char **argv;
    size_t argc;
    long seq;           /* 0 when absent */
    int64_t uptime_ms;  /* -1 when absent */
    int64_t time_unix_ms; /* -1 when absent */
    char *reason;       /* NULL when absent */
    bool has_exit_status;
    int exit_status;
    lwr_module_t *modules;  /* sorted by start */
    size_t nmodules;
    lwr_dump_site_t *sites;
    size_t nsites;
    size_t skipped_sites;   /* sites of a kind this reader does not know */
    size_t nwarnings;       /* entries of `warnings` */
    lwr_dump_warning_t *warnings; /* the entries that could be read (a malformed one is left out), nread_warnings */
    size_t nread_warnings;
    lwr_total_t totals[LWR_KIND_COUNT];
    lwr_total_t reachable;  /* heap blocks still reachable (totals.reachable), not part of totals[LWR_HEAP] */
    uint64_t dropped;       /* `dropped`: records that did not fit the dump; 0 when absent */
    uint64_t lost_records;  /* `lost.records`: acquisitions the library could not record or write; 0 when absent */
    uint64_t lost_sites;    /* `lost.sites`: stacks it could not store */
    uint64_t lost_warnings; /* `lost.warnings`: warnings past the 256 kept */
    /* A saved JSON report (`leakwatch_report: 1`, saved.c) read back: its sites carry their symbolized frames and
     * their pids, this entry stands for the first of its processes (`dump_name` its `dump`, NULL when it named
     * none) and `more` for each of the others (process members only, no sites). */
    bool saved_report;
    char *dump_name;
    struct lwr_dump *more;
    bool has_unchecked;
    lwr_dump_unchecked_t *unchecked;
    size_t nunchecked;
    uint64_t sample_bytes;  /* `sampling.mean_bytes`: heap counts and bytes are estimates; 0 when exact */
} lwr_dump_t;

/* Counts and bytes summed across sites and dumps go through lwr_count_add: a sum stops at LWR_COUNT_MAX
 * (INT64_MAX, the largest integer a dump or a JSON report holds, so that a difference of two sums still fits an
 * int64_t) instead of wrapping, which would let forged dumps sum to "no leaks". The first time a sum stops
 * there the command says so on stderr, once; lwr_counts_saturated() tells whether it happened. */
#define LWR_COUNT_MAX ((uint64_t)INT64_MAX)
void lwr_count_add(uint64_t *acc, uint64_t v);

/* lwr_count_add of both members. */
void lwr_total_add(lwr_total_t *t, uint64_t count, uint64_t bytes);

bool lwr_counts_saturated(void);

/* The dump name of a class ("definite", ...), NULL for LWR_CLASS_NONE. */
const char *lwr_class_name(lwr_class_t cls);

/* The dump member name of a kind ("heap", "fd", ...). */
const char *lwr_kind_name(lwr_kind_t kind);

/* Looks a kind up by name (`len` bytes of `name`). Returns the kind, or -1 when the name is unknown. */
int lwr_kind_from_name(const char *name, size_t len);

/* Parses an address as dumps write it, the whole of the `len` bytes at s: "0x" and 1 to 16 hex digits (either
 * case). Returns 0, or -1 for anything else (a NUL byte inside included). */
int lwr_parse_addr(const char *s, size_t len, uint64_t *out);

/* Parses a comma-separated list of kind names ("heap,fd"; "all" means every kind) into *out.
 * Returns 0, or -1 with the first unknown or empty name copied into err (at most errlen bytes). */
int lwr_kinds_parse(const char *list, lwr_kindset_t *out, char *err, size_t errlen);

/* Reads and checks the dump at `path`. On success returns a dump the caller frees with lwr_dump_free.
 * On failure returns NULL and writes one line into err (at most errlen bytes, never more) that names the
 * file and, for JSON syntax errors, the line and column jansson reports; for a member of the wrong type or an
 * unsupported version, the member's path (e.g. `sites[2].frames[0]`). Never aborts on any input.
 * Only a regular file is read (opened with O_NONBLOCK, so a FIFO never blocks), of at most LWR_DUMP_MAX_BYTES.
 * Strings keep the process's bytes: an escape \u0080..\u00ff in the text is that one raw byte (FORMAT.md), so
 * exe, argv, paths and details may hold bytes that are not UTF-8; display them through escape.h. */
#define LWR_DUMP_MAX_BYTES ((uint64_t)256 << 20)
lwr_dump_t *lwr_dump_load(const char *path, char *err, size_t errlen);

/* When some of the n dumps were sampled (LEAKWATCH_SAMPLE), says on stderr, once, that their heap counts and bytes
 * are estimates and at what rate: `leakwatch CMD: note: ...`. Returns the first sampled dump's mean, else 0. */
uint64_t lwr_note_sampling(const char *cmd, lwr_dump_t *const *v, size_t n);

/* Reads the whole file at `path`, at most `max` bytes (a bigger one, or a device without end such as /dev/zero,
 * is refused, not read into memory), into a malloc'd NUL-terminated buffer; *len is its length. Opens with
 * O_NONBLOCK so that a FIFO never blocks the open; `regular_only` refuses every file that is not regular,
 * otherwise a pipe (`<(cmd)`) is read to its end. Returns NULL with `PATH: reason` in err on failure. */
char *lwr_read_file(const char *path, uint64_t max, bool regular_only, size_t *len, char *err, size_t errlen);

/* A dump file or a saved JSON report: lwr_dump_load and lwr_dump_parse read both. A report (docs/FORMAT.md,
 * `leakwatch_report: 1`) becomes one lwr_dump_t per process (`saved_report`, the others chained in `more`), its
 * sites already symbolized (`known`); errors name the member as for dumps (`sites[2].frames[0].address`). */

/* Like lwr_dump_load, from `len` bytes of JSON text; `name` stands for the file name in the dump and errors. */
lwr_dump_t *lwr_dump_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);

/* Where a reader of leakwatch's files (dumps, saved reports) writes its error: one line `NAME: WHAT` and the
 * message, at most errlen bytes of err. */
typedef struct {
    const char *name;
    const char *what;       /* "" for dumps, "saved report: " */
    char *err;
    size_t errlen;
} lwr_read_ctx_t;

/* Writes the error line, escaped for a terminal (the name and jansson's text quote the input). Returns -1. */
int lwr_read_fail(lwr_read_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The module whose [start, end) holds `address`, or NULL. */
const lwr_module_t *lwr_dump_module_of(const lwr_dump_t *dump, uint64_t address);

/* Frees a dump and everything it owns; NULL is allowed. */
void lwr_dump_free(lwr_dump_t *dump);

#endif

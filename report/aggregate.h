/* The report model: sites of every dump symbolized, merged across processes, totalled and sorted. */
#ifndef LWR_AGGREGATE_H
#define LWR_AGGREGATE_H

#include "dump.h"
#include "retain.h"
#include "symbolize.h"

#include <stdbool.h>

/* At most this many samples are kept per merged site. */
#define LWR_MAX_SAMPLES 5

/* At most this many report frames come from one dump frame (an address in inlined code gives one per level). */
#define LWR_MAX_INLINE_FRAMES 16

/* One frame of a report site. An address inside inlined code gives several frames with the same address: the
 * inlined functions innermost first, then the function they were inlined into. */
typedef struct {
    uint64_t address;       /* runtime address as in the dump */
    char *function;         /* NULL when unknown */
    char *file;             /* NULL when unknown */
    unsigned line;          /* 0 when unknown */
    char *module;           /* NULL when no module holds the address */
    uint64_t offset;        /* address - module bias (the address when there is no module) */
    unsigned column;        /* column of `line`, 0 when unknown */
} lwr_frame_t;

typedef struct {
    long pid;
    char *handle;
    uint64_t size;
    char *detail;           /* NULL when absent */
} lwr_report_sample_t;

typedef struct {
    lwr_kind_t kind;
    lwr_class_t cls;        /* LWR_CLASS_REACHABLE for blocks still pointed to at exit: listed, never leaks */
    uint64_t count;
    uint64_t bytes;
    lwr_frame_t *frames;    /* from the first process seen with this site */
    size_t nframes;
    lwr_report_sample_t *samples;
    size_t nsamples;
    long *pids;             /* ascending, each once */
    size_t npids;
    bool baseline;          /* the site is in the --baseline report: listed, but not counted by the gate */
    int64_t oldest_age_ms;  /* the oldest handle's age over the dumps merged here, -1 when no dump has ages */
    int64_t median_age_ms;  /* the median age in the dump holding most of the site's handles, -1 when unknown */
    uint64_t median_count;  /* the count of the dump site median_age_ms comes from */
    uint64_t id;            /* its number in the report: its place in `sites` (from 1) once sorted */
    /* Lost blocks grouped under the site that heads them (docs/FORMAT.md): a definite site, or an indirect one
     * heading a cycle nothing definite reaches, is `attributed`, with the indirect blocks it holds and the ids
     * of their sites; an indirect site held by one has its id in root_id (0: none known). */
    bool attributed;
    uint64_t indirect_count, indirect_bytes;
    uint64_t *indirect_ids;
    size_t nindirect;
    bool cycle;
    uint64_t direct_count, direct_bytes; /* a cycle's own blocks heading their groups */
    uint64_t root_id;
    lwr_held_t *held;       /* a reachable site: who holds it, from the first dump that says; NULL when unknown */
} lwr_site_t;

typedef struct {
    long pid;
    long ppid;              /* -1 when unknown */
    char *executable;       /* NULL when unknown */
    char **arguments;
    size_t nargs;
    bool has_exit_status;
    int exit_status;
    char *dump;             /* the dump's file name without its directory */
    char *reason;           /* NULL when unknown */
    uint64_t dropped;       /* what the dump says the library could not record (lwr_dump_t) */
    uint64_t lost_records;
    uint64_t lost_sites;
    uint64_t lost_warnings;
    uint64_t sample_bytes;  /* the dump was sampled (lwr_dump_t): its heap figures are estimates; 0 when exact */
} lwr_process_t;

/* A process `leakwatch run` could not check (docs/FORMAT.md `unchecked`): it ran without the library, ended
 * without its dump, is still running, or its dump is unreadable or incomplete. */
typedef struct {
    long pid;
    char *executable;       /* NULL when unknown */
    char *reason;
} lwr_unchecked_t;

typedef struct {
    uint64_t max_leaks;
    uint64_t leaks;         /* gated leaks not in the baseline */
    lwr_kindset_t kinds;
    bool failed;
    bool reachable;         /* --gate-reachable: reachable heap blocks count too */
    bool has_baseline;      /* --baseline was given */
    uint64_t baseline;      /* gated leaks left out because their site is in the baseline */
} lwr_gate_t;

/* What one suppression did to a report (suppress.c fills these; docs/FORMAT.md `suppressed`). */
typedef struct {
    char *pattern;          /* as written after `type:` */
    lwr_kind_t kind;        /* `leak:` is LWR_HEAP */
    char *file;             /* the suppression file, NULL for the built-in list */
    unsigned line;          /* line in the file (position in the built-in list) */
    bool builtin;
    bool warning;           /* a `warning:` entry: `pattern` is TYPE[:PATTERN], hidden.count the warnings hidden */
    uint64_t sites;         /* report sites it hid, leaks and reachable (warnings, for a `warning:` entry) */
    lwr_total_t hidden;     /* leaks hidden: handles and bytes */
    lwr_total_t reachable;  /* reachable heap blocks hidden */
} lwr_supp_use_t;

/* A warning of one process (docs/FORMAT.md `warnings`), its stacks symbolized. Warnings are not merged. */
typedef struct {
    long pid;
    char *type;             /* "bad-close", "double-close", "fd-into-exec", or a type this reader does not know */
    char *handle;           /* NULL when absent */
    char *message;          /* NULL when absent */
    uint64_t count;
    lwr_frame_t *frames;
    size_t nframes;
    lwr_frame_t *other_frames;
    size_t nother;
} lwr_warning_t;

typedef struct {
    lwr_total_t totals[LWR_KIND_COUNT];
    lwr_total_t reachable;      /* heap blocks still reachable at exit: reported as a sum, not as sites */
    lwr_site_t *sites;
    size_t nsites;
    lwr_process_t *processes;   /* ascending pid */
    size_t nprocesses;
    bool has_gate;
    lwr_gate_t gate;
    lwr_warning_t *warnings;    /* in the order of the dumps, then of each dump */
    size_t nwarnings;
    bool show_reachable;        /* the text report lists reachable sites too (--show-reachable) */
    bool gen_suppressions;      /* the text report ends with a suppression line per site (--gen-suppressions) */
    bool show_indirect;         /* the text report lists the indirect sites under their root (--show-indirect) */
    bool has_suppressions;      /* suppressions were applied: `suppressed` and `unused_suppressions` exist */
    lwr_supp_use_t *supps;      /* every suppression applied, in the order they were read (built-in first) */
    size_t nsupps;
    bool has_unchecked;         /* `leakwatch run` looked for unchecked processes: `unchecked` exists */
    lwr_unchecked_t *unchecked; /* ascending pid; freed with the report */
    size_t nunchecked;
} lwr_report_t;

/* The LEAKWATCH_SAMPLE of the first sampled process of r (its heap figures are estimates), 0 when none was. */
uint64_t lwr_report_sampling(const lwr_report_t *r);

/* Builds a report from `n` dumps. Frames are symbolized with `sym` (NULL: no symbols, every frame is known by
 * module and offset only). Sites holding nothing are left out; sites of reachable blocks are sites of class
 * LWR_CLASS_REACHABLE, summed into `reachable` rather than the kinds' totals. Two sites are one when their kinds and classes are equal and their frames are
 * equal one by one:
 * same function and file where the function is known, else same module and offset (same address when no module
 * holds it). Counts, bytes and totals add up; samples are kept up to LWR_MAX_SAMPLES; sites are sorted by
 * bytes, then count, descending. Totals come from each dump's `totals`. Returns NULL when out of memory;
 * the caller frees the report with lwr_report_free. The dumps may be freed afterwards. */
lwr_report_t *lwr_report_build(lwr_dump_t *const *dumps, size_t n, lwr_symbolizer_t *sym);

/* Sorts sites by bytes (lwr_site_group_total), then count, descending: leaks first, then the indirect sites
 * (lwr_site_is_indirect), then the reachable sites; ties keep a stable, deterministic order (kind, then frames).
 * Gives each site its place as id, the references between sites following. */
void lwr_report_sort(lwr_report_t *report);

/* The number of leaked handles of the kinds in `kinds`: the sum of totals[k].count. */
uint64_t lwr_report_count(const lwr_report_t *report, lwr_kindset_t kinds);

/* The number of sites that are leaks (every site but the reachable ones). */
size_t lwr_report_leak_sites(const lwr_report_t *report);

/* What an attributed site (one heading lost blocks) heads, its own blocks and the indirect ones together: count
 * and bytes; any other site's own. Sites are sorted by these bytes. */
lwr_total_t lwr_site_group_total(const lwr_site_t *s);

/* Whether the site is an indirect leak that follows the definite ones (every indirect site but a cycle's head). */
bool lwr_site_is_indirect(const lwr_site_t *s);

/* The site with that id, or NULL (removed, or 0). */
const lwr_site_t *lwr_report_site_by_id(const lwr_report_t *report, uint64_t id);

/* Removes site i from the report (freeing it), keeping the order of the others. Totals are left as they are; an
 * indirect site leaves its root's indirect total and the indirect_ids of every site. */
void lwr_report_remove_site(lwr_report_t *report, size_t i);

/* Removes warning i from the report (freeing it), keeping the order of the others. */
void lwr_report_remove_warning(lwr_report_t *report, size_t i);

void lwr_report_free(lwr_report_t *report);

/* A copy of `s`, or NULL for NULL; out of memory returns NULL and sets *oom. */
char *lwr_dup_or_null(const char *s, int *oom);

/* Fills frame `f` of runtime address `address` with copies of what symbol `s` knows. Returns 0, or -1 when out
 * of memory (what was copied stays in the frame, for the caller to free). */
int lwr_frame_set(lwr_frame_t *f, uint64_t address, const lwr_symbol_t *s);

/* The symbolized stack of one dump site: one symbol per inlining level, innermost first, each with the address
 * it came from. Reused from site to site; free with lwr_stack_free. */
typedef struct {
    lwr_symbol_t *syms;
    uint64_t *addrs;
    size_t n, cap;
} lwr_stack_t;

#define LWR_STACK_INIT { NULL, NULL, 0, 0 }

/* Symbolizes the frames of site `ds` of dump `d` into `st` (replacing what it held): each address gives one
 * symbol, or several when it lies in inlined code; `sym` NULL gives module and offset only. Returns 0, or -1
 * when out of memory. */
int lwr_stack_symbolize(lwr_stack_t *st, const lwr_dump_t *d, const lwr_dump_site_t *ds, lwr_symbolizer_t *sym);

void lwr_stack_free(lwr_stack_t *st);

#endif

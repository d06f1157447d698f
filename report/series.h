/* A series of dumps with their call sites matched across dumps by symbolized frames: the model of diff, trend and
 * triage, plus the frame and duration helpers those commands share (the text printers are in render.h). */
#ifndef LWR_SERIES_H
#define LWR_SERIES_H

#include "aggregate.h"
#include "cli.h"
#include "dump.h"
#include "render.h"
#include "symbolize.h"

#include <jansson.h>
#include <stdio.h>

/* What one site held in one dump of the series. A site absent from a dump has a zero point there. */
typedef struct {
    uint64_t count;
    uint64_t bytes;
    int64_t oldest_age_ms;  /* -1 when absent (the site is not in that dump, or the dump has no ages) */
    int64_t median_age_ms;  /* -1 when absent */
} lwr_point_t;

typedef struct {
    lwr_kind_t kind;
    lwr_class_t cls;            /* class in the newest dump holding the site (LWR_CLASS_NONE when unclassified) */
    lwr_frame_t *frames;        /* symbolized as in reports (one frame per inlining level), innermost first */
    size_t nframes;
    lwr_point_t *points;        /* one per dump, in the series' order */
    lwr_report_sample_t *samples;   /* from the newest dump holding the site, at most LWR_MAX_SAMPLES */
    int64_t *sample_ages;       /* age_ms of each sample, -1 when absent */
    size_t nsamples;
    lwr_held_t *held;           /* who holds it, from the newest dump holding the site; NULL when unknown */
} lwr_gsite_t;

/* What the series keeps of each dump. */
typedef struct {
    char *file;
    long pid;
    long ppid;              /* -1 when absent */
    long seq;
    int64_t uptime_ms;      /* -1 when absent */
    int64_t time_unix_ms;   /* -1 when absent */
    char *exe;              /* NULL when absent */
} lwr_series_dump_t;

typedef struct {
    lwr_series_dump_t *dumps;
    size_t ndumps;
    bool one_process;       /* every dump has the same pid */
    lwr_gsite_t *sites;     /* in order of first appearance */
    size_t nsites;
} lwr_series_t;

/* Loads every dump file (leakwatch.<pid>.<seq>.json) of `dir` and of its users' `uid-<N>` directories into
 * `list`, not only the newest of each pid.
 * A dump that cannot be read is named on stderr and skipped. Returns 0, or -1 when one could not be read. */
int lwr_series_add_dir(const char *dir, lwr_dumplist_t *list);

/* Puts dumps in time order. Dumps of one process: by uptime_ms (when both have it), then seq. Dumps of several
 * processes: by time_unix_ms (when both have it), then pid, then seq. The argument order never matters. */
void lwr_series_sort(lwr_dump_t **dumps, size_t n);

/* Builds the series of `n` dumps in the given order. Every live handle counts, whatever its reachability class:
 * a cache that grows without bound is still reachable. Two dump sites are one series site when their identities
 * are equal (lwr_site_identity: kind, and every frame's function, file, line and column where the function is
 * known, else module and offset, else the address), the rule by which `leakwatch report` merges sites, class
 * aside; sites of one dump that map to the same series site add up. Sites holding nothing are left out. `sym`
 * NULL: module and offset only. Returns NULL when out of memory; free with lwr_series_free. The dumps may be
 * freed afterwards. */
lwr_series_t *lwr_series_build(lwr_dump_t *const *dumps, size_t n, lwr_symbolizer_t *sym);

void lwr_series_free(lwr_series_t *s);

/* The time of dump i in seconds from the first dump: uptime for one process, wall-clock time for several, the
 * dump's index when the dumps lack the member. */
double lwr_series_time_s(const lwr_series_t *s, size_t i);

/* Parses a duration: a decimal number followed by a unit, ms, s, m or h ("500ms", "30s", "5m", "1h"; "0s" is
 * allowed). Returns 0 and the milliseconds in *ms, or -1 (then *ms is unchanged) for anything else, a missing
 * unit, a sign, a fraction, or a value that does not fit in 2^53 ms. */
int lwr_parse_duration(const char *text, int64_t *ms);

/* Writes a duration for people: "850ms", "12.5s", "7m03s", "2h05m", "3d04h". Negative: "-". */
void lwr_format_age(int64_t ms, char *buf, size_t len);

/* The frame that names a site in one line: the program's own first frame (lwr_program_frame, as report sites are
 * named), else the first frame; NULL when the site has none. */
const lwr_frame_t *lwr_naming_frame(const lwr_gsite_t *g);


/* The site as JSON: kind, class (when classified), frames and samples (handle, size, age_ms, detail), without
 * numbers; the caller adds those. NULL when out of memory. */
json_t *lwr_gsite_json(const lwr_gsite_t *g);

/* `leakwatch report --older-than`: keeps in `d` only the sites whose oldest live handle is at least `min_ms`
 * old (`oldest_age_ms` >= min_ms); the others are emptied (count and bytes 0, which reports leave out). A kept
 * site keeps its count and bytes (a dump has the ages of each site's oldest and median handle and of at most
 * five samples, not of every handle), and only its samples at least `min_ms` old (samples without an age stay).
 * The dump's totals and reachable sum become the sums of the kept sites. Returns the number of sites that had no
 * `oldest_age_ms` (they are dropped too). */
size_t lwr_dump_keep_older(lwr_dump_t *d, int64_t min_ms);

/* ---- diff (cmd_diff.c) ---- */

typedef enum { LWR_DIFF_NEW, LWR_DIFF_GROWN, LWR_DIFF_SAME, LWR_DIFF_SHRUNK, LWR_DIFF_GONE } lwr_diff_status_t;

/* The name of a status in JSON: "new", "grown", "unchanged", "shrunk", "gone". */
const char *lwr_diff_status_name(lwr_diff_status_t st);

/* The status of site g between dumps `a` (old) and `b` (new) of the series. Growth is judged on bytes first,
 * then on count (descriptors, sockets, threads and timers have no bytes). */
lwr_diff_status_t lwr_diff_status(const lwr_gsite_t *g, size_t a, size_t b);

/* Fills order[0..s->nsites) with site indices: the sites that grew, by delta_bytes then delta_count, descending;
 * then the unchanged ones by bytes and count; then those that shrank or vanished, the largest loss first. */
void lwr_diff_order(const lwr_series_t *s, size_t a, size_t b, size_t *order);

/* The diff of dumps a and b as JSON (`leakwatch_diff: 1`, README). NULL when out of memory. */
json_t *lwr_diff_json(const lwr_series_t *s, size_t a, size_t b);

/* ---- trend (cmd_trend.c) ---- */

typedef struct {
    size_t site;                /* index in the series */
    double slope_bytes;         /* least-squares slope of bytes over time, bytes per second */
    double slope_count;         /* least-squares slope of count over time, per second */
    double grew;                /* fraction of intervals in which the site grew (bytes, or count when bytes are equal) */
    double shrank;              /* fraction of intervals in which it shrank */
    double score_bytes;         /* slope_bytes * max(0, grew - shrank) */
    double score_count;         /* slope_count * max(0, grew - shrank) */
} lwr_trend_t;

/* Ranks every site of the series (at least two dumps) by steady growth. Dumps of several processes are taken
 * process by process (a master and its workers are separate series): a site's slopes are the sums of its
 * slopes in each process with at least two dumps, grew and shrank the fractions over all those processes'
 * intervals in which it held something. Then: first the sites with a positive score,
 * by score_bytes, then score_count, descending (a heap site that grows steadily outranks any descriptor site);
 * then the rest by `grew`, then by bytes and count in the newest dump. A pool that goes up and down as often
 * as it grows scores 0 whatever its size. Returns an array of s->nsites entries to free, or NULL. */
lwr_trend_t *lwr_trend_rank(const lwr_series_t *s);

/* The dumps `leakwatch trend` ranks, chosen from dumps[0..*n) in place (the others freed, the order kept, *n
 * updated): never an `exec` dump (warnings only, no sites), and an `exit` dump only when `include_exit` or when
 * no other dump of its process was taken while it ran (a reason other than exit and exec, or none). The exit
 * dump is written after the program's teardown freed what it frees: a service that empties its caches at exit
 * would look as if it stopped growing. Returns the number of exit dumps left out, and in *exec_out (when not
 * NULL) the number of exec dumps; out of memory leaves every dump in. */
size_t lwr_trend_select(lwr_dump_t **dumps, size_t *n, bool include_exit, size_t *exec_out);

/* The ranking as JSON (`leakwatch_trend: 1`, README). NULL when out of memory. */
json_t *lwr_trend_json(const lwr_series_t *s, const lwr_trend_t *t);

#endif

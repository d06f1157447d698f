/* The tracker's configuration, read from the environment once (config.c); the tracker's files and the unit
 * tests, which set it directly, read it. */
#ifndef LW_CONFIG_H
#define LW_CONFIG_H

#include "lw_tracker.h"

#include <stdbool.h>

#define LW_MAX_DEPTH 64 /* the deepest stack recorded, and the most frames a site returns */

typedef enum { LW_UNWIND_LIBUNWIND, LW_UNWIND_FP } lw_unwind_mode_t;
typedef enum { LW_REPORT_TEXT, LW_REPORT_NONE } lw_report_mode_t;
typedef enum { LW_REACH_NEVER, LW_REACH_AT_EXIT, LW_REACH_EVERY_DUMP } lw_reach_mode_t;

typedef struct {
    unsigned kinds;             /* bit per lw_kind_t: LEAKWATCH_KINDS */
    int depth;                  /* LEAKWATCH_DEPTH, 1..LW_MAX_DEPTH */
    lw_unwind_mode_t unwind;    /* LEAKWATCH_UNWIND=libunwind|fp */
    bool verify;                /* LEAKWATCH_VERIFY=1: unwind fully on every cache hit and compare */
    lw_report_mode_t report;    /* LEAKWATCH_REPORT=text|none */
    char dump_dir[512];         /* LEAKWATCH_DUMP_DIR, empty when unset */
    char cli[512];              /* LEAKWATCH_CLI or the leakwatch next to the library */
    int dump_signal;            /* LEAKWATCH_DUMP_SIGNAL, 0 when unset */
    unsigned dump_interval_s;   /* LEAKWATCH_DUMP_INTERVAL, 0 when unset */
    bool freeres;               /* LEAKWATCH_FREERES=0 turns off the runtime's freeing at exit */
    lw_reach_mode_t reach;      /* LEAKWATCH_REACHABILITY: never, in the exit dump (default), in every dump */
} lw_config_t;

extern lw_config_t lw_config;

/* Parses the environment into lw_config; bad values are warned about and replaced by defaults. */
void lw_config_load(void);
/* Parses a LEAKWATCH_KINDS style list ("heap,fd" or "all"); returns the bit set, or -1 when a name is unknown. */
int lw_parse_kinds(const char *s);
const char *lw_kind_name(lw_kind_t kind);
/* Parses a LEAKWATCH_SAMPLE value: a whole number of bytes from 1 to LW_SAMPLE_MAX, with an optional suffix
 * K, M or G (binary multiples, either case, optionally followed by B or iB), or 0 for no sampling. Returns 0 with
 * *out set, or -1 for anything else. */
#define LW_SAMPLE_MAX (1ull << 40)
int lw_parse_sample(const char *s, uint64_t *out);
/* Parses a LEAKWATCH_DUMP_SIGNAL value: a name with or without SIG (USR1, USR2, HUP, PROF, WINCH, URG, PWR,
 * RTMIN, RTMIN+n, RTMAX-n, RTMAX) or the number of one of those signals. Returns the signal, -2 for a signal the
 * program needs for itself (SEGV or 11, CHLD, STOP, ... by name or number), -1 for anything else. */
int lw_parse_signal(const char *s);

#endif

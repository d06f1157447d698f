/* LeakSanitizer's LSAN_OPTIONS as the library maps them when it runs by hand (config.c; README, LSAN_OPTIONS). */
#ifndef LW_LSAN_H
#define LW_LSAN_H

/* Reads LSAN_OPTIONS, once, from lw_config_load: detect_leaks=0 turns the report at exit off (unless
 * LEAKWATCH_REPORT says otherwise), exitcode=N is kept for lw_lsan_exit. Under `leakwatch run` (LEAKWATCH_MARKERS
 * set) the library leaves LSAN_OPTIONS to run. Allocates nothing. */
void lw_lsan_load(void);

/* Whether the report at exit is run with `--lsan`, so that the leakwatch command applies suppressions=,
 * log_path=, max_leaks= and exitcode= (and names the options it does not map). */
int lw_lsan_active(void);

/* After the report at exit, whose command ended with `report_status` (its exit status, -1 when unknown): when
 * LSAN_OPTIONS set exitcode=N (not 0) and the report found leaks (it exited with N), ends the process with status
 * N, as LeakSanitizer does; otherwise returns. `flush` says stdio may still be flushed (the runtime's memory was
 * not released). */
void lw_lsan_exit(int report_status, int flush);

#endif

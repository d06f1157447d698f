/* The marker files by which `leakwatch run` learns which process images existed, so that one that ended
 * without a dump, or ran without the library, is named instead of passing unseen (tracker/markers.c). */
#ifndef LW_MARKERS_H
#define LW_MARKERS_H

#include <sys/types.h>

#include "lw_tracker.h"

/* Everything here does nothing unless LEAKWATCH_MARKERS=1 and LEAKWATCH_DUMP_DIR are set (`leakwatch run` sets
 * both). None of it allocates, holds a descriptor past the call, or changes errno.
 *
 * In the dump directory, for process P:
 *   leakwatch.P.start   this image of P runs with the library; removed once its exit dump is written
 *   leakwatch.P.exec    P is about to exec a program; removed by that program's library when it starts
 *   leakwatch.P.spawn   P was started by posix_spawn of a traced process (see lw_marker_spawned)
 * Each holds two lines: P's start time (field 22 of /proc/P/stat, the same across exec, different for a later
 * process that reuses the number) and the executable or the exec'd path. A marker left by an earlier process of
 * the same number is renamed to leakwatch.P.K.start (or .exec, K from 1) rather than lost. */

/* Reads LEAKWATCH_MARKERS and creates the start marker of this image. Call once, after lw_config_load. */
void lw_markers_init(void);

/* Whether this process writes markers, that is runs under `leakwatch run`, whose dump directory it is. */
int lw_markers_enabled(void);

/* In a forked child: creates the child's own start marker. */
void lw_marker_forked(void);

/* The process, still privileged, is about to become user `uid`, whose dumps go to userdir (cred.c): its start
 * marker moves there and becomes that user's, so that its exit dump can remove it. */
void lw_marker_follow_user(const char *userdir, uid_t uid);

/* The exit dump of this process was written to the dump directory: its start marker goes. */
void lw_marker_done(void);

/* The calling process (or vfork child) is about to exec `what`: creates its exec marker. Safe in a vfork child:
 * it touches nothing but a thread-local flag. */
void lw_marker_exec(const char *what);

/* The exec announced by lw_marker_exec failed: its marker goes. */
void lw_marker_exec_failed(void);

/* lw_marker_spawned is declared in boundary/lw_tracker.h: posix_spawn's wrapper calls it. */

#endif

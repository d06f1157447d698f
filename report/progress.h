/* A progress line on standard error for work over many dumps (reading, symbolizing), shown only on a terminal. */
#ifndef LWR_PROGRESS_H
#define LWR_PROGRESS_H

#include <stddef.h>

/* Work of fewer items than this ends too soon for a line to help; a phase shows nothing until it reaches it. */
#define LWR_PROGRESS_MIN_ITEMS 64

/* Starts a phase, `what` (a static string such as "reading dumps") over `total` items, 0 when the total is not
 * known. A phase already running is ended first. Nothing is written unless standard error is a terminal. */
void lwr_progress_begin(const char *what, size_t total);

/* One more item of the phase is done. Writes `\rleakwatch: WHAT N/TOTAL` (or `WHAT N`) once N reaches
 * LWR_PROGRESS_MIN_ITEMS, then at most every 100 ms, and at the last item. Does nothing outside a phase. */
void lwr_progress_tick(void);

/* Erases the line for a message on standard error (the next tick writes it again). */
void lwr_progress_clear(void);

/* Ends the phase: the line is erased (carriage return and erase to end of line) if one was written, so that what
 * follows starts on a clean line. */
void lwr_progress_end(void);

#endif

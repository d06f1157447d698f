/* Flame-graph output of a report: collapsed stacks ("folded") for flame-graph tools, and an SVG drawn here. */
#ifndef LWR_FLAME_H
#define LWR_FLAME_H

#include "aggregate.h"

#include <stdio.h>

typedef enum { LWR_WEIGHT_BYTES, LWR_WEIGHT_COUNT } lwr_weight_t;

/* Writes one line per distinct stack: `[kind];outermost;...;innermost WEIGHT`, frames named by function, else
 * `module+0xoffset`, else `0xaddress` (a `;` inside a name becomes `:`, control characters become spaces).
 * Sites of equal stacks add up; sites of weight 0 (descriptors etc. when weighting by bytes) are left out, and so
 * are blocks an exit dump found still reachable, unless the report shows them (--show-reachable);
 * lines are sorted by stack. Returns 0, or -1 when out of memory or writing failed. */
int lwr_render_folded(FILE *out, const lwr_report_t *r, lwr_weight_t weight);

/* Writes a standalone SVG flame graph of the same stacks: the root at the bottom, each frame a rectangle whose
 * width is proportional to its weight, its name as text when it fits, a <title> tooltip with the name, weight
 * and share, and a color family per kind (heap red-orange, fd blue, socket green, thread purple, timer yellow).
 * Every string is XML-escaped. Returns 0, or -1 when out of memory or writing failed. */
int lwr_render_svg(FILE *out, const lwr_report_t *r, lwr_weight_t weight);

/* Writes `s` with &, <, >, " and ' escaped and control characters replaced by '?'. */
void lwr_xml_escape(FILE *out, const char *s);

#endif

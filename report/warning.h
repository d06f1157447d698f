/* The sentence a report shows for a warning, made from the values a dump carries. */
#ifndef LWR_WARNING_H
#define LWR_WARNING_H

/* The values of one entry of a dump's `warnings` (docs/FORMAT.md); NULL when absent. */
typedef struct {
    const char *type, *handle, *kind, *target, *program;
} lwr_warning_values_t;

/* The sentence for a bad-close, double-close or fd-into-exec warning, malloc'd; NULL for another type (a dump of
 * a newer library, or heap-unclassified, which carries its reason as `message`) or, with *oom set, when out of
 * memory. */
char *lwr_warning_sentence(const lwr_warning_values_t *v, int *oom);

#endif

/* The list of warnings a dump carries: added, merged, counted when full, read and withdrawn under one lock. */
#include "internal.h"
#include "warnings.h"

static lw_lock_t warn_lock;
static lw_warning_t warnings[LW_MAX_WARNINGS];
static size_t nwarnings;
static size_t ndropped;

static const char *const type_names[] = { "bad-close", "double-close", "fd-into-exec" };

const char *lw_warning_type_name(unsigned type)
{
    return type < sizeof(type_names) / sizeof(type_names[0]) ? type_names[type] : "unknown";
}

void lw_warning_add(const lw_warning_t *add, int merge)
{
    lw_lock(&warn_lock);
    if (merge) {
        for (size_t i = 0; i < nwarnings; i++) {
            lw_warning_t *w = &warnings[i];
            if (w->type == add->type && w->fd == add->fd && w->site == add->site && w->other_site == add->other_site) {
                if (w->count < UINT32_MAX)
                    w->count++;
                lw_unlock(&warn_lock);
                return;
            }
        }
    }
    if (nwarnings < LW_MAX_WARNINGS) {
        warnings[nwarnings] = *add;
        warnings[nwarnings++].count = 1;
    } else {
        ndropped++;
    }
    lw_unlock(&warn_lock);
}

int lw_warning_get(size_t i, lw_warning_t *w)
{
    int found = 0;
    lw_lock(&warn_lock);
    if (i < nwarnings) {
        *w = warnings[i];
        found = 1;
    }
    lw_unlock(&warn_lock);
    return found;
}

size_t lw_warning_count(void)
{
    lw_lock(&warn_lock);
    size_t n = nwarnings;
    lw_unlock(&warn_lock);
    return n;
}

size_t lw_warnings_dropped(void)
{
    lw_lock(&warn_lock);
    size_t n = ndropped;
    lw_unlock(&warn_lock);
    return n;
}

void lw_warnings_withdraw(size_t mark, lw_warning_type_t type)
{
    lw_lock(&warn_lock);
    size_t keep = mark;
    for (size_t i = mark; i < nwarnings; i++)
        if (warnings[i].type != type)
            warnings[keep++] = warnings[i];
    if (keep < nwarnings)
        nwarnings = keep;
    lw_unlock(&warn_lock);
}

void lw_warnings_forked(void)
{
    /* The child has one thread: a lock held by another thread of the parent would never be released here. */
    atomic_store(&warn_lock.held, 0);
    nwarnings = 0;
    ndropped = 0;
}

void lw_warnings_reset(void)
{
    lw_lock(&warn_lock);
    nwarnings = 0;
    ndropped = 0;
    lw_unlock(&warn_lock);
}

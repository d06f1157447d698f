/* Reads suppression files and the built-in list, matches entries against report sites, and removes what they hide. */
#include "suppress.h"

#include "render_ci.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The runtime's own memory that may stay allocated at exit without being the program's leak: what glibc 2.36 and
 * libstdc++ keep for the life of the process (locale, gettext, time zone, iconv and NSS caches, the environment,
 * stdio buffers, thread-local storage, the dynamic linker's maps) and free only in __libc_freeres or
 * __gnu_cxx::__freeres, which do not run before a dump taken from a running process or with LEAKWATCH_FREERES=0.
 * Seen on python3, perl, git, sqlite3, ls, date, getent and the C++ and dlopen fixtures. Only allocations the
 * runtime makes on its own behalf belong here: a program's leak that merely passes through libc (strdup,
 * fopen, newlocale, getline) must stay visible. `inner` restricts an entry to sites whose frames inside the
 * matched one all lie in a module whose base name starts with it. */
static const struct {
    const char *line;
    const char *inner;
} builtin[] = {
    /* Thread-local storage: DTVs and dynamic TLS blocks. */
    { "leak:^_dl_allocate_tls", NULL },
    { "leak:^allocate_dtv$", NULL },
    { "leak:^_dl_resize_dtv$", NULL },
    { "leak:^_dl_update_slotinfo$", NULL },
    { "leak:^tls_get_addr_tail$", NULL },
    /* The dynamic linker's maps, scopes and object lookup tables of loaded objects. */
    { "leak:^_dl_new_object$", NULL },
    { "leak:^_dl_map_object", NULL },
    { "leak:^_dl_init_paths$", NULL },
    { "leak:^_dl_important_hwcaps$", NULL },
    { "leak:^_dl_add_to_namespace_list$", NULL },
    { "leak:^add_to_global", NULL },
    { "leak:^_dl_check_map_versions$", NULL },
    { "leak:^_dlfo_mappings_segment_allocate$", NULL },
    /* Locales loaded by setlocale (and the data newlocale shares with it), gettext catalogs and bindings. */
    { "leak:^_nl_find_locale$", NULL },
    { "leak:^_nl_intern_locale_data$", NULL },
    { "leak:^setlocale$", NULL },
    { "leak:^_nl_find_domain$", NULL },
    { "leak:^_nl_load_domain$", NULL },
    { "leak:^set_binding_values$", NULL },
    { "leak:^__textdomain$", NULL },
    /* The time zone read by tzset, iconv modules and the wide-character conversion state. */
    { "leak:^tzset_internal$", NULL },
    { "leak:^__tzfile_read$", NULL },
    { "leak:^__gconv_", NULL },
    { "leak:^__wcsmbs_load_conv$", NULL },
    /* NSS: the parsed nsswitch.conf, loaded modules, and the static buffers of getpwnam and friends. */
    { "leak:^__nss_module_allocate$", NULL },
    { "leak:^__nss_action_allocate$", NULL },
    { "leak:^__nss_database_get", NULL },
    { "leak:^getpwnam$", NULL },
    { "leak:^getpwuid$", NULL },
    { "leak:^getgrnam$", NULL },
    { "leak:^getgrgid$", NULL },
    /* setenv's strings (environ may point to them, so libc never frees them) and stdio's stream buffers. */
    { "leak:^__add_to_environ$", NULL },
    { "leak:^_IO_file_doallocate$", NULL },
    /* libstdc++'s emergency exception-handling pool, allocated by its own static initialisation: by name when
     * libstdc++'s symbols are known, else as an allocation made from libstdc++ code alone during _dl_init. */
    { "leak:^(anonymous namespace)::pool::pool", NULL },
    { "leak:^call_init$", "libstdc++" },
};
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

static const char *const type_names[LWR_KIND_COUNT] = { "leak", "fd", "socket", "thread", "timer", "mmap" };
/* The warning types a `warning:` line may name (docs/FORMAT.md `warnings`), and `*` for any. */
static const char *const warning_types[] = { "bad-close", "double-close", "fd-into-exec", "*" };

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The character at position i of the pattern with the implicit leading and trailing `*`s. */
static char pat_at(const char *p, size_t n, int lead, size_t i)
{
    if (lead && i == 0)
        return '*';
    i -= (size_t)lead;
    return i < n ? p[i] : '*';
}

bool lwr_supp_glob(const char *pattern, const char *name)
{
    if (!pattern || !name || !name[0])
        return false;
    /* an anchored pattern that begins with a literal: most names fail on their first byte (the built-in
     * suppressions are all of this form and are tried on every frame of every site) */
    if (pattern[0] == '^' && pattern[1] && pattern[1] != '*' && pattern[1] != '$' && name[0] != pattern[1])
        return false;
    size_t n = strlen(pattern);
    int lead = 1, trail = 1;
    if (n > 0 && pattern[0] == '^') {
        lead = 0;
        pattern++;
        n--;
    }
    if (n > 0 && pattern[n - 1] == '$') {
        trail = 0;
        n--;
    }
    size_t m = n + (size_t)lead + (size_t)trail;
    /* Glob matching with one backtrack point: on a mismatch, let the last `*` swallow one more character. */
    size_t pi = 0, si = 0, star = (size_t)-1, star_si = 0;
    size_t slen = strlen(name);
    while (si < slen) {
        if (pi < m && pat_at(pattern, n, lead, pi) == '*') {
            star = pi++;
            star_si = si;
        } else if (pi < m && pat_at(pattern, n, lead, pi) == name[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++star_si;
        } else {
            return false;
        }
    }
    while (pi < m && pat_at(pattern, n, lead, pi) == '*')
        pi++;
    return pi == m;
}

static int add(lwr_supplist_t *l, lwr_kind_t kind, const char *pat, size_t plen, const char *file, unsigned line,
               bool builtin_entry)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        lwr_supp_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    lwr_supp_t *s = &l->v[l->n];
    s->kind = kind;
    s->line = line;
    s->builtin = builtin_entry;
    s->warning = false;
    s->inner = NULL;
    s->pattern = strndup(pat, plen);
    s->file = file ? strdup(file) : NULL;
    if (!s->pattern || (file && !s->file)) {
        free(s->pattern);
        free(s->file);
        return -1;
    }
    l->n++;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The length of the warning type at the start of `TYPE[:PATTERN]`. */
static size_t warning_type_len(const char *pat, size_t len)
{
    const char *colon = memchr(pat, ':', len);
    size_t n = colon ? (size_t)(colon - pat) : len;
    while (n > 0 && is_blank(pat[n - 1]))
        n--;
    return n;
}

/* The frame pattern of `TYPE[:PATTERN]`, blanks around it removed; NULL when there is none. */
static const char *warning_frame_pattern(const char *pat)
{
    const char *colon = strchr(pat, ':');
    if (!colon)
        return NULL;
    colon++;
    while (*colon && is_blank(*colon))
        colon++;
    return colon;
}

/* Checks the text after `warning:`: a known warning type or `*`, then nothing or `:PATTERN`, PATTERN not empty. */
static int check_warning_line(const char *pat, size_t len, const char *shown, unsigned line, char *err,
                              size_t errlen)
{
    size_t tn = warning_type_len(pat, len);
    bool known = false;
    for (size_t i = 0; i < sizeof warning_types / sizeof warning_types[0]; i++)
        if (strlen(warning_types[i]) == tn && memcmp(warning_types[i], pat, tn) == 0)
            known = true;
    if (!known) {
        fail(err, errlen, "%s:%u: unknown warning type '%.*s' (bad-close, double-close, fd-into-exec or *)", shown,
             line, (int)(tn > 40 ? 40 : tn), pat);
        return -1;
    }
    const char *colon = memchr(pat, ':', len);
    if (colon) {
        const char *q = colon + 1, *end = pat + len;
        while (q < end && is_blank(*q))
            q++;
        if (q == end) {
            fail(err, errlen, "%s:%u: empty frame pattern after 'warning:%.*s:'", shown, line, (int)tn, pat);
            return -1;
        }
    }
    return 0;
}

/* Parses one line (without its newline); a NULL file means the built-in list. */
static int parse_line(lwr_supplist_t *l, const char *p, size_t len, const char *file, unsigned line, char *err,
                      size_t errlen)
{
    const char *shown = file ? file : "<built-in>";
    while (len > 0 && is_blank(*p)) {
        p++;
        len--;
    }
    while (len > 0 && is_blank(p[len - 1]))
        len--;
    if (len == 0 || p[0] == '#')
        return 0;
    const char *colon = memchr(p, ':', len);
    if (!colon) {
        fail(err, errlen, "%s:%u: expected TYPE:PATTERN (TYPE is leak, fd, socket, thread, timer or warning), got '%.*s'",
             shown, line, (int)(len > 80 ? 80 : len), p);
        return -1;
    }
    size_t tlen = (size_t)(colon - p);
    while (tlen > 0 && is_blank(p[tlen - 1]))
        tlen--;
    int kind = -1;
    for (int k = 0; k < LWR_KIND_COUNT; k++)
        if (strlen(type_names[k]) == tlen && memcmp(type_names[k], p, tlen) == 0)
            kind = k;
    bool warning = tlen == 7 && memcmp(p, "warning", 7) == 0;
    if (kind < 0 && !warning) {
        fail(err, errlen, "%s:%u: unknown suppression type '%.*s' (leak, fd, socket, thread, timer or warning)", shown,
             line, (int)(tlen > 40 ? 40 : tlen), p);
        return -1;
    }
    const char *pat = colon + 1, *end = p + len;
    while (pat < end && is_blank(*pat))
        pat++;
    if (pat == end) {
        fail(err, errlen, "%s:%u: empty pattern after '%s:'", shown, line, warning ? "warning" : type_names[kind]);
        return -1;
    }
    if (memchr(pat, '\0', (size_t)(end - pat))) {
        fail(err, errlen, "%s:%u: a NUL byte in the pattern", shown, line);
        return -1;
    }
    if (warning && check_warning_line(pat, (size_t)(end - pat), shown, line, err, errlen) != 0)
        return -1;
    if (add(l, warning ? LWR_HEAP : (lwr_kind_t)kind, pat, (size_t)(end - pat), file, line, file == NULL) != 0) {
        fail(err, errlen, "%s:%u: out of memory", shown, line);
        return -1;
    }
    l->v[l->n - 1].warning = warning;
    return 0;
}

int lwr_supp_parse(lwr_supplist_t *l, const char *text, size_t len, const char *file, char *err, size_t errlen)
{
    unsigned line = 1;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > LWR_SUPP_MAX_LINE) {
            /* No pattern is that long; such a line is a file that is not a suppression file. */
            fail(err, errlen, "%s:%u: line longer than %d bytes", file ? file : "-", line, LWR_SUPP_MAX_LINE);
            return -1;
        }
        if (parse_line(l, p, n, file ? file : "-", line, err, errlen) != 0)
            return -1;
        p += n + (nl != NULL);
        line++;
    }
    return 0;
}

int lwr_supp_load(lwr_supplist_t *l, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = lwr_read_file(path, LWR_SUPP_MAX_BYTES, false, &len, err, errlen);
    if (!text)
        return -1;
    int rc = lwr_supp_parse(l, text, len, path, err, errlen);
    free(text);
    return rc;
}

int lwr_supp_add_builtin(lwr_supplist_t *l)
{
    for (size_t i = 0; i < NBUILTIN; i++) {
        if (parse_line(l, builtin[i].line, strlen(builtin[i].line), NULL, (unsigned)i + 1, NULL, 0) != 0)
            return -1;
        l->v[l->n - 1].inner = builtin[i].inner;
    }
    return 0;
}

int lwr_supp_setup(lwr_supplist_t *l, const char *env, const char *const *files, size_t nfiles, bool no_builtin,
                   char *err, size_t errlen)
{
    if (env) {
        const char *p = env;
        while (*p) {
            const char *colon = strchr(p, ':');
            size_t n = colon ? (size_t)(colon - p) : strlen(p);
            if (n > 0) {
                char *path = strndup(p, n);
                if (!path) {
                    fail(err, errlen, "out of memory");
                    return -1;
                }
                int rc = lwr_supp_load(l, path, err, errlen);
                free(path);
                if (rc != 0)
                    return -1;
            }
            p += n + (colon != NULL);
        }
    }
    for (size_t i = 0; i < nfiles; i++)
        if (lwr_supp_load(l, files[i], err, errlen) != 0)
            return -1;
    if (!no_builtin && lwr_supp_add_builtin(l) != 0) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

/* Whether the pattern matches a path or its base name. */
/* path and its base name (base_name(path), given) */
static bool path_matches(const char *pattern, const char *path, const char *base)
{
    if (!path)
        return false;
    return lwr_supp_glob(pattern, path) || (base != path && lwr_supp_glob(pattern, base));
}

/* Whether frames [0, n) all lie in a module whose base name starts with `prefix`. */
static bool inner_frames_in(const lwr_site_t *site, size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++) {
        const char *b = base_name(site->frames[i].module);
        if (!b || strncmp(b, prefix, strlen(prefix)) != 0)
            return false;
    }
    return n > 0;
}

/* Whether the pattern matches the frame's position, `FILE:LINE` or `FILE:LINE:COLUMN`, with the full path or the
 * base name of its file. Only a pattern with a colon can match one, so the others skip the formatting. */
static bool location_matches(const char *pattern, const lwr_frame_t *f, const char *file_base)
{
    if (!f->file || f->line == 0)
        return false;
    const char *names[2] = { f->file, file_base };
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && names[1] == names[0])
            break;
        size_t n = strlen(names[i]) + 24;
        char *loc = malloc(n);
        if (!loc)
            return false;
        snprintf(loc, n, "%s:%u", names[i], f->line);
        bool hit = lwr_supp_glob(pattern, loc);
        if (!hit && f->column) {
            snprintf(loc, n, "%s:%u:%u", names[i], f->line, f->column);
            hit = lwr_supp_glob(pattern, loc);
        }
        free(loc);
        if (hit)
            return true;
    }
    return false;
}

/* Whether the pattern matches the frame's place in its module, `MODULE+0xOFFSET` (full path or base name of the
 * module, the offset in lower-case hex as the text report shows it): how a frame without a function is told
 * from another. Only a pattern with `+0x` can match one. */
static bool offset_matches(const char *pattern, const lwr_frame_t *f, const char *module_base)
{
    if (!f->module)
        return false;
    const char *names[2] = { f->module, module_base };
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && names[1] == names[0])
            break;
        size_t n = strlen(names[i]) + 24;
        char *at = malloc(n);
        if (!at)
            return false;
        snprintf(at, n, "%s+0x%" PRIx64, names[i], f->offset);
        bool hit = lwr_supp_glob(pattern, at);
        free(at);
        if (hit)
            return true;
    }
    return false;
}

/* A frame pattern with what it can match told once: only one with a colon can match a position, only one with
 * `+0x` a place in a module; an anchored pattern that begins with a literal byte (`lead`, else 0) matches only
 * names that begin with it. */
typedef struct {
    const char *text;
    bool colon, offset;
    unsigned char lead;
} pattern_t;

static pattern_t pattern_of(const char *text)
{
    unsigned char lead = text[0] == '^' && text[1] != '*' && text[1] != '$' ? (unsigned char)text[1] : 0;
    return (pattern_t){ text, strchr(text, ':') != NULL, strstr(text, "+0x") != NULL, lead };
}

/* The base names of a frame's file and module, and the first bytes of every name a pattern is matched against
 * (function, file, module and their base names; a position or a module offset begins as its file or module),
 * found once for every pattern tried on the frame. */
typedef struct {
    const char *file, *module;
    uint64_t first[4]; /* a bit per byte value */
} bases_t;

static void note_first(bases_t *b, const char *name)
{
    if (name && name[0])
        b->first[(unsigned char)name[0] >> 6] |= 1ull << ((unsigned char)name[0] & 63);
}

static bases_t bases_of(const lwr_frame_t *f)
{
    bases_t b = { base_name(f->file), base_name(f->module), { 0, 0, 0, 0 } };
    note_first(&b, f->function);
    note_first(&b, f->file);
    note_first(&b, b.file);
    note_first(&b, f->module);
    note_first(&b, b.module);
    /* an empty file or module name (or base name) leaves a position starting ':' and a place starting '+' */
    if (f->file && (!f->file[0] || !b.file[0]))
        note_first(&b, ":");
    if (f->module && (!f->module[0] || !b.module[0]))
        note_first(&b, "+");
    return b;
}

static bool frame_matches_as(const pattern_t *p, const lwr_frame_t *f, const bases_t *b)
{
    /* the built-in patterns are all anchored: most frames fail them on this one test */
    if (p->lead && !((b->first[p->lead >> 6] >> (p->lead & 63)) & 1))
        return false;
    return lwr_supp_glob(p->text, f->function) || path_matches(p->text, f->file, b->file) ||
           path_matches(p->text, f->module, b->module) || (p->colon && location_matches(p->text, f, b->file)) ||
           (p->offset && offset_matches(p->text, f, b->module));
}

static bool frame_matches(const char *pattern, const lwr_frame_t *f)
{
    pattern_t p = pattern_of(pattern);
    bases_t b = bases_of(f);
    return frame_matches_as(&p, f, &b);
}

/* A stack pattern `P0;P1;...`: Pi matches frame i, from the innermost (as lwr_supp_matches says). */
static bool stack_matches(const char *pattern, const lwr_site_t *site)
{
    char part[LWR_SUPP_MAX_LINE + 1];
    size_t i = 0;
    for (const char *p = pattern;; i++) {
        const char *end = strchrnul(p, ';');
        size_t n = (size_t)(end - p);
        if (i >= site->nframes || n >= sizeof part)
            return false;
        memcpy(part, p, n);
        part[n] = '\0';
        /* `*` alone stands for any frame, one without a name included */
        if (strcmp(part, "*") != 0 && !frame_matches(part, &site->frames[i]))
            return false;
        if (!*end)
            return true;
        p = end + 1;
    }
}

/* lwr_supp_matches with the site's base names found already (bases: one a frame, or NULL to find them here). */
static bool site_matches(const lwr_supp_t *s, const lwr_site_t *site, const bases_t *bases)
{
    if (s->warning || s->kind != site->kind)
        return false;
    if (!s->builtin && strchr(s->pattern, ';'))
        return stack_matches(s->pattern, site);
    pattern_t p = pattern_of(s->pattern);
    for (size_t i = 0; i < site->nframes; i++) {
        bases_t b = bases ? bases[i] : bases_of(&site->frames[i]);
        if (frame_matches_as(&p, &site->frames[i], &b))
            return !s->inner || inner_frames_in(site, i, s->inner);
    }
    return false;
}

bool lwr_supp_matches(const lwr_supp_t *s, const lwr_site_t *site)
{
    return site_matches(s, site, NULL);
}

/* Whether `name` can be written into a pattern as it is: no byte that ends a line or a stack part, no control
 * byte, no `*` (which would match more), no blank at either end (the reader drops those). */
static bool plain_name(const char *name)
{
    if (!name || !name[0] || name[0] == ' ' || name[0] == '^' || name[strlen(name) - 1] == ' ')
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ';' || *p == '*')
            return false;
    return true;
}

/* Appends to `b` (of `cap` bytes, *len used) the pattern of one frame, naming what tells it from other frames
 * as sites are merged: its position `^file:line:column$` (base name) when known, else `^function$`, else its
 * place in its module `^module+0xoffset$` (base name; a program without debug information has many frames
 * without a name, which only that tells apart), else `^module$`, else `*`. Returns -1 when it does not fit. */
static int put_frame(char *b, size_t cap, size_t *len, const lwr_frame_t *f)
{
    const char *file = f->file ? base_name(f->file) : NULL;
    const char *mod = f->module ? base_name(f->module) : NULL;
    int n;
    if (plain_name(file) && f->line && f->column)
        n = snprintf(b + *len, cap - *len, "^%s:%u:%u$", file, f->line, f->column);
    else if (plain_name(file) && f->line)
        n = snprintf(b + *len, cap - *len, "^%s:%u$", file, f->line);
    else if (plain_name(f->function))
        n = snprintf(b + *len, cap - *len, "^%s$", f->function);
    else if (plain_name(mod) && f->offset)
        n = snprintf(b + *len, cap - *len, "^%s+0x%" PRIx64 "$", mod, f->offset);
    else if (plain_name(mod))
        n = snprintf(b + *len, cap - *len, "^%s$", mod);
    else
        n = snprintf(b + *len, cap - *len, "*");
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

char *lwr_supp_generate(const lwr_report_t *r, size_t index)
{
    return lwr_supp_generate_sites(r->sites, r->nsites, index);
}

char *lwr_supp_generate_sites(const lwr_site_t *sites, size_t nsites, size_t index)
{
    const lwr_site_t *site = &sites[index];
    if (site->nframes == 0)
        return NULL;
    size_t cap = LWR_SUPP_MAX_LINE + 1, len = 0;
    char *line = malloc(cap);
    size_t *ends = malloc(site->nframes * sizeof *ends);
    bool *whole = calloc(nsites, sizeof *whole);
    if (!line || !ends || !whole) {
        free(line);
        free(ends);
        free(whole);
        return NULL;
    }
    len = (size_t)snprintf(line, cap, "%s:", type_names[site->kind]);
    size_t start = len, nfit = 0;
    /* Every frame from the innermost that fits in a line; ends[k] is where the pattern of frames 0..k ends. */
    for (size_t k = 0; k < site->nframes; k++) {
        size_t at = len;
        if (k > 0 && len + 1 < cap)
            line[len++] = ';';
        if (len + 1 >= cap || put_frame(line, cap, &len, &site->frames[k]) != 0) {
            len = at;
            break;
        }
        ends[nfit++] = len;
    }
    line[len] = '\0';
    lwr_supp_t probe = { site->kind, line + start, NULL, 0, false, false, NULL };
    /* The sites the whole stack hides: this one, and those with the same frames (another class) or more. No
     * shorter line can tell them apart; the shortest one that hides no other site is the line. */
    bool cut = nfit < site->nframes, others = false;
    for (size_t j = 0; j < nsites; j++) {
        whole[j] = j == index || (nfit > 0 && lwr_supp_matches(&probe, &sites[j]));
        others |= whole[j] && j != index;
    }
    /* At least to the frame that acquired the handle in the program: a line naming only operator new or a libc
     * function would hide every later leak made through it, not this site. */
    const lwr_frame_t *acq = lwr_acquiring_frame(site);
    size_t least = acq ? (size_t)(acq - site->frames) : 0, k = least;
    for (; k < nfit; k++) {
        char keep = line[ends[k]];
        line[ends[k]] = '\0';
        bool enough = true;
        for (size_t j = 0; j < nsites && enough; j++)
            enough = whole[j] || !lwr_supp_matches(&probe, &sites[j]);
        if (enough)
            break;
        line[ends[k]] = keep;
    }
    free(ends);
    free(whole);
    if (k >= nfit || (cut && others)) {
        free(line);
        return NULL;    /* longer than a suppression line may be */
    }
    return line;
}

bool lwr_supp_matches_warning(const lwr_supp_t *s, const lwr_warning_t *w)
{
    if (!s->warning || !w->type)
        return false;
    size_t tn = warning_type_len(s->pattern, strlen(s->pattern));
    if (!(tn == 1 && s->pattern[0] == '*') && (strlen(w->type) != tn || memcmp(w->type, s->pattern, tn) != 0))
        return false;
    /* the frame pattern is the end of the entry's text, so it is terminated already */
    const char *pattern = warning_frame_pattern(s->pattern);
    if (!pattern)
        return true;
    for (size_t i = 0; i < w->nframes; i++)
        if (frame_matches(pattern, &w->frames[i]))
            return true;
    for (size_t i = 0; i < w->nother; i++)
        if (frame_matches(pattern, &w->other_frames[i]))
            return true;
    return false;
}

int lwr_supp_apply(lwr_report_t *r, const lwr_supplist_t *l)
{
    lwr_supp_use_t *uses = calloc(l->n ? l->n : 1, sizeof *uses);
    if (!uses)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        lwr_supp_use_t *u = &uses[i];
        u->kind = l->v[i].kind;
        u->line = l->v[i].line;
        u->builtin = l->v[i].builtin;
        u->warning = l->v[i].warning;
        u->pattern = strdup(l->v[i].pattern);
        u->file = l->v[i].file ? strdup(l->v[i].file) : NULL;
        if (!u->pattern || (l->v[i].file && !u->file)) {
            for (size_t j = 0; j <= i; j++) {
                free(uses[j].pattern);
                free(uses[j].file);
            }
            free(uses);
            return -1;
        }
    }
    size_t i = 0;
    bases_t *bases = NULL; /* of the site's frames, for every suppression tried on it */
    size_t capbases = 0;
    while (i < r->nsites) {
        lwr_site_t *s = &r->sites[i];
        if (s->nframes > capbases) {
            bases_t *b = realloc(bases, s->nframes * sizeof *b);
            if (b) {
                bases = b;
                capbases = s->nframes;
            }
        }
        bool have = s->nframes <= capbases;
        for (size_t k = 0; have && k < s->nframes; k++)
            bases[k] = bases_of(&s->frames[k]);
        size_t hit = l->n;
        for (size_t j = 0; j < l->n && hit == l->n; j++)
            if (site_matches(&l->v[j], s, have ? bases : NULL))
                hit = j;
        if (hit == l->n) {
            i++;
            continue;
        }
        lwr_supp_use_t *u = &uses[hit];
        lwr_total_t *from = s->cls == LWR_CLASS_REACHABLE ? &r->reachable : &r->totals[s->kind];
        lwr_total_t *into = s->cls == LWR_CLASS_REACHABLE ? &u->reachable : &u->hidden;
        /* Totals come from the dumps; a site never holds more than they say, but guard against odd dumps. */
        from->count -= s->count < from->count ? s->count : from->count;
        from->bytes -= s->bytes < from->bytes ? s->bytes : from->bytes;
        into->count += s->count;
        into->bytes += s->bytes;
        u->sites++;
        lwr_report_remove_site(r, i);
    }
    free(bases);
    i = 0;
    while (i < r->nwarnings) {
        const lwr_warning_t *w = &r->warnings[i];
        size_t hit = l->n;
        for (size_t j = 0; j < l->n && hit == l->n; j++)
            if (lwr_supp_matches_warning(&l->v[j], w))
                hit = j;
        if (hit == l->n) {
            i++;
            continue;
        }
        uses[hit].hidden.count += w->count ? w->count : 1;
        uses[hit].sites++;
        lwr_report_remove_warning(r, i);
    }
    /* Applied twice (a report re-filtered): the new uses replace the old ones. */
    for (size_t j = 0; j < r->nsupps; j++) {
        free(r->supps[j].pattern);
        free(r->supps[j].file);
    }
    free(r->supps);
    r->supps = uses;
    r->nsupps = l->n;
    r->has_suppressions = true;
    return 0;
}

void lwr_supplist_free(lwr_supplist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].pattern);
        free(l->v[i].file);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

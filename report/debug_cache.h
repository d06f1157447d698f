/* Decompressed copies of separate debug files, kept by build-id in the user's cache directory. Distributions
 * ship debug files with compressed sections (Debian's libc6-dbg and -dbgsym packages), and libdw inflates every
 * .debug section of such a file when it opens it: about 100 ms for libc's, paid by each report at exit. A copy
 * with the sections stored plain is written once and then read in place. */
#ifndef LWR_DEBUG_CACHE_H
#define LWR_DEBUG_CACHE_H

/* The cache directory that LEAKWATCH_DEBUG_CACHE names (`none` turns the cache off), else
 * $XDG_CACHE_HOME/leakwatch, else $HOME/.cache/leakwatch; a malloc'd path, or NULL for no cache. */
char *lwr_debug_cache_dir(void);

/* The file to read the DWARF of `debug_file` (a debug file carrying build-id `build_id`, hex) from: when it has
 * compressed sections and `dir` is usable, the path of its decompressed copy in `dir`, written now if the
 * directory holds no valid one; otherwise `debug_file` itself. Takes `debug_file` (malloc'd) and returns a
 * malloc'd path (or NULL when `debug_file` was NULL). The directory is used only when it is this user's and
 * writable by no one else (it is made mode 0700 when missing, its parent too, inside a directory of this
 * user's); entries are created exclusively, never through a link, mode 0600, and the least recently used go
 * once it holds more than 32 or 2 GiB. Any failure leaves `debug_file` in use. */
char *lwr_debug_cache_use(const char *dir, char *debug_file, const char *build_id);

#endif

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
 * writable by no one else, below directories no other user can change (it is made mode 0700 when missing, its
 * parent too, inside a directory of this user's). An entry is used only when it is a whole copy of the file (the
 * build-id, the sections and their sizes), else replaced; entries are written exclusively, never through a link,
 * mode 0600, synced before they take their name, and when one is written the least recently used go while all
 * take more than 2 GiB. A dwz file (.gnu_debugaltlink), or one that would take more than 512 MiB, is not copied.
 * Any failure leaves `debug_file` in use. */
char *lwr_debug_cache_use(const char *dir, char *debug_file, const char *build_id);

#endif

/* The tracker's warning list as the dump writer and the lifetime code see it; nothing outside tracker/ uses it. */
#ifndef LW_WARN_EVENTS_H
#define LW_WARN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many warnings are kept per process; later ones are counted in lw_warnings_dropped. */
#define LW_MAX_WARNINGS 256

typedef enum { LW_W_BAD_CLOSE, LW_W_DOUBLE_CLOSE, LW_W_FD_INTO_EXEC } lw_warning_type_t;

typedef struct {
    uint8_t type;        /* lw_warning_type_t */
    int32_t fd;
    uint32_t site;       /* the stack of the close (or of the open, for fd-into-exec) */
    uint32_t other_site; /* the earlier close, or the exec; 0 when none */
    uint32_t count;      /* how many times this (type, fd, site, other_site) happened */
    char message[200];
} lw_warning_t;

/* The name written as the warning's "type" in dumps. */
const char *lw_warning_type_name(unsigned type);

/* Copies warning i into *w; returns 0 when i is past the end. Safe while warnings are being added. */
int lw_warning_get(size_t i, lw_warning_t *w);
size_t lw_warnings_dropped(void);

/* A tracked call returned descriptor `handle` (fd or socket kind): a close of that number that fails later is
 * a close of a descriptor that was open once, and warned about. Handles at or above 1 << 20 (FILE* and DIR*
 * records, huge numbers) are ignored. Called from lw_on_acquire_at with the guard held. */
void lw_fd_opened(uintptr_t handle);

/* Marks the descriptors open when the process starts (those it inherited) as open once, like lw_fd_opened; read
 * from /proc/self/fd with raw system calls. Called once at initialisation. */
void lw_fds_at_start(void);

/* How many closes failed on numbers this process never had open (not warned about, see lw_on_bad_close_at). */
size_t lw_unopened_closes(void);

/* When this process is a shell (dash, bash, ...; by the base name of /proc/self/exe) started on a script (its
 * first argument that is neither an option nor an option's value, when no -c or -s is given), remembers that
 * file's device and inode. Called once at initialisation, before the shell opens the script, so that a relative
 * path is read against the directory it was started in. */
void lw_shell_script_init(void);
/* The same from the executable's path and a /proc/self/cmdline image (`len` bytes, NUL-separated arguments;
 * its last byte is overwritten with NUL); returns whether a script was found. For lw_shell_script_init and tests. */
int lw_shell_script_pick(const char *exe, char *cmd, size_t len);

/* Releases the records of the descriptors (fd kind, by number) open on that script: the shell's own hold on it
 * (dash fd 10 and up, bash fd 255) is not a leak of the script. Called once before the exit dump; returns how
 * many records it released. Does nothing in a process that is not a shell running a script. */
size_t lw_forget_shell_script(void);

/* In a forked child: forget the parent's warnings (the parent reports them) and its lock state. */
void lw_warnings_forked(void);
/* For tests: forget every warning and every remembered close. */
void lw_warnings_reset(void);

/* The exec'd image keeps the pid: starts this image's dump numbers after the dumps already in the dump directory
 * for this pid, so that an "exec" dump of the previous image is not replaced. Called once at initialisation. */
void lw_dump_seq_resume(void);

#endif

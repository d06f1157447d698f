/* The script a shell runs, whose descriptor in the shell is no leak of the script. */
#ifndef LW_SHELL_SCRIPT_H
#define LW_SHELL_SCRIPT_H

#include <stddef.h>

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

#endif

/* Turns the raw return addresses of a dump into function, file, line and module with elfutils libdw. */
#ifndef LWR_SYMBOLIZE_H
#define LWR_SYMBOLIZE_H

#include "dump.h"

typedef struct lwr_symbolizer lwr_symbolizer_t;

/* What is known about one address. Strings belong to the symbolizer (function, file) or to the dump (module)
 * and stay valid until both are freed. */
typedef struct {
    const char *function;   /* NULL when unknown */
    const char *file;       /* NULL when unknown */
    unsigned line;          /* 0 when unknown */
    const char *module;     /* path of the module holding the address, NULL when none does */
    uint64_t offset;        /* address - module bias; the address itself when no module holds it */
    unsigned column;        /* column of `line` where DWARF records one, 0 when unknown */
} lwr_symbol_t;

/* Creates a symbolizer with one Dwfl for the whole run. `debug_root` is where separate debug files live
 * (`<debug_root>/.build-id/xx/rest.debug`); NULL means /usr/lib/debug. Returns NULL when out of memory. */
lwr_symbolizer_t *lwr_symbolizer_new(const char *debug_root);

/* Where the objects of dumps taken on another machine are found, before the first lookup. An object is read from
 * its recorded absolute path when the file there has the dump's build-id, else from the same path under the
 * --sysroot directory, else from the debuginfod servers of DEBUGINFOD_URLS by build-id. When that object has no
 * DWARF (stripped), its separate debug file is looked for in each --debug-dir DIR, in the order added, as
 * `DIR/<name in its .gnu_debuglink>`, `DIR/.build-id/xx/rest.debug` and `DIR/<object's file name>`, then in
 * `<debug_root>/.build-id/` and `<sysroot>/usr/lib/debug/.build-id/`, then from debuginfod; every candidate must
 * carry the build-id. Without the object, its debug file alone gives functions, files and lines. Each returns 0,
 * or -1 when out of memory. */
int lwr_symbolizer_add_debug_dir(lwr_symbolizer_t *sym, const char *dir);
int lwr_symbolizer_set_sysroot(lwr_symbolizer_t *sym, const char *dir);

/* Frees the symbolizer and every string it handed out; NULL is allowed. */
void lwr_symbolizer_free(lwr_symbolizer_t *sym);

/* Describes the return address `address` taken in the process of `dump`. The ELF object of the address's module
 * is found as lwr_symbolizer_add_debug_dir says; without it or its debug file, function and file stay NULL while
 * module and offset are still filled. The line is the one of `address - 1`, the call instruction. Each object is opened once and
 * each (object, offset) looked up once per symbolizer. Never fails: what cannot be found stays unknown. */
void lwr_symbolize(lwr_symbolizer_t *sym, const lwr_dump_t *dump, uint64_t address, lwr_symbol_t *out);

/* Like lwr_symbolize, but an address inside inlined code gives one entry per inlining level, innermost first:
 * the inlined function with the line table's file and line, then each function it was inlined into with the
 * file and line of the inlined call, ending with the function the compiler emitted. All entries share module and
 * offset. Fills at most `max` entries (the outermost are dropped) and returns how many, at least 1 when max > 0. */
size_t lwr_symbolize_all(lwr_symbolizer_t *sym, const lwr_dump_t *dump, uint64_t address, lwr_symbol_t *out,
                         size_t max);

/* Names the allocation the program asked for when the allocator's entry point ended in a jump to another one:
 * libstdc++'s operator new[] tail-calls operator new, so a block of `new T[n]` is seen inside operator new with
 * the program's frame right above it. When `first` (the innermost frame's symbol) is in operator new and the call
 * instruction before return address `caller` (the second frame) calls operator new[] (directly, through the PLT
 * or the GOT), first->function becomes that operator new[]; otherwise nothing changes. Reads the caller's code
 * from its object (x86-64 code only). */
void lwr_symbolize_entry(lwr_symbolizer_t *sym, const lwr_dump_t *dump, lwr_symbol_t *first, uint64_t caller);
/* What is known about a data address (the root word holding a reachable block): the variable whose symbol
 * covers it, where that variable is declared, and its module. Strings belong to the symbolizer or the dump. */
typedef struct {
    const char *name;       /* the variable, NULL when no symbol covers the address */
    uint64_t within;        /* address - the variable's start */
    const char *file;       /* its declaration (DWARF), NULL when unknown */
    unsigned line;
    const char *module;     /* NULL when no module holds the address */
    uint64_t offset;        /* address - module bias; the address itself when no module holds it */
} lwr_data_symbol_t;

/* Describes the data address `address` of the process of `dump` with the object symbols (STT_OBJECT) of its
 * module's ELF file, found as lwr_symbolize finds it, and the declaration in its DWARF. `sym` NULL: module and
 * offset only. Never fails. */
void lwr_symbolize_data(lwr_symbolizer_t *sym, const lwr_dump_t *dump, uint64_t address, lwr_data_symbol_t *out);

/* Describes a word of thread-local storage: the thread-local variable (STT_TLS symbol) at `offset` in the TLS
 * block of the object whose TLS image is at `image` in the process of `dump`, and its declaration. */
void lwr_symbolize_tls(lwr_symbolizer_t *sym, const lwr_dump_t *dump, uint64_t image, uint64_t offset,
                       lwr_data_symbol_t *out);

/* Joins an absolute directory and a relative path and removes "." and ".." parts lexically:
 * ("/b/glibc/csu", "../sysdeps/x.h") gives "/b/glibc/sysdeps/x.h". Returns a malloc'd string or NULL. */
char *lwr_path_join(const char *dir, const char *rel);

/* Demangles a C++ symbol name when libstdc++ can be loaded at run time; returns a malloc'd string the caller
 * frees, or NULL when the name is not mangled or cannot be demangled. */
char *lwr_demangle(const char *name);

#endif

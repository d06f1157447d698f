/* Decompressed copies of debug files, kept by build-id (debug_cache.h). */
#include "debug_cache.h"

#include <dirent.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ENTRIES 32
#define MAX_BYTES (2ull << 30)
#define MAX_LISTED 1024
#define STALE_TMP_S 3600 /* a temporary file this old was left by a writer that died */

char *lwr_debug_cache_dir(void)
{
    const char *v = getenv("LEAKWATCH_DEBUG_CACHE");
    if (v && *v)
        return strcmp(v, "none") != 0 && v[0] == '/' ? strdup(v) : NULL;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char buf[4096];
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, sizeof buf, "%s/leakwatch", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, sizeof buf, "%s/.cache/leakwatch", home);
    else
        return NULL;
    return n > 0 && (size_t)n < sizeof buf ? strdup(buf) : NULL;
}

/* Whether the directory at path is this user's. */
static int own_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid();
}

/* Makes directory `path` mode 0700 when missing, its parent too (levels deep), but only inside a directory of
 * this user's: a report run as root with a user's $HOME leaves nothing of root's in it. */
static int make_dir(const char *path, int levels)
{
    char parent[4096];
    size_t n = strlen(path);
    if (n >= sizeof parent)
        return -1;
    memcpy(parent, path, n + 1);
    char *slash = strrchr(parent, '/');
    if (!slash || slash == parent)
        return -1;
    *slash = '\0';
    if (!own_dir(parent) && (levels == 0 || make_dir(parent, levels - 1) != 0 || !own_dir(parent)))
        return -1;
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* Opens `dir`, made as make_dir says when missing (its parent too: $HOME/.cache, as the XDG rules make it), if it
 * is a directory of this user's that no one else may write to; returns its descriptor or -1. */
static int open_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && make_dir(dir, 1) == 0)
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int has_compressed(Elf *elf)
{
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED))
            return 1;
    }
    return 0;
}

/* Whether build_id is the hex of 1 to 64 bytes, lowercase, as dumps write it. */
static int hex_id(const char *build_id)
{
    size_t n = strlen(build_id);
    if (n < 2 || n > 128 || n % 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((build_id[i] >= '0' && build_id[i] <= '9') || (build_id[i] >= 'a' && build_id[i] <= 'f')))
            return 0;
    return 1;
}

/* Whether the ELF file open on fd is a regular file of this user's that carries build_id and has no compressed
 * section. */
static int entry_valid(int fd, const char *build_id)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return 0;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *id = NULL;
    ssize_t n = elf ? dwelf_elf_gnu_build_id(elf, &id) : -1;
    int ok = n > 0 && (size_t)n * 2 == strlen(build_id);
    for (ssize_t i = 0; ok && i < n; i++) {
        char hex[3];
        snprintf(hex, sizeof hex, "%02x", ((const unsigned char *)id)[i]);
        ok = memcmp(hex, build_id + 2 * i, 2) == 0;
    }
    ok = ok && !has_compressed(elf);
    elf_end(elf);
    return ok;
}

/* Writes src to out with every compressed section stored plain, the rest as it is; libelf lays the file out. */
static int write_plain(Elf *src, int out)
{
    Elf *dst = elf_begin(out, ELF_C_WRITE, NULL);
    GElf_Ehdr eh;
    size_t phnum = 0;
    int ok = dst && gelf_getehdr(src, &eh) && gelf_newehdr(dst, gelf_getclass(src)) &&
             elf_getphdrnum(src, &phnum) == 0 && (phnum == 0 || gelf_newphdr(dst, phnum));
    for (size_t i = 0; ok && i < phnum; i++) {
        GElf_Phdr ph;
        ok = gelf_getphdr(src, (int)i, &ph) && gelf_update_phdr(dst, (int)i, &ph);
    }
    for (Elf_Scn *scn = NULL; ok && (scn = elf_nextscn(src, scn)) != NULL;) {
        GElf_Shdr sh;
        ok = gelf_getshdr(scn, &sh) != NULL;
        if (ok && (sh.sh_flags & SHF_COMPRESSED))
            ok = elf_compress(scn, 0, 0) >= 0 && gelf_getshdr(scn, &sh) != NULL;
        Elf_Scn *ns = ok ? elf_newscn(dst) : NULL;
        ok = ns && gelf_update_shdr(ns, &sh);
        for (Elf_Data *d = NULL; ok && (d = elf_getdata(scn, d)) != NULL;) {
            Elf_Data *nd = elf_newdata(ns);
            if (!nd) {
                ok = 0;
                break;
            }
            nd->d_buf = d->d_buf;
            nd->d_type = d->d_type;
            nd->d_size = d->d_size;
            nd->d_off = d->d_off;
            nd->d_align = d->d_align;
            nd->d_version = d->d_version;
        }
    }
    ok = ok && gelf_update_ehdr(dst, &eh) && elf_update(dst, ELF_C_WRITE) >= 0;
    if (dst)
        elf_end(dst);
    return ok ? 0 : -1;
}

typedef struct {
    char name[160];
    time_t mtime;
    unsigned long long bytes;
} listed_t;

/* Removes temporary files that dead writers left, and the least recently used entries while the directory holds
 * more than MAX_ENTRIES or MAX_BYTES; `keep` (the entry just written) stays. */
static void evict(int dfd, const char *keep)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    static listed_t v[MAX_LISTED];
    size_t n = 0;
    unsigned long long total = 0;
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat st;
        size_t len = strlen(e->d_name);
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (strncmp(e->d_name, ".tmp.", 5) == 0) {
            if (now - st.st_mtime > STALE_TMP_S)
                unlinkat(dfd, e->d_name, 0);
        } else if (len > 6 && len < sizeof v[0].name && strcmp(e->d_name + len - 6, ".debug") == 0 && n < MAX_LISTED) {
            memcpy(v[n].name, e->d_name, len + 1);
            v[n].mtime = st.st_mtime;
            v[n].bytes = (unsigned long long)st.st_size;
            total += v[n].bytes;
            n++;
        }
    }
    closedir(d);
    while (n > MAX_ENTRIES || total > MAX_BYTES) {
        size_t oldest = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].name, keep) != 0 && (oldest == n || v[i].mtime < v[oldest].mtime))
                oldest = i;
        if (oldest == n)
            break;
        unlinkat(dfd, v[oldest].name, 0);
        total -= v[oldest].bytes;
        v[oldest] = v[--n];
    }
}

/* Writes the decompressed copy of src into dfd as `name`, through an exclusive temporary file renamed into place
 * once it is checked. Returns 0 when the entry is there. */
static int add_entry(int dfd, Elf *src, const char *name, const char *build_id)
{
    static atomic_uint seq;
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".tmp.%d.%u", (int)getpid(), atomic_fetch_add(&seq, 1));
    int fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int ok = write_plain(src, fd) == 0 && entry_valid(fd, build_id) && renameat(dfd, tmp, dfd, name) == 0;
    if (!ok)
        unlinkat(dfd, tmp, 0);
    close(fd);
    return ok ? 0 : -1;
}

char *lwr_debug_cache_use(const char *dir, char *debug_file, const char *build_id)
{
    if (!dir || !debug_file || !build_id || !hex_id(build_id))
        return debug_file;
    int in = open(debug_file, O_RDONLY | O_CLOEXEC);
    Elf *src = in >= 0 ? elf_begin(in, ELF_C_READ_MMAP, NULL) : NULL;
    int dfd = src && has_compressed(src) ? open_dir(dir) : -1;
    char *chosen = debug_file;
    if (dfd >= 0) {
        char name[160], *path = malloc(strlen(dir) + sizeof name + 1);
        snprintf(name, sizeof name, "%s.debug", build_id);
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        int valid = fd >= 0 && entry_valid(fd, build_id);
        if (valid)
            (void)futimens(fd, NULL); /* used: the last to be evicted */
        if (fd >= 0)
            close(fd);
        if (!valid && add_entry(dfd, src, name, build_id) == 0) {
            valid = 1;
            evict(dfd, name);
        }
        if (valid && path) {
            sprintf(path, "%s/%s", dir, name);
            chosen = path;
            free(debug_file);
        } else {
            free(path);
        }
        close(dfd);
    }
    if (src)
        elf_end(src);
    if (in >= 0)
        close(in);
    return chosen;
}

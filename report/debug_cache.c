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

#define MAX_BYTES (2ull << 30)
#define RECENT_S 600
#define MAX_LISTED 1024
#define STALE_TMP_S 3600 /* a temporary file this old was left by a writer that died */

char *lwr_debug_cache_dir(void)
{
    const char *v = getenv("LEAKWATCH_DEBUG_CACHE");
    if (v && *v) {
        if (strcmp(v, "none") == 0)
            return NULL;
        if (v[0] != '/') {
            fprintf(stderr, "leakwatch: LEAKWATCH_DEBUG_CACHE=%s: not an absolute path; debug files are read without "
                            "a cache\n", v);
            return NULL;
        }
        return strdup(v);
    }
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

/* Whether the directory at path (a link to one counts) is this user's. */
static int own_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid();
}

/* Whether no other user can replace what lies under each directory above `dir`: each is root's or this user's,
 * and writable by no one else unless sticky (as /tmp is). Checked because the copy is opened again by its path. */
static int safe_parents(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n >= sizeof p)
        return 0;
    memcpy(p, dir, n + 1);
    for (char *slash = strrchr(p, '/'); slash; slash = strrchr(p, '/')) {
        *slash = '\0';
        struct stat st;
        if (stat(p[0] ? p : "/", &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
            ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)))
            return 0;
    }
    return 1;
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
 * is a directory of this user's that no one else may write to, below directories no one else can change (see
 * safe_parents); returns its descriptor or -1. */
static int open_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && make_dir(dir, 1) == 0)
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (!safe_parents(dir) || fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
                    (st.st_mode & 022))) {
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

/* The size of section scn's contents, decompressed. */
static uint64_t plain_size(Elf_Scn *scn, const GElf_Shdr *sh)
{
    GElf_Chdr ch;
    if ((sh->sh_flags & SHF_COMPRESSED) && gelf_getchdr(scn, &ch))
        return ch.ch_size;
    return sh->sh_size;
}

/* Whether src is worth a copy: it has compressed sections, no more than ordinary section numbering holds, no
 * .gnu_debugaltlink (a dwz file names its supplement by a path relative to itself), and a decompressed size a
 * quarter of the cache's at most. */
static int cacheable(Elf *src)
{
    size_t shnum = 0, shstrndx = 0;
    if (!has_compressed(src) || elf_getshdrnum(src, &shnum) != 0 || shnum >= SHN_LORESERVE ||
        elf_getshdrstrndx(src, &shstrndx) != 0)
        return 0;
    uint64_t total = 0;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(src, scn)) != NULL;) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh))
            return 0;
        const char *name = elf_strptr(src, shstrndx, sh.sh_name);
        if (name && strcmp(name, ".gnu_debugaltlink") == 0)
            return 0;
        if (sh.sh_type != SHT_NOBITS)
            total += plain_size(scn, &sh);
    }
    return total <= MAX_BYTES / 4;
}

/* Whether the file open on fd is a regular file of this user's and a whole copy of src: the same build-id, the
 * same sections with the sizes of src's decompressed, none compressed, all of them inside the file. */
static int entry_matches(int fd, Elf *src, const char *build_id)
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
    GElf_Ehdr eh;
    size_t shnum = 0, want = 0;
    ok = ok && gelf_getehdr(elf, &eh) && eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize <= (uint64_t)st.st_size &&
         elf_getshdrnum(elf, &shnum) == 0 && elf_getshdrnum(src, &want) == 0 && shnum == want && shnum > 1;
    for (Elf_Scn *a = NULL, *b = NULL; ok && (a = elf_nextscn(elf, a)) != NULL;) {
        GElf_Shdr sa, sb;
        b = elf_nextscn(src, b);
        ok = b && gelf_getshdr(a, &sa) && gelf_getshdr(b, &sb) && sa.sh_type == sb.sh_type &&
             !(sa.sh_flags & SHF_COMPRESSED) && sa.sh_size == plain_size(b, &sb) &&
             (sa.sh_type == SHT_NOBITS || sa.sh_offset + sa.sh_size <= (uint64_t)st.st_size);
    }
    if (elf)
        elf_end(elf);
    return ok;
}

/* Writes src to out with every compressed section stored plain, the rest as it is, the sections in the same
 * order (so sh_link and sh_info still hold); libelf lays the file out. src has fewer than SHN_LORESERVE sections
 * (cacheable), so e_shstrndx is copied as it is. */
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
    struct timespec mtime;
    unsigned long long bytes;
} listed_t;

static int earlier(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* Removes temporary files that dead writers left, and the least recently used entries while the copies take more
 * than MAX_BYTES; an entry used in the last RECENT_S seconds (by this report or another running now) stays. */
static void evict(int dfd)
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
            v[n].mtime = st.st_mtim;
            v[n].bytes = (unsigned long long)st.st_size;
            total += v[n].bytes;
            n++;
        }
    }
    closedir(d);
    while (total > MAX_BYTES) {
        size_t oldest = n;
        for (size_t i = 0; i < n; i++)
            if (now - v[i].mtime.tv_sec > RECENT_S && (oldest == n || earlier(v[i].mtime, v[oldest].mtime)))
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
    /* on the disk before it takes the name: a crash must not leave a short copy there */
    int ok = write_plain(src, fd) == 0 && fsync(fd) == 0 && entry_matches(fd, src, build_id) &&
             renameat(dfd, tmp, dfd, name) == 0;
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
    int dfd = src && cacheable(src) ? open_dir(dir) : -1;
    char *chosen = debug_file;
    if (dfd >= 0) {
        char name[160], *path = malloc(strlen(dir) + sizeof name + 1);
        snprintf(name, sizeof name, "%s.debug", build_id);
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); /* a FIFO there must not block */
        int valid = fd >= 0 && entry_matches(fd, src, build_id);
        if (valid)
            (void)futimens(fd, NULL); /* used: the last to be evicted */
        if (fd >= 0)
            close(fd);
        if (!valid && add_entry(dfd, src, name, build_id) == 0) {
            valid = 1;
            evict(dfd);
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

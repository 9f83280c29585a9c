/* discover: a sorted, validated list of the documents under a root, and reading them back. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swar.h"

#define SNIFF_BYTES 8192
#define DEFAULT_MAX_FILE (64ull << 20)
#define MAX_ID 1024
#define MAX_DEPTH 64

static const char *const default_globs[] = {"*.md", "*.markdown", "*.txt", "*.rst", NULL};

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 when invalid; for an invalid
 * sequence *bad gets the length of its maximal subpart (>= 1). */
static size_t utf8_seq(const unsigned char *p, size_t n, size_t *bad)
{
    unsigned c = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need; i++) {
        if (i >= n)
            break;
        unsigned b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            break;
    }
    if (i == need)
        return need;
    *bad = i;
    return 0;
}

static int utf8_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < len) {
        if (p[i] < 0x80) {
            /* ASCII runs eight bytes at a time */
            while (len - i >= 8 && !(rc_load8(p + i) & RC_HIGHS))
                i += 8;
            while (i < len && p[i] < 0x80)
                i++;
            continue;
        }
        size_t k = utf8_seq(p + i, len - i, &bad);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

int rp_utf8_repair(char **out, size_t *out_len, const char *s, size_t len)
{
    if (!out || (!s && len))
        return RP_EINVAL;
    if (len > (SIZE_MAX - 1) / 3)
        return RP_ENOMEM;
    /* Worst case: every byte becomes 3 bytes of U+FFFD. */
    char *o = malloc(len * 3 + 1);
    if (!o)
        return RP_ENOMEM;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, j = 0, bad;
    while (i < len) {
        if (p[i] < 0x80) {
            o[j++] = (char)p[i++];
            continue;
        }
        size_t k = utf8_seq(p + i, len - i, &bad);
        if (k) {
            memcpy(o + j, p + i, k);
            j += k;
            i += k;
        } else {
            memcpy(o + j, "\xEF\xBF\xBD", 3);
            j += 3;
            i += bad;
        }
    }
    o[j] = 0;
    char *shrunk = realloc(o, j + 1);
    *out = shrunk ? shrunk : o;
    if (out_len)
        *out_len = j;
    return RP_OK;
}

static int id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > MAX_ID || !utf8_ok(id, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7F || c == '\\')
            return 0;
    }
    /* components: none empty, "." or ".." */
    const char *p = id;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e)
            return 1;
        p = e + 1;
    }
}

typedef struct walk {
    const rp_discover_options *o;
    const char *const *globs;
    char realroot[PATH_MAX];
    size_t rootlen;
    char **paths; /* relative */
    size_t n, cap;
    char *err;
    size_t errlen;
} walk;

/* 1 when s is all ASCII. */
static int ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* The length of the literal tail when glob is "*" and a tail free of pattern characters
 * ("*.md"), else 0. Such a glob matches a file name exactly when the name ends with the tail
 * (fnmatch without flags: '*' matches any string, a leading '.' included). */
static size_t suffix_glob(const char *glob)
{
    if (glob[0] != '*' || !glob[1] || strpbrk(glob + 1, "*?[\\/"))
        return 0;
    return strlen(glob + 1);
}

static int matches(const walk *w, const char *rel, const char *name)
{
    /* fnmatch() compares characters of the current locale; for an ASCII name and an ASCII
     * tail that is a byte comparison, done here directly. */
    size_t nlen = 0;
    int fast = ascii(name);
    if (fast)
        nlen = strlen(name);
    for (const char *const *g = w->globs; *g; g++) {
        size_t tl = fast ? suffix_glob(*g) : 0;
        if (tl && ascii(*g)) {
            if (nlen >= tl && memcmp(name + nlen - tl, *g + 1, tl) == 0)
                return 1;
        } else if (strchr(*g, '/') ? fnmatch(*g, rel, FNM_PATHNAME) == 0
                                   : fnmatch(*g, name, 0) == 0) {
            return 1;
        }
    }
    return 0;
}

static int add_path(walk *w, const char *rel)
{
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 256;
        char **np = realloc(w->paths, nc * sizeof *np);
        if (!np)
            return RP_ENOMEM;
        w->paths = np;
        w->cap = nc;
    }
    if (!(w->paths[w->n] = strdup(rel)))
        return RP_ENOMEM;
    w->n++;
    return RP_OK;
}

static int inside_root(const walk *w, const char *real)
{
    return strncmp(real, w->realroot, w->rootlen) == 0 &&
           (real[w->rootlen] == '/' || (w->rootlen == 1 && w->realroot[0] == '/'));
}

static int walk_dir(walk *w, const char *abs, const char *rel, int depth)
{
    if (depth > MAX_DEPTH) {
        rp_warnf(w->o->warn, w->o->warn_ud, "%s: deeper than %d levels, skipped", rel, MAX_DEPTH);
        return RP_OK;
    }
    DIR *d = opendir(abs);
    if (!d) {
        rp_warnf(w->o->warn, w->o->warn_ud, "%s: cannot open directory: %s", *rel ? rel : ".",
                 strerror(errno));
        return RP_OK;
    }
    int rc = RP_OK;
    struct dirent *de;
    char *cabs = NULL, *crel = NULL;
    while (rc == RP_OK && (de = readdir(d))) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        if (name[0] == '.' && !w->o->include_hidden)
            continue;
        free(cabs);
        free(crel);
        cabs = crel = NULL;
        if (asprintf(&cabs, "%s/%s", abs, name) < 0) {
            cabs = NULL;
            rc = RP_ENOMEM;
            break;
        }
        if (asprintf(&crel, "%s%s%s", rel, *rel ? "/" : "", name) < 0) {
            crel = NULL;
            rc = RP_ENOMEM;
            break;
        }
        struct stat st; /* relative to the open directory: no walk of the whole path */
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = walk_dir(w, cabs, crel, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            if (matches(w, crel, name))
                rc = add_path(w, crel);
        } else if (S_ISLNK(st.st_mode)) {
            struct stat t;
            int tgt_ok = stat(cabs, &t) == 0;
            if (tgt_ok && S_ISDIR(t.st_mode)) {
                rp_warnf(w->o->warn, w->o->warn_ud,
                         "%s: symbolic link to a directory, not followed", crel);
                continue;
            }
            if (!matches(w, crel, name))
                continue;
            char real[PATH_MAX];
            if (!tgt_ok || !realpath(cabs, real))
                rp_warnf(w->o->warn, w->o->warn_ud, "%s: dangling symbolic link, skipped", crel);
            else if (!inside_root(w, real))
                rp_warnf(w->o->warn, w->o->warn_ud,
                         "%s: symbolic link leads out of the root, skipped", crel);
            else if (S_ISREG(t.st_mode))
                rc = add_path(w, crel);
        }
    }
    free(cabs);
    free(crel);
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the whole file at path into *buf (grown as needed), up to max bytes (+1 to detect
 * more). Returns 0, -1 with errno, or 1 when larger than max. */
static int read_file(const char *path, char **buf, size_t *cap, size_t *len, uint64_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return 1;
    }
    size_t n = 0;
    for (;;) {
        if (*cap - n < 65536 + 1) {
            size_t nc = *cap ? *cap * 2 : (size_t)st.st_size + 65537;
            while (nc - n < 65536 + 1)
                nc *= 2;
            char *nb = realloc(*buf, nc);
            if (!nb) {
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            *buf = nb;
            *cap = nc;
        }
        ssize_t r = read(fd, *buf + n, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            close(fd);
            return 1;
        }
    }
    close(fd);
    (*buf)[n] = 0;
    *len = n;
    return 0;
}

void rp_corpus_free(rp_corpus *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->docs[i].id);
    free(c->docs);
    free(c->root);
    free(c);
}

int rp_discover(rp_corpus **out, const char *root, const rp_discover_options *opts, char *err,
                size_t errlen)
{
    rp_discover_options dflt = RP_DISCOVER_OPTIONS_INIT;
    const rp_discover_options *o = opts ? opts : &dflt;
    if (!out || !root || !*root)
        return rp_err(err, errlen, RP_EINVAL, "rp_discover: out and root are required");
    if (o->invalid_utf8 != RP_UTF8_REPLACE && o->invalid_utf8 != RP_UTF8_SKIP)
        return rp_err(err, errlen, RP_EINVAL, "rp_discover: bad invalid_utf8 policy");
    uint64_t max = o->max_file_size ? o->max_file_size : DEFAULT_MAX_FILE;
    walk w = {.o = o, .globs = o->globs ? o->globs : default_globs, .err = err, .errlen = errlen};
    struct stat st;
    if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
        return rp_err(err, errlen, RP_ENOTFOUND, "%s: not a directory", root);
    if (!realpath(root, w.realroot))
        return rp_err(err, errlen, RP_EIO, "%s: %s", root, strerror(errno));
    w.rootlen = strlen(w.realroot);
    int rc = walk_dir(&w, root, "", 0);
    rp_corpus *c = NULL;
    char *buf = NULL, *abs = NULL;
    size_t cap = 0;
    if (rc)
        goto fail;
    if (w.n)
        qsort(w.paths, w.n, sizeof *w.paths, cmp_str);
    rc = RP_ENOMEM;
    if (!(c = calloc(1, sizeof *c)) || !(c->root = strdup(root)) ||
        (w.n && !(c->docs = calloc(w.n, sizeof *c->docs))))
        goto fail;
    c->invalid_utf8 = o->invalid_utf8;
    for (size_t i = 0; i < w.n; i++) {
        const char *rel = w.paths[i];
        if (!id_valid(rel)) {
            rp_warnf(o->warn, o->warn_ud, "%s: not a valid document id, skipped", rel);
            continue;
        }
        free(abs);
        if (asprintf(&abs, "%s/%s", root, rel) < 0) {
            abs = NULL;
            goto fail;
        }
        size_t len = 0;
        int r = read_file(abs, &buf, &cap, &len, max);
        if (r < 0 && errno == ENOMEM)
            goto fail;
        if (r < 0) {
            rp_warnf(o->warn, o->warn_ud, "%s: cannot read: %s, skipped", rel, strerror(errno));
            continue;
        }
        if (r > 0) {
            rp_warnf(o->warn, o->warn_ud, "%s: larger than %llu bytes, skipped", rel,
                     (unsigned long long)max);
            continue;
        }
        if (memchr(buf, 0, len < SNIFF_BYTES ? len : SNIFF_BYTES)) {
            rp_warnf(o->warn, o->warn_ud, "%s: binary (NUL byte in the first %d bytes), skipped",
                     rel, SNIFF_BYTES);
            continue;
        }
        int bad = !utf8_ok(buf, len);
        if (bad && o->invalid_utf8 == RP_UTF8_SKIP) {
            rp_warnf(o->warn, o->warn_ud, "%s: invalid UTF-8, skipped", rel);
            continue;
        }
        if (bad)
            rp_warnf(o->warn, o->warn_ud, "%s: invalid UTF-8, replaced by U+FFFD", rel);
        rp_doc *d = &c->docs[c->n];
        d->id = w.paths[i];
        w.paths[i] = NULL;
        d->size = len;
        d->invalid_utf8 = bad;
        rp_hash_hex(d->hash, buf, len);
        c->total_bytes += len;
        c->n++;
    }
    if (c->n == 0) {
        rc = rp_err(err, errlen, RP_EEMPTY, "%s: no document matched (%zu candidates)", root, w.n);
        goto fail;
    }
    for (size_t i = 0; i < w.n; i++)
        free(w.paths[i]);
    free(w.paths);
    free(buf);
    free(abs);
    *out = c;
    return RP_OK;
fail:
    if (rc == RP_ENOMEM)
        rp_err(err, errlen, rc, "rp_discover: out of memory");
    for (size_t i = 0; i < w.n; i++)
        free(w.paths[i]);
    free(w.paths);
    free(buf);
    free(abs);
    rp_corpus_free(c);
    return rc;
}

int rp_doc_load(char **out, size_t *out_len, const rp_corpus *c, size_t i, char *err, size_t errlen)
{
    if (!out || !c || i >= c->n)
        return rp_err(err, errlen, RP_EINVAL, "rp_doc_load: bad argument");
    const rp_doc *d = &c->docs[i];
    char *abs = NULL, *buf = NULL;
    size_t cap = 0, len = 0;
    if (asprintf(&abs, "%s/%s", c->root, d->id) < 0)
        return rp_err(err, errlen, RP_ENOMEM, "out of memory");
    int r = read_file(abs, &buf, &cap, &len, d->size);
    int e = errno;
    free(abs);
    if (r < 0) {
        free(buf);
        if (e == ENOMEM)
            return rp_err(err, errlen, RP_ENOMEM, "out of memory");
        return rp_err(err, errlen, e == ENOENT ? RP_ECHANGED : RP_EIO, "%s: %s", d->id,
                      strerror(e));
    }
    char hash[RP_HASH_HEX];
    if (r == 0)
        rp_hash_hex(hash, buf, len);
    if (r > 0 || len != d->size || strcmp(hash, d->hash) != 0) {
        free(buf);
        return rp_err(err, errlen, RP_ECHANGED, "%s: changed since discover", d->id);
    }
    if (d->invalid_utf8) {
        char *fixed = NULL;
        int rc = rp_utf8_repair(&fixed, &len, buf, len);
        free(buf);
        if (rc)
            return rp_err(err, errlen, rc, "out of memory");
        buf = fixed;
    } else {
        char *shrunk = realloc(buf, len + 1);
        if (shrunk)
            buf = shrunk;
    }
    *out = buf;
    if (out_len)
        *out_len = len;
    return RP_OK;
}

/* The I/O floor under bench_ragctl.sh's figure: what any pipeline over the same corpus must at
 * least do, with plain system calls and no parsing, hashing or embedding.
 *
 *   ./build/bench/pipeline/floor_io DIR [OUT_DIR] [reps]
 *
 * (a) read: every file under DIR that ragctl's default globs take (*.md, *.markdown, *.txt,
 *     *.rst; no hidden files or directories) read whole (the corpus bytes);
 * (b) persist once: (a), plus for every 600 bytes of text one record of the text and a 384-float
 *     vector (1536 bytes) appended to one file through a 1 MiB buffer, then fdatasync; the bytes a
 *     store must keep for the index (text + vectors);
 * (c) persist twice: (b), plus the same records written again to a second file and synced, as a
 *     write-ahead log and its checkpoint do (local mode's SQLite WAL writes each page twice).
 * Prints the median of reps runs (default 5) in seconds and in MB/s of corpus text. */
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 600
#define VEC_BYTES (384 * 4)
#define BUF (1u << 20)

static int out_fd[2] = {-1, -1}, nout;
static unsigned char *wbuf;
static size_t wlen;
static char *rbuf;
static size_t rcap;
static unsigned long long corpus_bytes, records;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int flush_out(void)
{
    for (int i = 0; i < nout; i++) {
        size_t off = 0;
        while (off < wlen) {
            ssize_t w = write(out_fd[i], wbuf + off, wlen - off);
            if (w <= 0)
                return -1;
            off += (size_t)w;
        }
    }
    wlen = 0;
    return 0;
}

static int put(const void *p, size_t n)
{
    if (wlen + n > BUF && flush_out())
        return -1;
    memcpy(wbuf + wlen, p, n);
    wlen += n;
    return 0;
}

static int on_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type == FTW_D && path[ftw->base] == '.' && ftw->level > 0)
        return FTW_SKIP_SUBTREE;
    if (type != FTW_F || !S_ISREG(st->st_mode) || path[ftw->base] == '.')
        return 0;
    static const char *const globs[] = {"*.md", "*.markdown", "*.txt", "*.rst"};
    int match = 0;
    for (size_t i = 0; i < sizeof globs / sizeof globs[0] && !match; i++)
        match = fnmatch(globs[i], path + ftw->base, 0) == 0;
    if (!match)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    for (;;) {
        if (len == rcap) {
            rcap = rcap ? rcap * 2 : 1u << 16;
            rbuf = realloc(rbuf, rcap);
            if (!rbuf)
                return 1;
        }
        ssize_t r = read(fd, rbuf + len, rcap - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    corpus_bytes += len;
    if (!nout)
        return 0;
    static float vec[384];
    for (size_t at = 0; at < len; at += CHUNK) {
        size_t n = len - at < CHUNK ? len - at : CHUNK;
        vec[records % 384] += 1.0f;
        if (put(rbuf + at, n) || put(vec, VEC_BYTES))
            return 1;
        records++;
    }
    return 0;
}

static double run(const char *dir, const char *out, int copies)
{
    char path[2][4200];
    nout = copies;
    for (int i = 0; i < copies; i++) {
        snprintf(path[i], sizeof path[i], "%s/floor_io.%d.%d", out, (int)getpid(), i);
        out_fd[i] = open(path[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd[i] < 0) {
            perror(path[i]);
            exit(1);
        }
    }
    corpus_bytes = records = 0;
    double t0 = now();
    if (nftw(dir, on_file, 64, FTW_PHYS | FTW_ACTIONRETVAL) != 0 || flush_out() != 0) {
        fprintf(stderr, "floor_io: walking or writing failed\n");
        exit(1);
    }
    for (int i = 0; i < copies; i++)
        if (fdatasync(out_fd[i]) != 0) {
            perror("fdatasync");
            exit(1);
        }
    double t = now() - t0;
    for (int i = 0; i < copies; i++) {
        close(out_fd[i]);
        unlink(path[i]);
    }
    return t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: floor_io DIR [OUT_DIR] [reps]\n");
        return 2;
    }
    const char *out = argc > 2 ? argv[2] : "/tmp";
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1 || reps > 99)
        reps = 5;
    wbuf = malloc(BUF);
    if (!wbuf)
        return 1;
    static const char *const what[3] = {"read the corpus", "+ persist text and vectors once",
                                        "+ persist them twice (WAL + checkpoint)"};
    run(argv[1], out, 0); /* warm the page cache */
    for (int copies = 0; copies < 3; copies++) {
        double t[99];
        for (int r = 0; r < reps; r++)
            t[r] = run(argv[1], out, copies);
        qsort(t, (size_t)reps, sizeof t[0], cmp);
        double mb = (double)corpus_bytes / 1e6, med = t[reps / 2];
        printf("%-42s %7.3f s  %8.1f MB/s  (%.1f MB text, %llu records of text + %d-byte "
               "vector, median of %d)\n",
               what[copies], med, mb / med, mb, records, VEC_BYTES, reps);
    }
    free(wbuf);
    free(rbuf);
    return 0;
}

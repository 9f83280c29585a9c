/* Pipeline core, text side: the hash, discover (order, globs, binary, invalid UTF-8 policies,
 * symlinks, ids, empty corpus, changed files) and chunk (boundaries, overlap, code points). */
#include "pipeline.h"
#include "buf.h"
#include "tap.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void put(const char *rel, const char *data, size_t len)
{
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}
#define PUTS(rel, s) put(rel, s, strlen(s))

static char warnings[8192];
static void on_warn(void *ud, const char *msg)
{
    (void)ud;
    strncat(warnings, msg, sizeof warnings - strlen(warnings) - 2);
    strcat(warnings, "\n");
}

static void test_hash(void)
{
    char hex[RP_HASH_HEX];
    rp_hash_hex(hex, "", 0);
    is_str(hex, "00000000000000000000000000000000", "murmur3_x64_128 of empty input");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    rp_hash_hex(hex, fox, strlen(fox));
    is_str(hex, "e34bbc7bbc071b6c7a433ca9c49a9347", "murmur3_x64_128 reference vector");
    /* incremental == one shot, for every split point */
    int same = 1;
    for (size_t cut = 0; cut <= strlen(fox); cut++) {
        rp_hasher h;
        char a[RP_HASH_HEX];
        rp_hasher_init(&h);
        rp_hasher_update(&h, fox, cut);
        rp_hasher_update(&h, fox + cut, strlen(fox) - cut);
        rp_hasher_hex(&h, a);
        same &= strcmp(a, hex) == 0;
    }
    ok(same, "incremental hashing matches one-shot hashing at every split");
    ok(rp_name_valid("demo_1-a") && !rp_name_valid("") && !rp_name_valid("Demo") &&
           !rp_name_valid("../x") && !rp_name_valid("a/b") &&
           rp_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") &&
           !rp_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
       "names: [a-z0-9_-]{1,64}");
    char coll[64];
    is_int(rp_collection_name(coll, sizeof coll, "rag", "demo", 7), 0, "collection name");
    is_str(coll, "rag_demo_v7", "collection name format");
    is_int(rp_collection_name(coll, 8, "rag", "demo", 7), RP_EINVAL, "collection name too long");
}

static void test_repair(void)
{
    char *o = NULL;
    size_t n = 0;
    /* C0 (never valid), E2 82 (truncated 3-byte), F0 9F 98 80 valid, ED A0 80 (surrogate) */
    const char in[] = "a\xC0x\xE2\x82y\xF0\x9F\x98\x80\xED\xA0\x80z";
    is_int(rp_utf8_repair(&o, &n, in, sizeof in - 1), 0, "repair");
    is_str(o, "a\xEF\xBF\xBDx\xEF\xBF\xBDy\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz",
           "maximal subparts replaced by U+FFFD");
    is_int(n, strlen(o), "repaired length");
    free(o);
}

static void test_discover(void)
{
    snprintf(root, sizeof root, "/tmp/rp_text_XXXXXX");
    ok(mkdtemp(root) != NULL, "temp dir");
    char *o = NULL;
    PUTS("b.md", "# B\n\nbody b\n");
    PUTS("a.txt", "alpha\n");
    PUTS("a/z.rst", "zed\n");
    PUTS("a/b.markdown", "bee\n");
    PUTS("a.b/c.md", "c\n");
    PUTS("skip.c", "int x;\n");
    PUTS(".hidden/h.md", "hidden\n");
    put("bin.md", "abc\0def", 7);
    PUTS("bad.md", "caf\xE9 ok\n");
    /* symlinks: inside (file), outside, to a dir */
    char lnk[512], outside[512];
    snprintf(lnk, sizeof lnk, "%s/link.md", root);
    symlink("b.md", lnk);
    snprintf(outside, sizeof outside, "%s_out.md", root);
    FILE *f = fopen(outside, "w");
    fputs("secret\n", f);
    fclose(f);
    snprintf(lnk, sizeof lnk, "%s/escape.md", root);
    symlink(outside, lnk);
    snprintf(lnk, sizeof lnk, "%s/dirlink", root);
    symlink("/usr/share", lnk);

    rp_corpus *c = NULL;
    rp_discover_options opts = RP_DISCOVER_OPTIONS_INIT;
    opts.warn = on_warn;
    char err[256] = "";
    warnings[0] = 0;
    is_int(rp_discover(&c, root, &opts, err, sizeof err), 0, "discover");
    const char *want[] = {"a.b/c.md", "a.txt", "a/b.markdown", "a/z.rst",
                          "bad.md",   "b.md",  "link.md"};
    /* byte-wise order: "a.b/" < "a.txt" < "a/" ('.' 0x2E < '/' 0x2F), "b.md" > "bad.md" */
    const char *sorted[] = {"a.b/c.md", "a.txt",  "a/b.markdown", "a/z.rst",
                            "b.md",     "bad.md", "link.md"};
    (void)want;
    is_int(c ? c->n : 0, 7, "7 documents");
    int order = c && c->n == 7;
    for (size_t i = 0; order && i < 7; i++)
        order = strcmp(c->docs[i].id, sorted[i]) == 0;
    ok(order, "byte-wise sorted relative paths");
    if (!order && c)
        for (size_t i = 0; i < c->n; i++)
            diag("%s", c->docs[i].id);
    ok(strstr(warnings, "bin.md: binary") != NULL, "binary file skipped with a warning");
    ok(strstr(warnings, "bad.md: invalid UTF-8, replaced") != NULL, "invalid UTF-8 warned");
    ok(strstr(warnings, "escape.md: symbolic link leads out of the root") != NULL,
       "symlink out of the root skipped");
    ok(strstr(warnings, "dirlink: symbolic link to a directory") != NULL,
       "directory symlink not followed");
    if (c && c->n == 7) {
        is_int(c->docs[4].size, 12, "size");
        char h[RP_HASH_HEX];
        rp_hash_hex(h, "# B\n\nbody b\n", 12);
        is_str(c->docs[4].hash, h, "content hash");
        is_str(c->docs[6].hash, h, "symlink inside the root has the target's content");
        size_t n = 0;
        is_int(rp_doc_load(&o, &n, c, 5, err, sizeof err), 0, "load invalid doc");
        is_str(o, "caf\xEF\xBF\xBD ok\n", "replaced on load");
        free(o);
        o = NULL;
        PUTS("b.md", "# B\n\nbody B\n");
        is_int(rp_doc_load(&o, &n, c, 4, err, sizeof err), RP_ECHANGED, "changed file detected");
        PUTS("b.md", "# B\n\nbody b\n");
        is_int(rp_doc_load(&o, &n, c, 4, err, sizeof err), 0, "restored file loads");
        free(o);
        o = NULL;
    }
    rp_corpus_free(c);
    c = NULL;

    /* policy: skip invalid files; custom globs; hidden files */
    opts.invalid_utf8 = RP_UTF8_SKIP;
    opts.include_hidden = 1;
    const char *globs[] = {"*.md", NULL};
    opts.globs = globs;
    warnings[0] = 0;
    is_int(rp_discover(&c, root, &opts, err, sizeof err), 0, "discover with options");
    is_int(c ? c->n : 0, 4, "a.b/c.md .hidden/h.md b.md link.md");
    ok(c && c->n == 4 && !strcmp(c->docs[0].id, ".hidden/h.md"), "hidden included on request");
    ok(strstr(warnings, "bad.md: invalid UTF-8, skipped") != NULL, "skip policy warned");
    rp_corpus_free(c);
    c = NULL;

    const char *none[] = {"*.nothing", NULL};
    opts.globs = none;
    is_int(rp_discover(&c, root, &opts, err, sizeof err), RP_EEMPTY, "empty corpus is an error");
    ok(strstr(err, "no document") != NULL, "empty corpus message");
    is_int(rp_discover(&c, "/nonexistent/dir", NULL, err, sizeof err), RP_ENOTFOUND,
           "missing root");
    ok(c == NULL, "out untouched on failure");
    rp_corpus_free(NULL);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, outside);
    ok(system(cmd) == 0, "cleanup");
}

typedef struct chunks {
    size_t n;
    char *text[256];
    size_t cs[256], ce[256], bs[256], be[256];
    char id[256][64];
} chunks;

static int on_chunk(const rp_chunk *c, void *ud)
{
    chunks *k = ud;
    if (k->n >= 256)
        return 1;
    k->text[k->n] = strdup(c->text);
    k->cs[k->n] = c->char_start;
    k->ce[k->n] = c->char_end;
    k->bs[k->n] = c->byte_start;
    k->be[k->n] = c->byte_end;
    snprintf(k->id[k->n], 64, "%s", c->id);
    char h[RP_HASH_HEX];
    rp_hash_hex(h, c->text, c->len);
    if (strcmp(h, c->hash) || strlen(c->text) != c->len || c->n != k->n)
        return 2;
    k->n++;
    return 0;
}

static void chunks_free(chunks *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->text[i]);
    memset(k, 0, sizeof *k);
}

static size_t cps(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static void test_chunk(void)
{
    chunks k = {0};
    rp_chunk_options o = RP_CHUNK_OPTIONS_INIT;
    is_int(rp_chunk_text("d", "short text", 10, NULL, on_chunk, &k), 0, "one chunk");
    is_int(k.n, 1, "short doc -> 1 chunk");
    is_str(k.id[0], "d#0", "chunk id");
    chunks_free(&k);
    is_int(rp_chunk_text("d", "  \n\n  ", 6, NULL, on_chunk, &k), 0, "blank doc");
    is_int(k.n, 0, "blank doc -> no chunk");
    is_int(rp_chunk_text("d", "a\xC0", 2, NULL, on_chunk, &k), RP_EENCODING, "invalid UTF-8");
    o.size = 10;
    o.overlap = 10;
    is_int(rp_chunk_text("d", "x", 1, &o, on_chunk, &k), RP_EINVAL, "overlap >= size");

    /* paragraph preferred over sentence and space */
    rc_buf b = RC_BUF_INIT;
    for (int i = 0; i < 3; i++) {
        for (int s = 0; s < 6; s++)
            rc_buf_printf(&b, "Paragraph %d sentence %d is here. ", i, s);
        rc_buf_puts(&b, "\n\n");
    }
    o.size = 300;
    o.overlap = 40;
    is_int(rp_chunk_text("p", b.data, b.len, &o, on_chunk, &k), 0, "paragraph doc");
    ok(k.n >= 2, "several chunks");
    int para = 1, bounds = 1, cover = 1;
    for (size_t i = 0; i < k.n; i++) {
        size_t l = strlen(k.text[i]);
        if (i + 1 < k.n)
            para &= l >= 2 && !strcmp(k.text[i] + l - 2, "\n\n");
        bounds &= k.ce[i] - k.cs[i] <= 300 && cps(k.text[i], l) == k.ce[i] - k.cs[i] &&
                  !memcmp(b.data + k.bs[i], k.text[i], l);
        if (i)
            cover &= k.cs[i] < k.ce[i - 1] && k.cs[i] > k.cs[i - 1];
    }
    ok(para, "cuts after blank lines");
    ok(bounds, "sizes within the limit, offsets exact");
    ok(cover, "chunks overlap and advance");
    is_int(k.ce[k.n - 1], cps(b.data, b.len), "last chunk ends at the end");
    chunks_free(&k);

    /* sentences when there is no paragraph */
    rc_buf_reset(&b);
    for (int s = 0; s < 30; s++)
        rc_buf_printf(&b, "Sentence number %d ends! Then? ", s);
    is_int(rp_chunk_text("s", b.data, b.len, &o, on_chunk, &k), 0, "sentence doc");
    int sent = 1;
    for (size_t i = 0; i + 1 < k.n; i++) {
        size_t l = strlen(k.text[i]);
        sent &= l >= 2 && strchr(".!?", k.text[i][l - 2]) && k.text[i][l - 1] == ' ';
    }
    ok(sent, "cuts after sentence ends");
    int wordstart = 1;
    for (size_t i = 1; i < k.n; i++)
        wordstart &= b.data[k.bs[i] - 1] == ' ';
    ok(wordstart, "overlap starts at a word start");
    chunks_free(&k);

    /* multi-byte code points, no white space at all: hard cuts never split a code point */
    rc_buf_reset(&b);
    for (int i = 0; i < 500; i++)
        rc_buf_puts(&b, i % 3 ? "\xC3\xA9" : (i % 2 ? "\xF0\x9F\x98\x80" : "\xE6\x97\xA5"));
    o.size = 64;
    o.overlap = 8;
    is_int(rp_chunk_text("u", b.data, b.len, &o, on_chunk, &k), 0, "multibyte doc");
    int cp_ok = 1, len_ok = 1;
    for (size_t i = 0; i < k.n; i++) {
        cp_ok &= rc_utf8_valid(k.text[i], strlen(k.text[i]));
        len_ok &= k.ce[i] - k.cs[i] == (i + 1 < k.n ? 64 : k.ce[i] - k.cs[i]);
        if (i)
            len_ok &= k.ce[i - 1] - k.cs[i] == 8;
    }
    ok(cp_ok, "every chunk is valid UTF-8");
    ok(len_ok, "hard cuts: size code points, overlap exact");
    is_int(k.ce[k.n - 1], 500, "covers all 500 code points");
    chunks_free(&k);

    /* callback stop */
    is_int(rp_chunk_text("u", b.data, b.len, &o, on_chunk, &(chunks){.n = 256}), RP_ESTOPPED,
           "callback stops chunking");
    rc_buf_free(&b);
}

int main(void)
{
    test_hash();
    test_repair();
    test_discover();
    test_chunk();
    return tap_done();
}

/* chunk: code point windows cut at paragraph, sentence or word boundaries, with overlap. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "swar.h"

static inline size_t cp_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static inline int is_ws(unsigned char c)
{
    /* ' ', '\t', '\n', '\v', '\f', '\r' as one range check and a bit test */
    return c <= ' ' && ((1ull << c) & ((1ull << ' ') | (0x1Full << '\t')));
}

static inline int is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

static inline int is_punct(unsigned char c)
{
    return c == '.' || c == '!' || c == '?';
}

/* Advances (*b, *c) by code points until *c reaches target or *b reaches len (ASCII runs eight
 * bytes at a time; text is valid UTF-8). */
static inline void advance(const unsigned char *t, size_t len, size_t *b, size_t *c, size_t target)
{
    size_t i = *b, n = *c;
    while (n < target && i < len) {
        if (target - n >= 8 && len - i >= 8 && !(rc_load8(t + i) & RC_HIGHS)) {
            i += 8;
            n += 8;
            continue;
        }
        i += cp_len(t[i]);
        n++;
    }
    *b = i;
    *c = n;
}

/* Code points in t[from, to): the bytes that are not continuation bytes (10xxxxxx). */
static inline size_t cp_count(const unsigned char *t, size_t from, size_t to)
{
    size_t n = 0, k = from;
    for (; to - k >= 8; k += 8) {
        uint64_t v = rc_load8(t + k);
        n += 8 - (size_t)__builtin_popcountll(v & ~(v << 1) & RC_HIGHS);
    }
    for (; k < to; k++)
        n += !is_cont(t[k]);
    return n;
}

/* 1 when t[from, to) is all ASCII. */
static inline int all_ascii(const unsigned char *t, size_t from, size_t to)
{
    size_t k = from;
    uint64_t acc = 0;
    for (; to - k >= 8; k += 8)
        acc |= rc_load8(t + k);
    for (; k < to; k++)
        acc |= t[k];
    return !(acc & RC_HIGHS);
}

/* 1 when the newline at t[j] ends a blank line: the characters since the previous newline, which
 * must lie within the window [pos, j), are all white space. */
static inline int ends_blank_line(const unsigned char *t, size_t pos, size_t j)
{
    while (j > pos) {
        unsigned char c = t[--j];
        if (c == '\n')
            return 1;
        if (!is_ws(c))
            return 0;
    }
    return 0; /* the window's first line counts as having text */
}

/* Writes "#<n>" and a NUL at p (at most 22 bytes). */
static void format_n(char *p, size_t n)
{
    char tmp[24];
    char *q = tmp + sizeof tmp;
    do {
        *--q = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    *p++ = '#';
    size_t k = (size_t)(tmp + sizeof tmp - q);
    memcpy(p, q, k);
    p[k] = 0;
}

int rp_chunk_text(const char *doc_id, const char *text, size_t len, const rp_chunk_options *opts,
                  rp_chunk_fn fn, void *ud)
{
    rp_chunk_options dflt = RP_CHUNK_OPTIONS_INIT;
    const rp_chunk_options *o = opts ? opts : &dflt;
    if (!doc_id || (!text && len) || !fn || o->size == 0 || o->overlap >= o->size)
        return RP_EINVAL;
    if (!rc_utf8_valid(text, len))
        return RP_EENCODING;
    const unsigned char *t = (const unsigned char *)text;
    size_t idlen = strlen(doc_id);
    char *id = malloc(idlen + 32);
    if (!id)
        return RP_ENOMEM;
    memcpy(id, doc_id, idlen);
    rc_buf scratch = RC_BUF_INIT;
    int rc = RP_OK;
    size_t half = o->size / 2 ? o->size / 2 : 1;
    size_t pos_b = 0, pos_c = 0, n = 0;
    while (pos_b < len) {
        /* The window: up to size code points from pos. Cuts may follow its code points number
         * half, half + 1, ... (counting from 1), which start at byte half_b. */
        size_t i = pos_b, count = 0;
        advance(t, len, &i, &count, half - 1);
        size_t half_b = i;
        advance(t, len, &i, &count, o->size);
        size_t end_b = i, end_c = pos_c + count;
        int last = i >= len;
        if (!last) {
            /* The last cut of each kind, found walking back from the window's end: after a
             * newline ending a blank line (paragraph), after white space following [.!?]
             * within the window (sentence), after any white space. All three are ASCII, so
             * bytes stand for code points here. */
            size_t para = 0, sent = 0, ws = 0;
            for (size_t j = i; j-- > half_b;) {
                unsigned char c = t[j];
                if (!is_ws(c))
                    continue;
                if (!ws)
                    ws = j + 1;
                if (!sent && j > pos_b && is_punct(t[j - 1]))
                    sent = j + 1;
                if (c == '\n' && ends_blank_line(t, pos_b, j)) {
                    para = j + 1;
                    break;
                }
            }
            size_t cut = para ? para : sent ? sent : ws;
            if (cut) {
                end_c -= cp_count(t, cut, end_b);
                end_b = cut;
            }
        }
        /* Emit [pos, end) unless it is only white space. */
        int blank = 1;
        for (size_t k = pos_b; k < end_b && blank; k++)
            blank = is_ws(t[k]);
        if (!blank) {
            rp_chunk ch;
            format_n(id + idlen, n);
            rc_buf_reset(&scratch);
            if (rc_buf_append(&scratch, text + pos_b, end_b - pos_b) < 0 ||
                rc_buf_reserve(&scratch, 1) < 0) {
                rc = RP_ENOMEM;
                break;
            }
            scratch.data[scratch.len] = 0;
            ch.id = id;
            ch.doc_id = doc_id;
            ch.n = n++;
            ch.text = scratch.data;
            ch.len = scratch.len;
            ch.char_start = pos_c;
            ch.char_end = end_c;
            ch.byte_start = pos_b;
            ch.byte_end = end_b;
            rp_hash_hex(ch.hash, ch.text, ch.len);
            if (fn(&ch, ud)) {
                rc = RP_ESTOPPED;
                break;
            }
        }
        if (last)
            break;
        /* The next chunk starts overlap code points before the cut, after pos. */
        size_t nb = end_b, nc = end_c;
        size_t back = end_c - pos_c - 1 < o->overlap ? end_c - pos_c - 1 : o->overlap;
        if (back <= end_b - pos_b && all_ascii(t, end_b - back, end_b)) {
            nb -= back; /* the common case, one byte per code point */
            nc -= back;
        }
        while (nc > pos_c + 1 && end_c - nc < o->overlap) {
            do
                nb--;
            while (nb > pos_b && is_cont(t[nb]));
            nc--;
        }
        /* Move forward to a word start when one lies before the cut. */
        if (nc < end_c && nb > 0 && !is_ws(t[nb - 1])) {
            size_t fb = nb, fc = nc;
            while (fb < end_b && !is_ws(t[fb])) {
                fb += cp_len(t[fb]);
                fc++;
            }
            while (fb < end_b && is_ws(t[fb])) {
                fb++;
                fc++;
            }
            if (fb < end_b) {
                nb = fb;
                nc = fc;
            }
        }
        pos_b = nb;
        pos_c = nc;
    }
    rc_buf_free(&scratch);
    free(id);
    return rc;
}

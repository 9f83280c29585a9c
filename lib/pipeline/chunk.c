/* chunk: code point windows cut at paragraph, sentence or word boundaries, with overlap. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static inline size_t cp_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static inline int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline int is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

typedef struct cut {
    size_t b, c; /* byte offset, char offset (absolute) */
} cut;

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
        /* Scan up to size code points, remembering the last boundary of each kind. */
        cut para = {0, 0}, sent = {0, 0}, ws = {0, 0};
        size_t i = pos_b, count = 0;
        int line_has_text = 1, prev_punct = 0;
        while (count < o->size && i < len) {
            unsigned char c = t[i];
            i += cp_len(c);
            count++;
            int w = is_ws(c);
            if (count >= half) {
                cut here = {i, pos_c + count};
                if (c == '\n' && !line_has_text)
                    para = here;
                if (w && prev_punct)
                    sent = here;
                if (w)
                    ws = here;
            }
            if (c == '\n')
                line_has_text = 0;
            else if (!w)
                line_has_text = 1;
            prev_punct = c == '.' || c == '!' || c == '?';
        }
        cut end = {i, pos_c + count};
        int last = i >= len;
        if (!last)
            end = para.b ? para : sent.b ? sent : ws.b ? ws : end;
        /* Emit [pos, end) unless it is only white space. */
        int blank = 1;
        for (size_t k = pos_b; k < end.b && blank; k++)
            blank = is_ws(t[k]);
        if (!blank) {
            rp_chunk ch;
            snprintf(id + idlen, 32, "#%zu", n);
            rc_buf_reset(&scratch);
            if (rc_buf_append(&scratch, text + pos_b, end.b - pos_b) < 0 ||
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
            ch.char_end = end.c;
            ch.byte_start = pos_b;
            ch.byte_end = end.b;
            rp_hash_hex(ch.hash, ch.text, ch.len);
            if (fn(&ch, ud)) {
                rc = RP_ESTOPPED;
                break;
            }
        }
        if (last)
            break;
        /* The next chunk starts overlap code points before the cut, after pos. */
        size_t nb = end.b, nc = end.c;
        while (nc > pos_c + 1 && end.c - nc < o->overlap) {
            do
                nb--;
            while (nb > pos_b && is_cont(t[nb]));
            nc--;
        }
        /* Move forward to a word start when one lies before the cut. */
        if (nc < end.c && nb > 0 && !is_ws(t[nb - 1])) {
            size_t fb = nb, fc = nc;
            while (fb < end.b && !is_ws(t[fb])) {
                fb += cp_len(t[fb]);
                fc++;
            }
            while (fb < end.b && is_ws(t[fb])) {
                fb++;
                fc++;
            }
            if (fb < end.b) {
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

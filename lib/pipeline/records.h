/* The records of the discover and chunk artifacts, read back (internal to lib/pipeline; the
 * writers are rp_doc_json and rp_chunk_json in pipeline.h, beside these in records.c). */
#ifndef RP_RECORDS_H
#define RP_RECORDS_H

#include <stddef.h>

#include "pipeline.h"

/* Rebuilds the corpus from the discover artifact at path (root: the documents folder), so
 * chunk reads exactly what discover saw. */
int rp_docs_read(rp_corpus **out, const char *path, const char *root);

/* One record of the chunk artifact. */
typedef struct rp_chunk_rec {
    char *id, *doc_id, *text, hash[RP_HASH_HEX];
    size_t n;
    /* the text as a JSON string (quotes included) when the line had it in the form
     * rc_buf_json_str writes; NULL otherwise */
    char *text_json;
    size_t text_json_len;
} rp_chunk_rec;

typedef struct rp_chunk_list {
    rp_chunk_rec *v;
    size_t n, cap;
    int bad; /* 1: a line could not be read; 2: out of memory */
} rp_chunk_list;

void rp_chunk_rec_free(rp_chunk_rec *r);
void rp_chunks_free(rp_chunk_list *l);
/* Appends one line of the chunk artifact to the list ud (an rp_chunk_list); non-zero (and
 * l->bad set) when it cannot. */
int rp_chunk_line(const char *line, size_t len, void *ud);
/* Streams the chunk artifact (checked against params) in batches of up to `batch` records:
 * fn(list, first index, ud) for each batch (a non-zero return stops). Memory holds one batch,
 * whatever the corpus size. *total (may be NULL) gets the number of records. */
typedef int (*rp_batch_fn)(const rp_chunk_list *l, size_t first, void *ud);
int rp_stream_chunks(rp_state *s, const char *run_id, const char *params, size_t batch,
                     rp_batch_fn fn, void *ud, size_t *total, char *err, size_t errlen);

#endif

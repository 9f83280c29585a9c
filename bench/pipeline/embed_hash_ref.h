/* The frozen pre-speed-up "hash" embedder (see embed_hash_ref.c); bench_embed_hash only. */
#ifndef EMBED_HASH_REF_H
#define EMBED_HASH_REF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_hash ref_hash;
ref_hash *ref_hash_new(size_t dim);
/* Embeds n texts into out (n * dim floats, the caller's); 0 or -1 (no memory). */
int ref_hash_embed(ref_hash *h, float *out, const char *const *texts, size_t n);
void ref_hash_free(ref_hash *h);

#endif

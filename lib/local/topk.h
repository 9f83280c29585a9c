/* Local mode: top-k selection, shared by in-memory queries (read.c) and scan mode (scan.c);
 * defined here, inline, so that the scoring loops keep it inline. */
#ifndef LS_TOPK_H
#define LS_TOPK_H

#include "store_int.h"

#include <stdlib.h>

/* Top-k selection: a binary heap whose root is the worst kept result. Entries carry the id
 * (scan mode has no slot to look it up by) and the slot (in-memory mode reads the point back). */
typedef struct hent {
    float score;
    uint32_t slot;
    ls_id id;
} hent;

typedef struct topk {
    hent *h;
    size_t n, k, cap; /* cap: entries allocated, grown up to k as results come in */
    int larger;       /* 1: larger scores are better */
    int oom;          /* growing the heap failed */
} topk;

/* 1 when a ranks before b: the better score, then the smaller id. */
static inline int better(const topk *t, const hent *a, const hent *b)
{
    if (a->score != b->score)
        return t->larger ? a->score > b->score : a->score < b->score;
    return ls_id_cmp(&a->id, &b->id) < 0;
}

static inline void sift_down(topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < t->n && better(t, &t->h[w], &t->h[l]))
            w = l;
        if (r < t->n && better(t, &t->h[w], &t->h[r]))
            w = r;
        if (w == i)
            return;
        hent tmp = t->h[i];
        t->h[i] = t->h[w];
        t->h[w] = tmp;
        i = w;
    }
}

static inline void topk_push(topk *t, float score, uint32_t slot, const ls_id *id)
{
    if (t->n == t->k) { /* full: most candidates lose to the root, decided without a copy */
        if (!t->k)
            return;
        const hent *root = &t->h[0];
        if (score != root->score ? !(t->larger ? score > root->score : score < root->score)
                                 : ls_id_cmp(id, &root->id) >= 0)
            return;
    }
    hent e = {score, slot, *id};
    if (t->n < t->k) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            cap = cap < t->k ? cap : t->k;
            hent *h = realloc(t->h, cap * sizeof *h);
            if (!h) {
                t->oom = 1;
                return;
            }
            t->h = h;
            t->cap = cap;
        }
        size_t i = t->n++;
        t->h[i] = e;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!better(t, &t->h[parent], &t->h[i]))
                break;
            hent tmp = t->h[i];
            t->h[i] = t->h[parent];
            t->h[parent] = tmp;
            i = parent;
        }
        return;
    }
    t->h[0] = e; /* better than the root (checked above) */
    sift_down(t, 0);
}

static inline int hent_cmp(const void *a, const void *b, void *ud)
{
    const topk *t = ud;
    return better(t, a, b) ? -1 : better(t, b, a) ? 1 : 0;
}

#endif

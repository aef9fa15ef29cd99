/* SPDX-License-Identifier: MIT */
/* tests/smr/ds/ds_alloy.h - the lock-free structures on alloy_smr (either scheme). */
#ifndef ALLOY_TEST_DS_ALLOY_H
#define ALLOY_TEST_DS_ALLOY_H

#include <alloy.h>

typedef struct ads_ctx {
    alloy_smr *d;
} ads_ctx;

#define DS(name) ads_##name
#define DS_CTX ads_ctx
#include "ds_alloy_inst.h"
#undef DS_CTX

/* Read without removing: the key of the top node (false if empty). */
static inline bool ads_stack_peek(ads_stack *s, ads_ctx *c, uint64_t *key) {
    alloy_smr_enter(c->d);
    ads_node *top = ALLOY_SMR_PROTECT(c->d, &s->top);
    if (top != NULL) *key = top->key;
    alloy_smr_exit(c->d);
    return top != NULL;
}

/* Read without removing: the key at the head of the queue (false if empty). */
static inline bool ads_queue_peek(ads_queue *q, ads_ctx *c, uint64_t *key) {
    alloy_smr_enter(c->d);
    ads_node *head = ALLOY_SMR_PROTECT(c->d, &q->head);
    ads_node *next = ALLOY_SMR_PROTECT(c->d, &head->next);
    if (next != NULL) *key = next->key;
    alloy_smr_exit(c->d);
    return next != NULL;
}

#endif

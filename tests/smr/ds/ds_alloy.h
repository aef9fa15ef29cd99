/* tests/smr/ds/ds_alloy.h - the lock-free structures on alloy_smr (either scheme). */
#ifndef ALLOY_TEST_DS_ALLOY_H
#define ALLOY_TEST_DS_ALLOY_H

#include <alloy.h>

typedef struct ads_ctx {
    alloy_smr *d;
} ads_ctx;

#define DS(name) ads_##name
#define DS_CTX ads_ctx
#define DS_NODE_EXTRA
#define DS_ALLOC(c, size) alloy_smr_node_alloc((c)->d, (size))
#define DS_FREE(c, n, size) alloy_smr_node_free((c)->d, (n), (size))
#define DS_ENTER(c) alloy_smr_enter((c)->d)
#define DS_EXIT(c) alloy_smr_exit((c)->d)
#define DS_LOAD(c, slot, pp) ALLOY_SMR_PROTECT((c)->d, (pp))
#define DS_RETIRE(c, n, size) alloy_smr_retire_node((c)->d, (n), (size))
#include "ds_template.h"
#undef DS
#undef DS_CTX
#undef DS_NODE_EXTRA
#undef DS_ALLOC
#undef DS_FREE
#undef DS_ENTER
#undef DS_EXIT
#undef DS_LOAD
#undef DS_RETIRE

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

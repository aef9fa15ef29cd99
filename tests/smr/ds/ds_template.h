/* SPDX-License-Identifier: MIT */
/* tests/smr/ds/ds_template.h - Treiber stack, Michael-Scott queue and
 * Harris-Michael sorted list, written once against a reclamation interface.
 *
 * Include it after defining (no include guard; include once per scheme; it
 * undefines all of them but DS_CTX at its end):
 *   DS(name)               prefix for every type and function
 *   DS_CTX                 per-thread context type (passed as DS_CTX *c)
 *   DS_NODE_EXTRA          extra members the scheme needs in a node (may be empty)
 *   DS_ALLOC(c, size)      allocate a node of size bytes
 *   DS_FREE(c, n, size)    free a node that was never published
 *   DS_ENTER(c), DS_EXIT(c)            read-side section
 *   DS_LOAD(c, slot, pp)   protected load of the node pointer *pp; slot is
 *                          the hazard index (0, 1 or 2) for hazard pointers
 *   DS_RETIRE(c, n, size)  hand an unlinked node to the scheme
 * Used by tests/smr (alloy only) and bench/bench_smr.c (every peer).
 */
#include <stdbool.h>
#include <stdint.h>

typedef struct DS(node) {
    uint64_t key;
    struct DS(node) * next;
    DS_NODE_EXTRA
} DS(node);

/* After a failed CAS on a contended word: wait 1, 2, 4 ... 64 pauses. */
static inline void DS(backoff)(unsigned *spins) {
    for (unsigned i = 0; i < *spins; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    if (*spins < 64) *spins *= 2;
}

/* ---- Treiber stack -------------------------------------------------------- */

typedef struct DS(stack) {
    DS(node) * top;
} DS(stack);

static inline bool DS(stack_push)(DS(stack) * s, DS_CTX *c, uint64_t key) {
    (void)c;
    DS(node) *n = (DS(node) *)DS_ALLOC(c, sizeof(DS(node)));
    if (n == NULL) return false;
    n->key = key;
    DS(node) *top = __atomic_load_n(&s->top, __ATOMIC_RELAXED);
    for (unsigned spins = 1;; DS(backoff)(&spins)) {
        __atomic_store_n(&n->next, top, __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&s->top, &top, n, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            break;
    }
    return true;
}

static inline bool DS(stack_pop)(DS(stack) * s, DS_CTX *c, uint64_t *key) {
    (void)c;
    DS_ENTER(c);
    DS(node) * top;
    for (unsigned spins = 1;; DS(backoff)(&spins)) {
        top = DS_LOAD(c, 0, &s->top);
        if (top == NULL) {
            DS_EXIT(c);
            return false;
        }
        DS(node) *next = __atomic_load_n(&top->next, __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(&s->top, &top, next, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            break;
    }
    *key = top->key;
    DS_EXIT(c);
    DS_RETIRE(c, top, sizeof(DS(node)));
    return true;
}

/* ---- Michael-Scott queue ---------------------------------------------------- */

/* head and tail 128 bytes apart: x86 prefetches 64-byte lines in pairs. */
typedef struct DS(queue) {
    DS(node) * head __attribute__((aligned(128)));
    DS(node) * tail __attribute__((aligned(128)));
} DS(queue);

static inline bool DS(queue_init)(DS(queue) * q, DS_CTX *c) {
    (void)c;
    DS(node) *dummy = (DS(node) *)DS_ALLOC(c, sizeof(DS(node)));
    if (dummy == NULL) return false;
    dummy->key = 0;
    dummy->next = NULL;
    q->head = q->tail = dummy;
    return true;
}

static inline bool DS(queue_push)(DS(queue) * q, DS_CTX *c, uint64_t key) {
    (void)c;
    DS(node) *n = (DS(node) *)DS_ALLOC(c, sizeof(DS(node)));
    if (n == NULL) return false;
    n->key = key;
    __atomic_store_n(&n->next, NULL, __ATOMIC_RELAXED);
    DS_ENTER(c);
    for (unsigned spins = 1;; DS(backoff)(&spins)) {
        DS(node) *tail = DS_LOAD(c, 0, &q->tail);
        /* next is only compared and swapped, never dereferenced: a plain load. */
        DS(node) *next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);
        if (tail != __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE)) continue;
        if (next == NULL) {
            if (__atomic_compare_exchange_n(&tail->next, &next, n, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED)) {
                __atomic_compare_exchange_n(&q->tail, &tail, n, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED);
                break;
            }
        } else {
            __atomic_compare_exchange_n(&q->tail, &tail, next, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED);
        }
    }
    DS_EXIT(c);
    return true;
}

static inline bool DS(queue_pop)(DS(queue) * q, DS_CTX *c, uint64_t *key) {
    (void)c;
    DS_ENTER(c);
    DS(node) * head;
    for (unsigned spins = 1;; DS(backoff)(&spins)) {
        head = DS_LOAD(c, 0, &q->head);
        DS(node) *tail = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
        DS(node) *next = DS_LOAD(c, 1, &head->next);
        if (head != __atomic_load_n(&q->head, __ATOMIC_ACQUIRE)) continue;
        if (next == NULL) {
            DS_EXIT(c);
            return false;
        }
        if (head == tail) {
            __atomic_compare_exchange_n(&q->tail, &tail, next, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED);
            continue;
        }
        uint64_t k = next->key;
        if (__atomic_compare_exchange_n(&q->head, &head, next, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
            *key = k;
            break;
        }
    }
    DS_EXIT(c);
    DS_RETIRE(c, head, sizeof(DS(node)));
    return true;
}

/* Single-threaded teardown: free every node still linked (and the dummy). */
static inline uint64_t DS(queue_drain_free)(DS(queue) * q, DS_CTX *c) {
    (void)c;
    uint64_t n = 0;
    for (DS(node) *p = q->head, *next; p != NULL; p = next) {
        next = p->next;
        DS_FREE(c, p, sizeof(DS(node)));
        n++;
    }
    q->head = q->tail = NULL;
    return n - 1;
}

/* ---- Harris-Michael sorted list (set of keys) --------------------------------- */

typedef struct DS(list) {
    DS(node) * head;
} DS(list);

#define DS_MARKED(p) (((uintptr_t)(p)) & 1u)
#define DS_UNMARK(p) ((DS(node) *)(((uintptr_t)(p)) & ~(uintptr_t)1u))
#define DS_MARK(p) ((DS(node) *)(((uintptr_t)(p)) | 1u))

/* Inside a section: position *prevp and *curp at the first node with key >= key,
 * unlinking (and retiring) marked nodes on the way. */
static inline bool DS(list_find)(DS(list) * l, DS_CTX *c, uint64_t key, DS(node) * **prevp,
                                 DS(node) * *curp) {
    (void)c;
retry:;
    DS(node) **prev = &l->head;
    DS(node) *cur = DS_LOAD(c, 1, prev);
    for (;;) {
        if (cur == NULL) {
            *prevp = prev;
            *curp = NULL;
            return false;
        }
        DS(node) *next = DS_LOAD(c, 0, &cur->next);
        uint64_t ckey = cur->key;
        if (__atomic_load_n(prev, __ATOMIC_ACQUIRE) != cur) goto retry;
        if (!DS_MARKED(next)) {
            if (ckey >= key) {
                *prevp = prev;
                *curp = cur;
                return ckey == key;
            }
            prev = &cur->next;
        } else {
            DS(node) *expect = cur;
            if (!__atomic_compare_exchange_n(prev, &expect, DS_UNMARK(next), false,
                                             __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                goto retry;
            DS_RETIRE(c, cur, sizeof(DS(node)));
        }
        cur = DS_UNMARK(next);
    }
}

static inline bool DS(list_insert)(DS(list) * l, DS_CTX *c, uint64_t key) {
    (void)c;
    DS(node) *n = (DS(node) *)DS_ALLOC(c, sizeof(DS(node)));
    if (n == NULL) return false;
    n->key = key;
    DS_ENTER(c);
    for (;;) {
        DS(node) * *prev, *cur;
        if (DS(list_find)(l, c, key, &prev, &cur)) {
            DS_EXIT(c);
            DS_FREE(c, n, sizeof(DS(node)));
            return false;
        }
        __atomic_store_n(&n->next, cur, __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(prev, &cur, n, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
            break;
    }
    DS_EXIT(c);
    return true;
}

static inline bool DS(list_remove)(DS(list) * l, DS_CTX *c, uint64_t key) {
    (void)c;
    DS_ENTER(c);
    for (;;) {
        DS(node) * *prev, *cur;
        if (!DS(list_find)(l, c, key, &prev, &cur)) {
            DS_EXIT(c);
            return false;
        }
        DS(node) *next = __atomic_load_n(&cur->next, __ATOMIC_ACQUIRE);
        if (DS_MARKED(next)) continue;
        if (!__atomic_compare_exchange_n(&cur->next, &next, DS_MARK(next), false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_RELAXED))
            continue;
        DS(node) *expect = cur;
        if (__atomic_compare_exchange_n(prev, &expect, next, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            DS_RETIRE(c, cur, sizeof(DS(node)));
        else
            (void)DS(list_find)(l, c, key, &prev, &cur);
        break;
    }
    DS_EXIT(c);
    return true;
}

static inline bool DS(list_contains)(DS(list) * l, DS_CTX *c, uint64_t key) {
    (void)c;
    DS_ENTER(c);
    DS(node) * *prev, *cur;
    bool found = DS(list_find)(l, c, key, &prev, &cur);
    DS_EXIT(c);
    return found;
}

#undef DS_MARKED
#undef DS_UNMARK
#undef DS_MARK

/* The parameters are this instantiation's: undefine them for the next one (DS_CTX stays). */
#undef DS
#undef DS_NODE_EXTRA
#undef DS_ALLOC
#undef DS_FREE
#undef DS_ENTER
#undef DS_EXIT
#undef DS_LOAD
#undef DS_RETIRE

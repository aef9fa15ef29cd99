/* SPDX-License-Identifier: MIT */
/* tests/alloc/test_alloc_faults.c - fault-injection sweep.
 *
 * A symbol table (hash table with chained entries: entries from a pool, key
 * strings from an arena, the bucket array straight from the allocator,
 * regrown as it fills) and a binary search tree (nodes from a pool, labels
 * from an arena) are built and torn down over a failing allocator. A first
 * run counts the allocation attempts; then the build is rerun once per
 * attempt with exactly that one failing. Every run must report the failure,
 * keep what it built consistent, and release everything.
 */
#include <alloy.h>
#include <stdio.h>

#include "cmocka_main.h"

/* ---- hash table ---------------------------------------------------------- */

typedef struct entry {
    const char *key;
    size_t key_len;
    long value;
    struct entry *next;
} entry;

typedef struct table {
    alloy_allocator a; /* bucket array */
    alloy_pool entries;
    alloy_arena keys;
    entry **buckets;
    size_t nbuckets, count;
} table;

static uint64_t hash_key(const char *s, size_t n) {
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static void table_init(table *t, alloy_allocator a) {
    memset(t, 0, sizeof *t);
    t->a = a;
    assert_true(alloy_pool_init(&t->entries, a, sizeof(entry), _Alignof(entry)));
    alloy_arena_options opt = {256, 1024, 0}; /* small chunks: more allocation sites */
    alloy_arena_init_ex(&t->keys, a, &opt);
}

static void table_deinit(table *t) {
    ALLOY_DELETE_ARRAY(t->a, entry *, t->buckets, t->nbuckets);
    alloy_pool_deinit(&t->entries);
    alloy_arena_deinit(&t->keys);
}

static bool table_grow(table *t) {
    size_t n = t->nbuckets ? t->nbuckets * 2 : 8;
    entry **b = ALLOY_NEW_ARRAY(t->a, entry *, n);
    if (b == NULL) return false;
    memset(b, 0, n * sizeof *b);
    for (size_t i = 0; i < t->nbuckets; i++)
        for (entry *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            size_t j = hash_key(e->key, e->key_len) & (n - 1);
            e->next = b[j];
            b[j] = e;
        }
    ALLOY_DELETE_ARRAY(t->a, entry *, t->buckets, t->nbuckets);
    t->buckets = b;
    t->nbuckets = n;
    return true;
}

/* Insert or update; false (table unchanged) when memory runs out. */
static bool table_put(table *t, const char *key, long value) {
    size_t len = strlen(key);
    if (t->nbuckets != 0) {
        for (entry *e = t->buckets[hash_key(key, len) & (t->nbuckets - 1)]; e; e = e->next)
            if (e->key_len == len && memcmp(e->key, key, len) == 0) {
                e->value = value;
                return true;
            }
    }
    if ((t->count + 1) * 4 > t->nbuckets * 3 && !table_grow(t)) return false;
    char *k = alloy_arena_alloc(&t->keys, len + 1, 1);
    if (k == NULL) return false;
    entry *e = alloy_pool_alloc(&t->entries);
    if (e == NULL) {
        alloy_arena_free(&t->keys, k, len + 1); /* undo: the key was the latest block */
        return false;
    }
    memcpy(k, key, len + 1);
    *e = (entry){k, len, value, NULL};
    size_t i = hash_key(key, len) & (t->nbuckets - 1);
    e->next = t->buckets[i];
    t->buckets[i] = e;
    t->count++;
    return true;
}

static const entry *table_get(const table *t, const char *key) {
    size_t len = strlen(key);
    if (t->nbuckets == 0) return NULL;
    for (entry *e = t->buckets[hash_key(key, len) & (t->nbuckets - 1)]; e; e = e->next)
        if (e->key_len == len && memcmp(e->key, key, len) == 0) return e;
    return NULL;
}

/* Build a table of n keys; false at the first failure, with the table consistent. */
static bool build_table(table *t, int n) {
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "symbol-%d-%s", i, i % 3 ? "local" : "a-longer-global-name");
        if (!table_put(t, key, i)) {
            /* Everything inserted so far is still there. */
            for (int j = 0; j < i; j++) {
                snprintf(key, sizeof key, "symbol-%d-%s", j,
                         j % 3 ? "local" : "a-longer-global-name");
                const entry *e = table_get(t, key);
                assert_non_null(e);
                assert_int_equal(e->value, j);
            }
            return false;
        }
    }
    return true;
}

/* ---- tree ---------------------------------------------------------------- */

typedef struct tnode {
    long key;
    char *label;
    struct tnode *left, *right;
} tnode;

typedef struct tree {
    alloy_pool nodes;
    alloy_arena labels;
    tnode *root;
} tree;

static bool tree_insert(tree *t, long key) {
    tnode **at = &t->root;
    while (*at != NULL) at = key < (*at)->key ? &(*at)->left : &(*at)->right;
    tnode *n = alloy_pool_alloc(&t->nodes);
    if (n == NULL) return false;
    char buf[48];
    int len = snprintf(buf, sizeof buf, "node %ld", key);
    n->label = alloy_arena_alloc(&t->labels, (size_t)len + 1, 1);
    if (n->label == NULL) {
        alloy_pool_free(&t->nodes, n);
        return false;
    }
    memcpy(n->label, buf, (size_t)len + 1);
    n->key = key;
    n->left = n->right = NULL;
    *at = n;
    return true;
}

static size_t tree_check(const tnode *n, long lo, long hi) {
    if (n == NULL) return 0;
    assert_true(n->key >= lo && n->key <= hi);
    char buf[48];
    snprintf(buf, sizeof buf, "node %ld", n->key);
    assert_string_equal(n->label, buf);
    return 1 + tree_check(n->left, lo, n->key - 1) + tree_check(n->right, n->key, hi);
}

static bool build_tree(tree *t, alloy_allocator a, int n) {
    memset(t, 0, sizeof *t);
    assert_true(alloy_pool_init(&t->nodes, a, sizeof(tnode), _Alignof(tnode)));
    alloy_arena_options opt = {256, 512, 0};
    alloy_arena_init_ex(&t->labels, a, &opt);
    long x = 12345;
    for (int i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) & 0x7fffffff;
        if (!tree_insert(t, x % 100000)) return false;
    }
    return true;
}

static size_t tree_teardown(tree *t) {
    size_t count = tree_check(t->root, 0, 100000);
    alloy_pool_deinit(&t->nodes);
    alloy_arena_deinit(&t->labels);
    return count;
}

/* ---- the sweep ----------------------------------------------------------- */

typedef struct rig {
    alloy_tally tally; /* proves nothing leaks */
    alloy_failing failing;
    alloy_allocator a;
} rig;

static void rig_init(rig *r) {
    alloy_tally_init(&r->tally, alloy_heap());
    alloy_failing_init(&r->failing, alloy_tally_allocator(&r->tally));
    r->a = alloy_failing_allocator(&r->failing);
}

static void assert_nothing_live(rig *r, uint64_t run) {
    alloy_tally_report rep;
    alloy_tally_stats_get(&r->tally, &rep);
    if (rep.totals.current_count != 0)
        fail_msg("run %llu: %llu blocks leaked", (unsigned long long)run,
                 (unsigned long long)rep.totals.current_count);
}

enum { KEYS = 300, NODES = 400 };

static void sweep_hash_table(void **state) {
    (void)state;
    rig r;
    rig_init(&r);
    table t;
    alloy_failing_fail_none(&r.failing);
    table_init(&t, r.a);
    assert_true(build_table(&t, KEYS));
    assert_int_equal(t.count, KEYS);
    table_deinit(&t);
    uint64_t n = alloy_failing_attempts(&r.failing);
    assert_nothing_live(&r, 0);
    assert_true(n >= 10); /* buckets, slabs and chunks: a real sweep */
    for (uint64_t i = 0; i < n; i++) {
        alloy_failing_fail_nth(&r.failing, i);
        table_init(&t, r.a);
        bool ok = build_table(&t, KEYS);
        if (ok)
            fail_msg("run %llu: build succeeded although allocation %llu failed",
                     (unsigned long long)i, (unsigned long long)i);
        assert_int_equal(alloy_failing_failures(&r.failing), 1);
        table_deinit(&t);
        assert_nothing_live(&r, i);
    }
    printf("hash table: %llu allocation sites swept\n", (unsigned long long)n);
}

static void sweep_tree(void **state) {
    (void)state;
    rig r;
    rig_init(&r);
    tree t;
    assert_true(build_tree(&t, r.a, NODES));
    assert_int_equal(tree_teardown(&t), NODES);
    uint64_t n = alloy_failing_attempts(&r.failing);
    assert_nothing_live(&r, 0);
    assert_true(n >= 5);
    for (uint64_t i = 0; i < n; i++) {
        alloy_failing_fail_nth(&r.failing, i);
        assert_false(build_tree(&t, r.a, NODES));
        assert_int_equal(alloy_failing_failures(&r.failing), 1);
        tree_teardown(&t);
        assert_nothing_live(&r, i);
    }
    printf("tree: %llu allocation sites swept\n", (unsigned long long)n);
}

/* Everything fails from some point on, or at random: still clean. */
static void sweep_persistent_and_random(void **state) {
    (void)state;
    rig r;
    rig_init(&r);
    table t;
    for (uint64_t from = 0; from < 40; from++) {
        alloy_failing_fail_from(&r.failing, from);
        table_init(&t, r.a);
        (void)build_table(&t, KEYS);
        table_deinit(&t);
        assert_nothing_live(&r, from);
    }
    for (uint64_t seed = 1; seed <= 50; seed++) {
        alloy_failing_fail_random(&r.failing, seed, 8);
        table_init(&t, r.a);
        (void)build_table(&t, KEYS);
        table_deinit(&t);
        tree tr;
        (void)build_tree(&tr, r.a, NODES);
        tree_teardown(&tr);
        assert_nothing_live(&r, seed);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sweep_hash_table),
    cmocka_unit_test(sweep_tree),
    cmocka_unit_test(sweep_persistent_and_random),
};

ALLOY_TEST_MAIN(tests)

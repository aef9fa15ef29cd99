/* SPDX-License-Identifier: MIT */
/* tests/profile/test_profile.c - the profiler through the public API: a program with known
 * allocations (sizes, threads, cross-thread frees, leaks at known lines) and the figures the
 * snapshot gives for it, in full mode exactly and in sampled mode within a stated error. */
#define _GNU_SOURCE
#include <alloy.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_main.h"

static alloy_profile_options opts(void) {
    alloy_profile_options o;
    alloy_profile_options_init(&o);
    o.timeline_ms = 0; /* no profiler thread: figures depend only on this test */
    return o;
}

static void start(alloy_profile_options o) {
    assert_true(alloy_profile_start(&o));
    assert_true(alloy_profile_running());
}

static const alloy_profile_thread *me_in(const alloy_profile_report *r, uint64_t tid) {
    for (size_t i = 0; i < r->nthreads; i++)
        if (r->threads[i].tid == tid) return &r->threads[i];
    return NULL;
}

static uint64_t bucket_count(const alloy_profile_report *r, uint64_t size) {
    for (size_t i = 0; i < r->nsize_buckets; i++)
        if (r->size_buckets[i].lo <= size && size <= r->size_buckets[i].hi)
            return r->size_buckets[i].count;
    return 0;
}

static void counts_and_sizes(void **state) {
    (void)state;
    start(opts());
    void *a[300];
    for (int i = 0; i < 100; i++) a[i] = alloy_malloc(24);
    for (int i = 100; i < 300; i++) a[i] = alloy_malloc(1000);
    void *big = alloy_malloc(100000);
    alloy_profile_report r;
    assert_true(alloy_profile_snapshot(&r));
    assert_string_equal(r.schema, "alloy-profile/1");
    assert_string_equal(r.mode, "full");
    assert_int_equal(r.alloc_count, 301);
    assert_int_equal(r.alloc_bytes, 100 * 24 + 200 * 1000 + 100000);
    assert_true(r.alloc_usable_bytes >= r.alloc_bytes);
    assert_int_equal(r.current_count, 301);
    assert_int_equal(r.current_bytes, r.alloc_usable_bytes);
    assert_int_equal(r.peak_bytes, r.current_bytes);
    uint64_t peak = r.peak_bytes;
    assert_int_equal(bucket_count(&r, 24), 100);
    assert_int_equal(bucket_count(&r, 1000), 200);
    assert_int_equal(bucket_count(&r, 100000), 1);
    assert_true(r.ntop_sizes >= 3);
    assert_int_equal(r.top_sizes[0].size, 1000);
    assert_int_equal(r.top_sizes[0].count, 200);
    assert_int_equal(r.top_sizes[1].size, 24);
    assert_int_equal(r.top_sizes[2].size, 100000);
    assert_int_equal(r.alloc_latency.count, 301);
    assert_true(r.alloc_latency.p50_ns > 0 && r.alloc_latency.p50_ns <= r.alloc_latency.p99_ns);
    assert_true(r.alloc_latency.p999_ns <= r.alloc_latency.max_ns);
    alloy_profile_report_free(&r);
    for (int i = 0; i < 300; i++) alloy_free(a[i]);
    alloy_free_sized(big, 100000);
    assert_true(alloy_profile_snapshot(&r));
    assert_int_equal(r.free_count, 301);
    assert_int_equal(r.free_bytes, r.alloc_bytes); /* requested, from the records */
    assert_int_equal(r.current_bytes, 0);
    assert_int_equal(r.current_count, 0);
    assert_int_equal(r.peak_bytes, peak);
    assert_int_equal(r.free_latency.count, 301);
    assert_int_equal(r.leaked_count, 0);
    assert_int_equal(r.unknown_free_count, 0);
    alloy_profile_report_free(&r);
    alloy_profile_stop();
}

#define XT_BLOCKS 500
static void *xt_blocks[XT_BLOCKS];
static uint64_t xt_tid;

static void *xt_freer(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "freer");
    xt_tid = (uint64_t)gettid();
    for (int i = 0; i < 300; i++) alloy_free(xt_blocks[i]);
    void *mine = alloy_malloc(64);
    alloy_free(mine);
    return NULL;
}

static void cross_thread_matrix(void **state) {
    (void)state;
    start(opts());
    for (int i = 0; i < XT_BLOCKS; i++) xt_blocks[i] = alloy_malloc(48);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, xt_freer, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    for (int i = 300; i < XT_BLOCKS; i++) alloy_free(xt_blocks[i]);
    alloy_profile_report r;
    assert_true(alloy_profile_snapshot(&r));
    const alloy_profile_thread *main_t = me_in(&r, (uint64_t)gettid());
    const alloy_profile_thread *freer = me_in(&r, xt_tid);
    assert_non_null(main_t);
    assert_non_null(freer);
    assert_string_equal(freer->name, "freer");
    assert_true(freer->exited);
    assert_int_equal(main_t->alloc_count, XT_BLOCKS);
    assert_int_equal(main_t->free_count, XT_BLOCKS - 300);
    assert_int_equal(main_t->cross_thread_frees_sent, 300);
    assert_int_equal(main_t->cross_thread_frees_received, 0);
    assert_int_equal(freer->alloc_count, 1);
    assert_int_equal(freer->free_count, 301);
    assert_int_equal(freer->cross_thread_frees_received, 300);
    assert_int_equal(r.cross_matrix[freer->index * r.nthreads + main_t->index], 300);
    assert_int_equal(r.cross_matrix[main_t->index * r.nthreads + freer->index], 0);
    assert_int_equal(r.cross_thread_free_count, 300);
    alloy_profile_report_free(&r);
    alloy_profile_stop();
}

/* Two leak sites at known lines; the line numbers are checked in the symbolized stacks. */
static __attribute__((noinline)) void *leak_a(void) {
    return alloy_malloc(40); /* LEAK_A */
}
static __attribute__((noinline)) void *leak_b(void) {
    return alloy_malloc(400); /* LEAK_B */
}

static int line_of(const char *marker) {
    FILE *f = fopen(__FILE__, "r");
    if (f == NULL) return -1;
    char buf[512];
    int line = 0, found = -1;
    while (fgets(buf, sizeof buf, f) != NULL) {
        line++;
        if (strstr(buf, marker) != NULL && strstr(buf, "return alloy_") != NULL) found = line;
    }
    fclose(f);
    return found;
}

static bool site_has(const alloy_profile_leak_site *s, const char *func, int line) {
    for (size_t f = 0; f < s->nframes; f++)
        if (s->frames[f].function && strcmp(s->frames[f].function, func) == 0 &&
            s->frames[f].line == line)
            return true;
    return false;
}

static void leak_sites(void **state) {
    (void)state;
    alloy_profile_options o = opts();
    o.capture_stacks = true;
    start(o);
    void *keep[13];
    for (int i = 0; i < 10; i++) keep[i] = leak_a();
    for (int i = 10; i < 13; i++) keep[i] = leak_b();
    void *gone = alloy_malloc(8);
    alloy_free(gone);
    alloy_profile_report r;
    assert_true(alloy_profile_snapshot(&r));
    assert_false(r.leaks_estimated);
    assert_int_equal(r.leaked_count, 13);
    assert_int_equal(r.leaked_bytes, 10 * 40 + 3 * 400);
    assert_true(r.nleak_sites >= 2);
    /* Largest first: 3 x 400 before 10 x 40. */
    assert_int_equal(r.leak_sites[0].bytes, 1200);
    assert_int_equal(r.leak_sites[0].count, 3);
    assert_int_equal(r.leak_sites[1].bytes, 400);
    assert_int_equal(r.leak_sites[1].count, 10);
    assert_true(site_has(&r.leak_sites[0], "leak_b", line_of("LEAK_B")));
    assert_true(site_has(&r.leak_sites[1], "leak_a", line_of("LEAK_A")));
    alloy_profile_report_free(&r);
    for (int i = 0; i < 13; i++) alloy_free(keep[i]);
    alloy_profile_stop();
}

/* Sites reached through calloc, realloc and alloy_strdup (which enters the layer from inside
 * alloy, not by a tail jump from the call site: two such sites must stay apart) and one site
 * called from two functions: each reported at its own line, every block counted once, again
 * after the first blocks of each site were seen. */
static __attribute__((noinline)) void *leak_c(void) {
    return alloy_calloc(7, 10); /* LEAK_C */
}
static __attribute__((noinline)) void *leak_r(void *p) {
    return alloy_realloc(p, 300); /* LEAK_R */
}
static __attribute__((noinline)) void *leak_d1(void) {
    return alloy_strdup("0123456789"); /* LEAK_D1 */
}
static __attribute__((noinline)) void *leak_d2(void) {
    return alloy_strdup("01234567890123456789"); /* LEAK_D2 */
}
static __attribute__((noinline)) void *leak_s(size_t n) {
    return alloy_malloc(n); /* LEAK_S */
}
static __attribute__((noinline)) void *via_one(void) {
    return leak_s(24);
}
static __attribute__((noinline)) void *via_two(void) {
    return leak_s(24);
}

static const alloy_profile_leak_site *site_of_line(const alloy_profile_report *r, const char *func,
                                                   int line) {
    for (size_t i = 0; i < r->nleak_sites; i++)
        if (r->leak_sites[i].nframes > 0 && r->leak_sites[i].frames[0].function &&
            strcmp(r->leak_sites[i].frames[0].function, func) == 0 &&
            r->leak_sites[i].frames[0].line == line)
            return &r->leak_sites[i];
    return NULL;
}

static void leak_sites_through_wrappers(void **state) {
    (void)state;
    alloy_profile_options o = opts();
    o.capture_stacks = true;
    start(o);
    void *keep[16];
    for (int round = 0; round < 2; round++) {
        keep[12 + round * 2] = leak_d1();
        keep[13 + round * 2] = leak_d2();
        keep[round * 6 + 0] = leak_c();
        keep[round * 6 + 1] = leak_r(alloy_malloc(8));
        keep[round * 6 + 2] = via_one();
        keep[round * 6 + 3] = via_two();
        keep[round * 6 + 4] = via_one();
        keep[round * 6 + 5] = leak_c();
        alloy_profile_report r;
        assert_true(alloy_profile_snapshot(&r));
        int n = round + 1;
        assert_int_equal(r.leaked_count, 8 * n);
        assert_int_equal(r.leaked_bytes, (uint64_t)n * (2 * 70 + 300 + 3 * 24 + 11 + 21));
        const alloy_profile_leak_site *c = site_of_line(&r, "leak_c", line_of("LEAK_C"));
        const alloy_profile_leak_site *re = site_of_line(&r, "leak_r", line_of("LEAK_R"));
        const alloy_profile_leak_site *sh = site_of_line(&r, "leak_s", line_of("LEAK_S"));
        assert_non_null(c);
        assert_non_null(re);
        assert_non_null(sh);
        assert_int_equal(c->count, 2 * n);
        assert_int_equal(c->bytes, 140 * n);
        assert_int_equal(re->count, n);
        assert_int_equal(re->bytes, 300 * n);
        assert_int_equal(sh->count, 3 * n); /* one site, whichever caller it was seen from */
        const alloy_profile_leak_site *d1 = site_of_line(&r, "leak_d1", line_of("LEAK_D1"));
        const alloy_profile_leak_site *d2 = site_of_line(&r, "leak_d2", line_of("LEAK_D2"));
        assert_non_null(d1);
        assert_non_null(d2);
        assert_int_equal(d1->count, n);
        assert_int_equal(d1->bytes, 11 * n);
        assert_int_equal(d2->count, n);
        assert_int_equal(d2->bytes, 21 * n);
        assert_true(sh->nframes >= 2 && sh->frames[1].function != NULL);
        assert_true(strcmp(sh->frames[1].function, "via_one") == 0 ||
                    strcmp(sh->frames[1].function, "via_two") == 0);
        alloy_profile_report_free(&r);
    }
    for (int i = 0; i < 16; i++) alloy_free(keep[i]);
    alloy_profile_stop();
}

static void unknown_frees_counted_apart(void **state) {
    (void)state;
    void *before = alloy_malloc(200);
    start(opts());
    alloy_free(before);
    alloy_profile_report r;
    assert_true(alloy_profile_snapshot(&r));
    assert_int_equal(r.unknown_free_count, 1);
    assert_true(r.unknown_free_bytes >= 200);
    assert_int_equal(r.free_count, 0);
    assert_int_equal(r.current_bytes, 0);
    alloy_profile_report_free(&r);
    alloy_profile_stop();
}

static void stop_passes_through_and_reset_zeroes(void **state) {
    (void)state;
    start(opts());
    void *p = alloy_malloc(10);
    alloy_profile_stop();
    assert_false(alloy_profile_running());
    void *q = alloy_malloc(10);
    alloy_free(q);
    alloy_profile_report r;
    assert_true(alloy_profile_snapshot(&r));
    assert_int_equal(r.alloc_count, 1); /* q was not seen */
    assert_int_equal(r.free_count, 0);
    alloy_profile_report_free(&r);
    alloy_profile_reset();
    assert_true(alloy_profile_snapshot(&r));
    assert_int_equal(r.alloc_count, 0);
    assert_int_equal(r.nsize_buckets, 0);
    alloy_profile_report_free(&r);
    alloy_free(p);
    /* Started twice: EBUSY; bad options: EINVAL. */
    start(opts());
    alloy_profile_options o = opts();
    errno = 0;
    assert_false(alloy_profile_start(&o));
    assert_int_equal(errno, EBUSY);
    alloy_profile_stop();
    o.stack_depth = 0;
    errno = 0;
    assert_false(alloy_profile_start(&o));
    assert_int_equal(errno, EINVAL);
    assert_false(alloy_profile_snapshot(NULL));
    assert_int_equal(errno, EINVAL);
}

/* Sampled mode: 20000 leaked blocks of 1 KiB at a 64 KiB mean interval (p = 1.55%, about 310
 * sampled blocks, standard error 5.7%): the estimate is within 25% (over 4 standard errors)
 * in each of 5 runs, and counters stay exact. */
static void sampled_estimates(void **state) {
    (void)state;
    enum { N = 20000, SIZE = 1024 };
    void **blocks = malloc(N * sizeof *blocks);
    assert_non_null(blocks);
    for (int run = 0; run < 5; run++) {
        alloy_profile_options o = opts();
        o.sample_bytes = 64 * 1024;
        o.latency_every = 7;
        start(o);
        for (int i = 0; i < N; i++) blocks[i] = alloy_malloc(SIZE);
        alloy_profile_report r;
        assert_true(alloy_profile_snapshot(&r));
        assert_string_equal(r.mode, "sampled");
        assert_true(r.leaks_estimated);
        assert_int_equal(r.alloc_count, N);
        assert_int_equal(r.alloc_bytes, (uint64_t)N * SIZE);
        /* 1 call in 7 timed (the countdown runs across allocations and frees). */
        assert_in_range(r.alloc_latency.count, N / 7, N / 7 + 1);
        double est = (double)r.leaked_bytes;
        double want = (double)N * SIZE;
        assert_true(est > 0.75 * want && est < 1.25 * want);
        alloy_profile_report_free(&r);
        for (int i = 0; i < N; i++) alloy_free(blocks[i]);
        assert_true(alloy_profile_snapshot(&r));
        assert_int_equal(r.current_bytes, 0);
        assert_int_equal(r.leaked_count, 0);
        alloy_profile_report_free(&r);
        alloy_profile_stop();
    }
    free(blocks);
}

/* Started in code with no profiler thread (timeline_ms 0), then fork: the child's figures are
 * its own from the fork, its parent's live blocks counted apart as inherited. The fork
 * handlers must exist from the start, not from the thread's. */
static void fork_without_thread(void **state) {
    (void)state;
    start(opts());
    void *kept[10];
    for (int i = 0; i < 10; i++) kept[i] = alloy_malloc(64);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alloy_free(kept[0]); /* inherited: not in free_count */
        void *own = alloy_malloc(32);
        alloy_profile_report r;
        int bad = 0;
        if (!alloy_profile_snapshot(&r)) _exit(99);
        bad |= (r.alloc_count != 1) << 0;
        bad |= (r.free_count != 0) << 1;
        bad |= (r.inherited.count != 10) << 2;
        bad |= (r.inherited.freed_count != 1) << 3;
        bad |= (r.inherited.leaked_count != 9) << 4;
        bad |= (r.leaked_count != 1) << 5; /* own: the 32-byte block */
        bad |= (r.parent_pid != (uint64_t)getppid()) << 6;
        alloy_profile_report_free(&r);
        alloy_free(own);
        _exit(bad);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0); /* bit k set: check k above failed in the child */
    alloy_profile_report r;
    assert_true(alloy_profile_snapshot(&r)); /* the parent's figures go on */
    assert_int_equal(r.alloc_count, 10);
    assert_int_equal(r.inherited.count, 0);
    alloy_profile_report_free(&r);
    for (int i = 0; i < 10; i++) alloy_free(kept[i]);
    alloy_profile_stop();
}

static void writers_reject_bad_arguments(void **state) {
    (void)state;
    errno = 0;
    assert_false(alloy_profile_write(NULL, NULL, ALLOY_PROFILE_JSON));
    assert_int_equal(errno, EINVAL);
    assert_false(alloy_profile_write(stdout, NULL, (alloy_profile_format)9));
    assert_int_equal(errno, EINVAL);
    assert_false(alloy_profile_write_path("", NULL, ALLOY_PROFILE_JSON, false));
    assert_int_equal(errno, EINVAL);
    /* No clobbering without overwrite, and never through a symlink. */
    char dir[] = "/tmp/alloy_profile_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], link_path[256], target[256];
    snprintf(path, sizeof path, "%s/p.json", dir);
    snprintf(link_path, sizeof link_path, "%s/l.json", dir);
    snprintf(target, sizeof target, "%s/target", dir);
    start(opts());
    assert_true(alloy_profile_write_path(path, NULL, ALLOY_PROFILE_JSON, false));
    errno = 0;
    assert_false(alloy_profile_write_path(path, NULL, ALLOY_PROFILE_JSON, false));
    assert_int_equal(errno, EEXIST);
    assert_true(alloy_profile_write_path(path, NULL, ALLOY_PROFILE_CSV, true));
    FILE *t = fopen(target, "w");
    assert_non_null(t);
    fputs("keep", t);
    fclose(t);
    assert_int_equal(symlink(target, link_path), 0);
    errno = 0;
    assert_false(alloy_profile_write_path(link_path, NULL, ALLOY_PROFILE_JSON, false));
    assert_int_equal(errno, EEXIST);
    t = fopen(target, "r");
    char buf[16] = {0};
    assert_non_null(fgets(buf, sizeof buf, t));
    fclose(t);
    assert_string_equal(buf, "keep");
    alloy_profile_stop();
    unlink(path);
    unlink(link_path);
    unlink(target);
    rmdir(dir);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_and_sizes),
        cmocka_unit_test(cross_thread_matrix),
        cmocka_unit_test(leak_sites),
        cmocka_unit_test(leak_sites_through_wrappers),
        cmocka_unit_test(unknown_frees_counted_apart),
        cmocka_unit_test(stop_passes_through_and_reset_zeroes),
        cmocka_unit_test(sampled_estimates),
        cmocka_unit_test(fork_without_thread),
        cmocka_unit_test(writers_reject_bad_arguments),
    };
    return alloy_test_run(__FILE__, tests, sizeof tests / sizeof tests[0], argc, argv);
}

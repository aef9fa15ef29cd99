/* SPDX-License-Identifier: MIT */
/* tests/link/test_no_hijack.c - linking alloy (shared or static) leaves the
 * process's malloc family to glibc, whatever backend serves alloy.
 *
 * Built twice (shared and static liballoy) and run once per backend. Every
 * backend is loaded before the checks, so a library that exported malloc into
 * the global scope would be caught.
 */
#define _GNU_SOURCE
#include <alloy.h>

#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_main.h"

static void load_every_backend(void) {
    char list[64];
    snprintf(list, sizeof list, "%s", alloy_backend_list());
    for (char *save = NULL, *n = strtok_r(list, " ", &save); n; n = strtok_r(NULL, " ", &save))
        assert_true(alloy_backend_available(n));
}

static const char *defining_object(const char *sym) {
    void *addr = dlsym(RTLD_DEFAULT, sym);
    if (addr == NULL) return "(none)";
    Dl_info info;
    assert_true(dladdr(addr, &info) != 0);
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

static void malloc_family_resolves_to_glibc(void **state) {
    (void)state;
    load_every_backend();
    const char *syms[] = {"malloc",      "free",           "calloc",
                          "realloc",     "posix_memalign", "aligned_alloc",
                          "memalign",    "valloc",         "malloc_usable_size",
                          "reallocarray"};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        const char *obj = defining_object(syms[i]);
        if (strncmp(obj, "libc.so", 7) != 0) fail_msg("%s resolves to %s, not glibc", syms[i], obj);
    }
}

static void cxx_operator_new_is_not_taken(void **state) {
    (void)state;
    load_every_backend();
    /* _Znwm/_ZdlPv: operator new/delete. This binary links libstdc++
     * (tests/link/CMakeLists.txt), which defines them; jemalloc's library
     * exports them too. They must stay libstdc++'s. */
    const char *syms[] = {"_Znwm", "_ZdlPv", "_Znam", "_ZdaPv", "_ZnwmSt11align_val_t", "_ZdlPvm"};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        const char *obj = defining_object(syms[i]);
        if (strncmp(obj, "libstdc++", 9) != 0) fail_msg("%s resolves to %s", syms[i], obj);
    }
}

static void backend_private_names_stay_local(void **state) {
    (void)state;
    load_every_backend();
    /* mimalloc and tcmalloc are loaded RTLD_LOCAL: not even their own names leak. */
    assert_null(dlsym(RTLD_DEFAULT, "mi_malloc"));
    assert_null(dlsym(RTLD_DEFAULT, "tc_malloc"));
}

/* Keeps the compiler from pairing up and deleting malloc/free calls. */
static void *volatile keep;

static void heaps_do_not_mix(void **state) {
    (void)state;
    load_every_backend();
    /* Plain malloc is served by glibc's heap: its in-use total grows. */
    struct mallinfo2 m0 = mallinfo2();
    keep = malloc(50000);
    struct mallinfo2 m1 = mallinfo2();
    assert_true(m1.uordblks + m1.hblkhd >= m0.uordblks + m0.hblkhd + 50000);
    free(keep);

    /* alloy's blocks come from glibc only if glibc is alloy's backend. */
    bool libc_backend = strcmp(alloy_backend_name(), "libc") == 0;
    m0 = mallinfo2();
    void *blocks[16];
    for (int i = 0; i < 16; i++) blocks[i] = alloy_malloc(4000);
    m1 = mallinfo2();
    size_t grew = (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd);
    if (libc_backend)
        assert_true(grew >= 16 * 4000);
    else
        assert_int_equal(grew, 0);
    for (int i = 0; i < 16; i++) alloy_free(blocks[i]);

    /* and glibc's blocks still work with glibc after all backends loaded */
    keep = strdup("glibc owns this");
    assert_true(malloc_usable_size(keep) >= 16);
    free(keep);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(malloc_family_resolves_to_glibc),
    cmocka_unit_test(cxx_operator_new_is_not_taken),
    cmocka_unit_test(backend_private_names_stay_local),
    cmocka_unit_test(heaps_do_not_mix),
};

ALLOY_TEST_MAIN(tests)

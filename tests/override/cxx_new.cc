// SPDX-License-Identifier: MIT
// tests/override/cxx_new.cc - every C++17 form of operator new/delete under
// liballoy-override: `cxx_new alloy` (preloaded) checks that they resolve to
// the override library and are counted by alloy; `cxx_new libstdc++` (no
// preload) that libstdc++ keeps them. Both check the failure contract.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

struct alloy_stats_view {
    uint64_t alloc_count, free_count, alloc_bytes, free_bytes, current_bytes, current_count,
        peak_bytes;
};

static const char *owner(const char *sym) {
    void *addr = dlsym(RTLD_DEFAULT, sym);
    Dl_info info;
    if (addr == nullptr || dladdr(addr, &info) == 0) return "(none)";
    const char *slash = std::strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

static int fails = 0;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #cond);                          \
            fails++;                                                                               \
        }                                                                                          \
    } while (0)

struct alignas(64) wide {
    char b[64];
};

static volatile size_t huge = SIZE_MAX / 2; // not a constant: no compile-time diagnosis

int main(int argc, char **argv) {
    bool under_alloy = argc > 1 && std::strcmp(argv[1], "alloy") == 0;
    const char *syms[] = {"_Znwm",
                          "_Znam",
                          "_ZnwmRKSt9nothrow_t",
                          "_ZnamRKSt9nothrow_t",
                          "_ZnwmSt11align_val_t",
                          "_ZnamSt11align_val_t",
                          "_ZnwmSt11align_val_tRKSt9nothrow_t",
                          "_ZnamSt11align_val_tRKSt9nothrow_t",
                          "_ZdlPv",
                          "_ZdaPv",
                          "_ZdlPvm",
                          "_ZdaPvm",
                          "_ZdlPvRKSt9nothrow_t",
                          "_ZdaPvRKSt9nothrow_t",
                          "_ZdlPvSt11align_val_t",
                          "_ZdaPvSt11align_val_t",
                          "_ZdlPvmSt11align_val_t",
                          "_ZdaPvmSt11align_val_t",
                          "_ZdlPvSt11align_val_tRKSt9nothrow_t",
                          "_ZdaPvSt11align_val_tRKSt9nothrow_t"};
    const char *want = under_alloy ? "liballoy-override" : "libstdc++";
    for (const char *s : syms)
        if (std::strncmp(owner(s), want, std::strlen(want)) != 0) {
            std::fprintf(stderr, "FAIL: %s resolves to %s, want %s\n", s, owner(s), want);
            fails++;
        }

    using stats_fn = bool (*)(alloy_stats_view *);
    stats_fn get = nullptr;
    if (under_alloy) {
        void *sym = dlsym(RTLD_DEFAULT, "alloy_stats_get");
        CHECK(sym != nullptr);
        std::memcpy(&get, &sym, sizeof get);
    }
    alloy_stats_view a{}, b{};
    if (get) CHECK(get(&a)); // ALLOY_STATS=1 in the test's environment

    // Every form, each freed with its matching delete.
    int *one = new int(7);
    int *arr = new int[100];
    int *nt = new (std::nothrow) int(3);
    int *nta = new (std::nothrow) int[10];
    wide *w = new wide;
    wide *wa = new wide[5];
    wide *wnt = new (std::nothrow) wide;
    void *raw = ::operator new(100, std::align_val_t(256));
    void *rawn = ::operator new[](100, std::align_val_t(128), std::nothrow);
    CHECK(one && arr && nt && nta && w && wa && wnt && raw && rawn);
    CHECK(reinterpret_cast<uintptr_t>(w) % 64 == 0 && reinterpret_cast<uintptr_t>(wa) % 64 == 0);
    CHECK(reinterpret_cast<uintptr_t>(raw) % 256 == 0);
    CHECK(reinterpret_cast<uintptr_t>(rawn) % 128 == 0);
    if (get) {
        CHECK(get(&b));
        CHECK(b.alloc_count - a.alloc_count == 9);
    }
    delete one;
    delete[] arr;
    ::operator delete(nt, std::nothrow);
    delete[] nta;
    delete w;
    delete[] wa;
    delete wnt;
    ::operator delete(raw, 100, std::align_val_t(256));
    ::operator delete[](rawn, std::align_val_t(128), std::nothrow);
    if (get) {
        CHECK(get(&b));
        CHECK(b.free_count - a.free_count == 9);
        CHECK(b.current_bytes == a.current_bytes);
    }

    // Failure: the throwing forms throw std::bad_alloc, the nothrow ones return null.
    bool threw = false;
    try {
        char *p = new char[huge];
        p[0] = 1;
        delete[] p;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
        void *p = ::operator new(huge, std::align_val_t(64));
        ::operator delete(p, std::align_val_t(64));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK(new (std::nothrow) char[huge] == nullptr);
    CHECK(::operator new(huge, std::align_val_t(64), std::nothrow) == nullptr);

    if (fails == 0) std::printf("cxx new/delete ok (%s)\n", want);
    return fails == 0 ? 0 : 1;
}

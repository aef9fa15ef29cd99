/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_replay_main.c - runs a fuzz target without libFuzzer (gcc
 * builds): on the files named on the command line, or on --random N inputs
 * made from a fixed seed, so every build gets a deterministic short run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../alloc/alloc_test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--random") == 0) {
        long n = atol(argv[2]);
        test_rng rng = {0x5eed5eed5eedu};
        static uint8_t buf[4096];
        for (long i = 0; i < n; i++) {
            size_t len = 1 + rng_below(&rng, sizeof buf);
            for (size_t j = 0; j < len; j++) buf[j] = (uint8_t)rng_next(&rng);
            LLVMFuzzerTestOneInput(buf, len);
        }
        printf("fuzz replay: %ld random inputs passed\n", n);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("fuzz replay: %d inputs passed\n", argc - 1);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/* tests/common/read_all.h - read a child's pipe to its end. */
#ifndef ALLOY_TEST_READ_ALL_H
#define ALLOY_TEST_READ_ALL_H

#include <stddef.h>
#include <unistd.h>

/* Read fd until end of file (or cap - 1 bytes) into buf, NUL-terminated; returns the length. */
static inline size_t read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
    buf[n] = '\0';
    return n;
}

#endif

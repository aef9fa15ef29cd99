/* SPDX-License-Identifier: MIT */
/* src/env.c - checked readers for ALLOY_* environment variables (see env.h).
 *
 * These run during initialization, possibly inside the first malloc of the process, so they
 * build their one line in a stack buffer and hand it to write(2) in one call.
 */
#include "env.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VALUE_MAX 64
#define PATH_VALUE_MAX 400 /* a value that names a file, and a dlerror() that names it again */

typedef struct line {
    char buf[1024];
    size_t len;
} line;

static void put(line *l, const char *s) {
    while (*s != '\0' && l->len < sizeof l->buf - 1) l->buf[l->len++] = *s++;
}

/* Printable ASCII as is, every other byte as \xHH: the line stays one line and cannot steer a
 * terminal. */
static void put_escaped(line *l, const char *s, size_t max) {
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    for (; s[i] != '\0' && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (l->len + 4 >= sizeof l->buf - 1) break;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            l->buf[l->len++] = (char)c;
        } else {
            l->buf[l->len++] = '\\';
            l->buf[l->len++] = 'x';
            l->buf[l->len++] = hex[c >> 4];
            l->buf[l->len++] = hex[c & 15];
        }
    }
    if (s[i] != '\0') put(l, "...");
}

/* "alloy: NAME=VALUE<verdict><why, escaped if why_max><close>; using USING_\n" in one write. */
static void say(const char *name, const char *value, size_t value_max, const char *verdict,
                const char *why, size_t why_max, const char *close, const char *using_) {
    line l = {.len = 0};
    put(&l, "alloy: ");
    put_escaped(&l, name, VALUE_MAX);
    put(&l, "=");
    put_escaped(&l, value != NULL ? value : "", value_max);
    put(&l, verdict);
    if (why_max != 0)
        put_escaped(&l, why, why_max);
    else
        put(&l, why);
    put(&l, close);
    put(&l, "; using ");
    put(&l, using_);
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}

void alloy__env_reject(const char *name, const char *value, const char *accepted,
                       const char *using_) {
    say(name, value, VALUE_MAX, " is not valid: accepted ", accepted, 0, "", using_);
}

void alloy__env_unavailable(const char *name, const char *value, const char *why,
                            const char *using_) {
    say(name, value, PATH_VALUE_MAX, " is unavailable (", why, PATH_VALUE_MAX, ")", using_);
}

/* Decimal, with a binary K/M/G suffix when the number is an exact multiple of one. */
static void put_size(line *l, size_t n) {
    static const char suffix[] = "\0KMG";
    int s = 0;
    while (s < 3 && n != 0 && (n & 1023) == 0) {
        n >>= 10;
        s++;
    }
    char digits[24];
    size_t i = sizeof digits;
    digits[--i] = '\0';
    if (s > 0) digits[--i] = suffix[s];
    do {
        digits[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    put(l, digits + i);
}

static bool parse_size(const char *v, size_t *out) {
    size_t n = 0;
    const char *p = v;
    if (*p < '0' || *p > '9') return false; /* no sign, no space, no empty number */
    for (; *p >= '0' && *p <= '9'; p++) {
        if (__builtin_mul_overflow(n, (size_t)10, &n) ||
            __builtin_add_overflow(n, (size_t)(*p - '0'), &n))
            return false;
    }
    unsigned shift = 0;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case '\0':
        break;
    default:
        return false;
    }
    if (shift != 0) {
        if (p[1] != '\0') return false;
        if (n > (SIZE_MAX >> shift)) return false;
        n <<= shift;
    }
    *out = n;
    return true;
}

size_t alloy__env_size(const char *name, size_t def, size_t min, size_t max) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return def;
    size_t n;
    if (parse_size(v, &n) && n >= min && n <= max) return n;
    line acc = {.len = 0}, dflt = {.len = 0};
    put(&acc, "a number from ");
    put_size(&acc, min);
    put(&acc, " to ");
    put_size(&acc, max);
    put(&acc, " (suffix K, M or G allowed)");
    acc.buf[acc.len] = '\0';
    put_size(&dflt, def);
    dflt.buf[dflt.len] = '\0';
    alloy__env_reject(name, v, acc.buf, dflt.buf);
    return def;
}

static bool same_word(const char *a, const char *b) {
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char c = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        if (c != *b) return false;
    }
    return *a == '\0' && *b == '\0';
}

bool alloy__env_flag(const char *name, bool def) {
    static const char *const on[] = {"1", "on", "yes", "true"};
    static const char *const off[] = {"0", "off", "no", "false"};
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return def;
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        if (same_word(v, on[i])) return true;
        if (same_word(v, off[i])) return false;
    }
    alloy__env_reject(name, v, "1 or 0 (on/off, yes/no, true/false)", def ? "1" : "0");
    return def;
}

int alloy__env_choice(const char *name, const char *const *choices, int def) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return def;
    int n = 0;
    for (; choices[n] != NULL; n++)
        if (strcmp(v, choices[n]) == 0) return n;
    line acc = {.len = 0};
    for (int i = 0; i < n; i++) {
        if (i > 0) put(&acc, i == n - 1 ? " or " : ", ");
        put(&acc, choices[i]);
    }
    acc.buf[acc.len] = '\0';
    alloy__env_reject(name, v, acc.buf, def >= 0 && def < n ? choices[def] : "the default");
    return def;
}

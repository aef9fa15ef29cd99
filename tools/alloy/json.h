/* SPDX-License-Identifier: MIT */
/* json.h - a small JSON reader for profile files (a tree in one arena, read-only). */
#ifndef ALLOY_TOOLS_JSON_H
#define ALLOY_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { JS_NULL, JS_FALSE, JS_TRUE, JS_NUM, JS_STR, JS_ARR, JS_OBJ } js_type;

typedef struct js_value js_value;
struct js_value {
    js_type type;
    size_t n;          /* JS_ARR, JS_OBJ: elements; JS_STR: bytes */
    double num;        /* JS_NUM */
    uint64_t u;        /* JS_NUM: exact value of a non-negative integer literal, else 0 */
    const char *str;   /* JS_STR: NUL-terminated (may hold NUL bytes inside: n counts) */
    js_value *items;   /* JS_ARR, JS_OBJ: n values */
    const char **keys; /* JS_OBJ: n keys */
};

typedef struct js_doc {
    js_value *root;
    void *arena_;
} js_doc;

/* Parse text[0..len). \u00XX escapes of code points 0x80..0xFF become that byte (the profile
 * writers escape invalid UTF-8 bytes that way); other escapes become UTF-8. False with a
 * message in err (at least 128 bytes). */
bool js_parse(js_doc *d, const char *text, size_t len, char *err, size_t errlen);
void js_free(js_doc *d);

/* Member of an object (NULL if v is not an object or has no such key). */
const js_value *js_get(const js_value *v, const char *key);
/* Typed reads with a default when the member is missing or of another type. */
uint64_t js_u64(const js_value *obj, const char *key);
double js_num(const js_value *obj, const char *key);
const char *js_str(const js_value *obj, const char *key); /* NULL if not a string */
bool js_bool(const js_value *obj, const char *key);
/* Element i of an array, or NULL. */
const js_value *js_at(const js_value *arr, size_t i);

#endif /* ALLOY_TOOLS_JSON_H */

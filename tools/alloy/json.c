/* SPDX-License-Identifier: MIT */
/* json.c - a recursive-descent JSON reader (RFC 8259) with a depth limit, into one arena. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

typedef struct parser {
    const char *start, *s, *end;
    chunk *arena;
    char *err;
    size_t errlen;
    bool failed;
} parser;

static void *take(parser *p, size_t n) {
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    chunk *c = p->arena;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        chunk *nc = malloc(sizeof *nc + cap);
        if (nc == NULL) return NULL;
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        p->arena = c = nc;
    }
    void *r = (char *)c->data + c->used;
    c->used += n;
    return r;
}

static bool fail(parser *p, const char *what) {
    if (!p->failed) snprintf(p->err, p->errlen, "%s at byte %zu", what, (size_t)(p->s - p->start));
    p->failed = true;
    return false;
}

static void ws(parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int hex4(const char *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool string(parser *p, const char **out, size_t *outlen) {
    p->s++; /* opening quote */
    const char *q = p->s;
    while (q < p->end && *q != '"') q += (*q == '\\') ? 2 : 1;
    if (q >= p->end) return fail(p, "unterminated string");
    char *o = take(p, (size_t)(q - p->s) + 1);
    if (o == NULL) return fail(p, "out of memory");
    size_t n = 0;
    while (p->s < q) {
        unsigned char c = (unsigned char)*p->s++;
        if (c < 0x20) return fail(p, "control character in string");
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        char e = *p->s++;
        switch (e) {
        case '"':
            o[n++] = '"';
            break;
        case '\\':
            o[n++] = '\\';
            break;
        case '/':
            o[n++] = '/';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            if (q - p->s < 4) return fail(p, "bad \\u escape");
            int cp = hex4(p->s);
            if (cp < 0) return fail(p, "bad \\u escape");
            p->s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && q - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
                int lo = hex4(p->s + 2);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p->s += 6;
                }
            }
            if (cp >= 0x80 && cp <= 0xFF)
                o[n++] = (char)cp; /* a raw byte the writer escaped */
            else if (cp >= 0xD800 && cp < 0xE000)
                n += put_utf8(o + n, 0xFFFD);
            else
                n += put_utf8(o + n, (unsigned)cp);
            break;
        }
        default:
            return fail(p, "bad escape");
        }
    }
    o[n] = '\0';
    p->s = q + 1;
    *out = o;
    *outlen = n;
    return true;
}

static bool value(parser *p, js_value *v, int depth);

static bool number(parser *p, js_value *v) {
    const char *st = p->s;
    bool integer = true, neg = false;
    if (p->s < p->end && *p->s == '-') {
        neg = true;
        p->s++;
    }
    if (p->s >= p->end || *p->s < '0' || *p->s > '9') return fail(p, "bad number");
    uint64_t u = 0;
    bool overflow = false;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        unsigned d = (unsigned)(*p->s++ - '0');
        if (u > (UINT64_MAX - d) / 10) overflow = true;
        u = u * 10 + d;
    }
    if (p->s < p->end && *p->s == '.') {
        integer = false;
        p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return fail(p, "bad number");
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        integer = false;
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return fail(p, "bad number");
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    char buf[64];
    size_t l = (size_t)(p->s - st);
    if (l >= sizeof buf) l = sizeof buf - 1;
    memcpy(buf, st, l);
    buf[l] = '\0';
    v->type = JS_NUM;
    v->num = strtod(buf, NULL);
    if (!isfinite(v->num)) return fail(p, "number out of range");
    v->u =
        integer && !neg && !overflow ? u : (v->num > 0 && v->num < 1.8e19 ? (uint64_t)v->num : 0);
    return true;
}

static bool literal(parser *p, const char *word, js_type t, js_value *v) {
    size_t l = strlen(word);
    if ((size_t)(p->end - p->s) < l || memcmp(p->s, word, l) != 0) return fail(p, "bad literal");
    p->s += l;
    v->type = t;
    return true;
}

/* Elements go to a growing temporary array, then to the arena in one piece. */
static bool container(parser *p, js_value *v, int depth, bool obj) {
    p->s++;
    size_t n = 0, cap = 0;
    js_value *items = NULL;
    const char **keys = NULL;
    ws(p);
    char close = obj ? '}' : ']';
    bool ok = true;
    if (p->s < p->end && *p->s == close) {
        p->s++;
    } else {
        for (;;) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                js_value *ni = realloc(items, cap * sizeof *ni);
                const char **nk = obj ? realloc(keys, cap * sizeof *nk) : NULL;
                if (ni != NULL) items = ni;
                if (nk != NULL) keys = nk;
                if (ni == NULL || (obj && nk == NULL)) {
                    ok = fail(p, "out of memory");
                    break;
                }
            }
            ws(p);
            if (obj) {
                size_t kl;
                if (p->s >= p->end || *p->s != '"') {
                    ok = fail(p, "expected a key");
                    break;
                }
                if (!(ok = string(p, &keys[n], &kl))) break;
                ws(p);
                if (p->s >= p->end || *p->s != ':') {
                    ok = fail(p, "expected ':'");
                    break;
                }
                p->s++;
            }
            if (!(ok = value(p, &items[n], depth + 1))) break;
            n++;
            ws(p);
            if (p->s < p->end && *p->s == ',') {
                p->s++;
                continue;
            }
            if (p->s < p->end && *p->s == close) {
                p->s++;
                break;
            }
            ok = fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            break;
        }
    }
    if (ok) {
        v->type = obj ? JS_OBJ : JS_ARR;
        v->n = n;
        v->items = n ? take(p, n * sizeof *items) : NULL;
        v->keys = obj && n ? take(p, n * sizeof *keys) : NULL;
        if (n && (v->items == NULL || (obj && v->keys == NULL)))
            ok = fail(p, "out of memory");
        else if (n) {
            memcpy(v->items, items, n * sizeof *items);
            if (obj) memcpy(v->keys, keys, n * sizeof *keys);
        }
    }
    free(items);
    free(keys);
    return ok;
}

static bool value(parser *p, js_value *v, int depth) {
    memset(v, 0, sizeof *v);
    if (depth > MAX_DEPTH) return fail(p, "nested too deep");
    ws(p);
    if (p->s >= p->end) return fail(p, "unexpected end");
    switch (*p->s) {
    case '{':
        return container(p, v, depth, true);
    case '[':
        return container(p, v, depth, false);
    case '"':
        v->type = JS_STR;
        return string(p, &v->str, &v->n);
    case 't':
        return literal(p, "true", JS_TRUE, v);
    case 'f':
        return literal(p, "false", JS_FALSE, v);
    case 'n':
        return literal(p, "null", JS_NULL, v);
    default:
        return number(p, v);
    }
}

bool js_parse(js_doc *d, const char *text, size_t len, char *err, size_t errlen) {
    parser p = {.start = text, .s = text, .end = text + len, .err = err, .errlen = errlen};
    *d = (js_doc){0};
    js_value *root = take(&p, sizeof *root);
    bool ok = root != NULL ? value(&p, root, 0) : fail(&p, "out of memory");
    if (ok) {
        ws(&p);
        if (p.s != p.end) ok = fail(&p, "trailing data");
    }
    d->arena_ = p.arena;
    d->root = ok ? root : NULL;
    if (!ok) js_free(d);
    return ok;
}

void js_free(js_doc *d) {
    for (chunk *c = d->arena_, *n; c != NULL; c = n) {
        n = c->next;
        free(c);
    }
    *d = (js_doc){0};
}

const js_value *js_get(const js_value *v, const char *key) {
    if (v == NULL || v->type != JS_OBJ) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

uint64_t js_u64(const js_value *obj, const char *key) {
    const js_value *v = js_get(obj, key);
    return v != NULL && v->type == JS_NUM ? v->u : 0;
}

double js_num(const js_value *obj, const char *key) {
    const js_value *v = js_get(obj, key);
    return v != NULL && v->type == JS_NUM ? v->num : 0.0;
}

const char *js_str(const js_value *obj, const char *key) {
    const js_value *v = js_get(obj, key);
    return v != NULL && v->type == JS_STR ? v->str : NULL;
}

bool js_bool(const js_value *obj, const char *key) {
    const js_value *v = js_get(obj, key);
    return v != NULL && v->type == JS_TRUE;
}

const js_value *js_at(const js_value *arr, size_t i) {
    return arr != NULL && arr->type == JS_ARR && i < arr->n ? &arr->items[i] : NULL;
}

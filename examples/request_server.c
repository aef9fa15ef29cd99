/* SPDX-License-Identifier: MIT */
/* examples/request_server.c - allocators as values in a request loop.
 *
 * A toy server handles a batch of text requests. Each request gets an arena:
 * everything parsed or built for it is bump-allocated and released at once
 * when the request is done. Sessions outlive requests; they are fixed-size
 * nodes from a pool. Log lines are formatted in the temp allocator inside
 * ALLOY_WITH_TEMP, which rewinds it afterwards. A helper that knows nothing
 * about arenas allocates through alloy_current(), which ALLOY_WITH points at
 * the request's arena. A tally under the arena and the pool shows what they
 * took from the heap, and that all of it came back.
 */
#include <alloy.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct header {
    const char *name, *value;
    struct header *next;
} header;

typedef struct request {
    const char *method, *path;
    header *headers;
} request;

typedef struct session {
    char user[32];
    unsigned hits;
    struct session *next;
} session;

static alloy_pool sessions_pool;
static session *sessions;

/* A "library" helper: allocates from whatever the caller made current. */
static char *join3(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = alloy_alloc(alloy_current(), n, 1);
    if (s != NULL) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static char *copy_span(alloy_arena *a, const char *s, size_t n) {
    char *p = alloy_arena_alloc(a, n + 1, 1);
    if (p == NULL) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* "GET /path\nName: value\n..." -> request, every string in the arena. */
static request *parse(alloy_arena *a, const char *text) {
    request *r = ALLOY_NEW(alloy_arena_allocator(a), request);
    if (r == NULL) return NULL;
    const char *sp = strchr(text, ' '), *nl = strchr(text, '\n');
    if (sp == NULL || nl == NULL || sp > nl) return NULL;
    r->method = copy_span(a, text, (size_t)(sp - text));
    r->path = copy_span(a, sp + 1, (size_t)(nl - sp - 1));
    r->headers = NULL;
    for (const char *line = nl + 1; *line != '\0';) {
        const char *end = strchr(line, '\n'), *colon = strchr(line, ':');
        if (end == NULL) end = line + strlen(line);
        if (colon != NULL && colon < end) {
            header *h = ALLOY_NEW(alloy_arena_allocator(a), header);
            if (h == NULL) return NULL;
            h->name = copy_span(a, line, (size_t)(colon - line));
            h->value = copy_span(a, colon + 2, (size_t)(end - colon - 2));
            h->next = r->headers;
            r->headers = h;
        }
        line = *end ? end + 1 : end;
    }
    return r;
}

static session *find_session(const char *user) {
    for (session *s = sessions; s != NULL; s = s->next)
        if (strcmp(s->user, user) == 0) return s;
    session *s = alloy_pool_alloc(&sessions_pool);
    if (s == NULL) return NULL;
    snprintf(s->user, sizeof s->user, "%s", user);
    s->hits = 0;
    s->next = sessions;
    sessions = s;
    return s;
}

static const char *user_of(const request *r) {
    for (const header *h = r->headers; h != NULL; h = h->next)
        if (strcmp(h->name, "User") == 0) return h->value;
    return "anonymous";
}

static void log_line(const request *r, const char *status) {
    ALLOY_WITH_TEMP {
        /* Lower-case copy of the method, made in the temp arena and gone after the scope. */
        char *m = alloy_strdup_in(alloy_temp(), r->method);
        for (char *p = m; p != NULL && *p; p++) *p = (char)tolower((unsigned char)*p);
        printf("  %-4s %-12s -> %s\n", m ? m : "?", r->path, status);
    }
}

static void handle(alloy_arena *a, const char *text) {
    request *r = parse(a, text);
    if (r == NULL) {
        puts("  bad request");
        return;
    }
    const char *user = user_of(r);
    session *s = find_session(user);
    char hits[16];
    snprintf(hits, sizeof hits, "%u", s ? ++s->hits : 0);
    char *status;
    ALLOY_WITH(alloy_arena_allocator(a)) {
        status = join3("200 hello ", user, hits[0] == '1' && !hits[1] ? " (new)" : "");
    }
    log_line(r, status ? status : "500");
}

int main(void) {
    static const char *requests[] = {
        "GET /index\nUser: ada\nAccept: text/html\n",   "GET /about\nUser: grace\n",
        "POST /login\nUser: ada\nContent-Length: 12\n", "GET /index\n",
        "GET /stats\nUser: grace\nAccept: */*\n",       "BROKEN",
    };
    alloy_tally heap_use;
    alloy_tally_init(&heap_use, alloy_heap());
    alloy_allocator parent = alloy_tally_allocator(&heap_use);
    if (!alloy_pool_init(&sessions_pool, parent, sizeof(session), _Alignof(session))) return 1;
    alloy_arena arena;
    alloy_arena_init(&arena, parent, 1024);

    puts("handling requests:");
    for (int round = 0; round < 100; round++) {
        for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
            if (round == 0)
                handle(&arena, requests[i]);
            else { /* the same work quietly: the arena keeps its chunk between requests */
                request *r = parse(&arena, requests[i]);
                if (r != NULL) (void)find_session(user_of(r));
            }
            alloy_arena_reset(&arena, ALLOY_ARENA_RETAIN); /* the request is over */
        }
    }

    alloy_arena_stats as;
    alloy_arena_stats_get(&arena, &as);
    alloy_pool_stats ps;
    alloy_pool_stats_get(&sessions_pool, &ps);
    printf("\narena: %zu bytes committed in %zu chunk(s), reused by %d requests\n", as.committed,
           as.chunks, 100 * (int)(sizeof requests / sizeof requests[0]));
    printf("pool: %zu live sessions of %zu bytes, %zu slab(s)\n", ps.live, ps.block_size, ps.slabs);
    alloy_tally_print(&heap_use, "taken from the heap", stdout);

    for (session *s = sessions, *next; s != NULL; s = next) {
        next = s->next;
        alloy_pool_free(&sessions_pool, s);
    }
    alloy_arena_deinit(&arena);
    alloy_pool_deinit(&sessions_pool);
    alloy_temp_release();
    alloy_tally_report rep;
    alloy_tally_stats_get(&heap_use, &rep);
    printf("all memory returned: %s\n", rep.totals.current_count == 0 ? "yes" : "NO");
    return rep.totals.current_count == 0 ? 0 : 1;
}

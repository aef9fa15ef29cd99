/* SPDX-License-Identifier: MIT */
/* Memory that libc allocates for the caller keeps its free; the rest moves to alloy. */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *format(const char *fmt, ...) {
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *copy = strdup(s);
    free(s);
    return copy;
}

static int only_dots(const struct dirent *e) {
    return e->d_name[0] == '.';
}

int main(void) {
    static char input[] = "first line\nsecond line\nthird;part\n";
    FILE *in = fmemopen(input, sizeof input - 1, "r");
    if (in == NULL) return 1;
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, in) != -1) lines++;
    free(line);
    rewind(in);
    char *part = NULL;
    cap = 0;
    if (getdelim(&part, &cap, ';', in) < 0) return 1;
    printf("%d lines, first part %zu bytes\n", lines, strlen(part));
    free(part);
    fclose(in);

    /* A buffer that getline may grow with libc's realloc stays libc's too. */
    char *buf = malloc(4);
    size_t bufcap = 4;
    FILE *in2 = fmemopen(input, sizeof input - 1, "r");
    if (buf == NULL || in2 == NULL) return 1;
    if (getline(&buf, &bufcap, in2) < 0) return 1;
    printf("grown buffer holds %zu bytes\n", strlen(buf));
    free(buf);
    fclose(in2);

    char *msg;
    if (asprintf(&msg, "%s-%d", "asprintf", 42) < 0) return 1;
    char *copy = format("%s/%d", "vasprintf", 7);
    if (copy == NULL) return 1;
    printf("%s %s\n", msg, copy);
    free(msg);
    free(copy);

    char *here = realpath(".", NULL);
    char *cwd = getcwd(NULL, 0);
    if (here == NULL || cwd == NULL) return 1;
    printf("realpath matches getcwd: %d\n", strcmp(here, cwd) == 0);
    free(cwd);
    free(here);

    struct dirent **names;
    int n = scandir(".", &names, only_dots, alphasort);
    if (n < 0) return 1;
    printf("scandir found %d dot entries\n", n);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);

    char *stream_buf;
    size_t stream_len;
    FILE *s = open_memstream(&stream_buf, &stream_len);
    if (s == NULL) return 1;
    fprintf(s, "written to a memstream");
    fclose(s);
    printf("%s (%zu)\n", stream_buf, stream_len);
    free(stream_buf);

    printf("strerror is not freed: %d\n", strerror(2) != NULL);

    struct addrinfo hints = {.ai_family = AF_INET, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *ai;
    if (getaddrinfo("127.0.0.1", NULL, &hints, &ai) != 0) return 1;
    printf("getaddrinfo family %d\n", ai->ai_family == AF_INET);
    freeaddrinfo(ai);
    return 0;
}

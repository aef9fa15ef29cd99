/* SPDX-License-Identifier: MIT */
/* main.c - the alloy command: a dispatcher over the sub-commands of commands.h. */
#include "commands.h"

#include <alloy/config.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const cli_program = "alloy";

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

#define ALLOY_COMMAND_ROW(n, s) {#n, s, cmd_##n},
static const struct command commands[] = {ALLOY_COMMANDS(ALLOY_COMMAND_ROW)};
#undef ALLOY_COMMAND_ROW
#define N_COMMANDS (sizeof commands / sizeof commands[0])

bool cli_colour(FILE *f) {
    const char *no = getenv("NO_COLOR");
    if (no != NULL && *no != '\0') return false;
    const char *term = getenv("TERM");
    if (term != NULL && strcmp(term, "dumb") == 0) return false;
    return isatty(fileno(f)) == 1;
}

const char *cli_sgr(FILE *f, const char *s) {
    return cli_colour(f) ? s : "";
}

static void vline(const char *cmd, const char *fmt, va_list ap) {
    fputs(cli_program, stderr);
    if (cmd != NULL) fprintf(stderr, " %s", cmd);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = cli_vusage_error(cmd, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_vusage_error(const char *cmd, const char *fmt, va_list ap) {
    vline(cmd, fmt, ap);
    if (cmd != NULL)
        fprintf(stderr, "; try '%s %s --help'\n", cli_program, cmd);
    else
        fprintf(stderr, "; try '%s --help'\n", cli_program);
    return 2;
}

void cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(cmd, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const struct command *find(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static int usage(FILE *f) {
    const char *b = cli_sgr(f, "\033[1m"), *r = cli_sgr(f, "\033[0m");
    fprintf(f,
            "%susage:%s alloy [--help | --version] COMMAND [ARGS...]\n"
            "\n"
            "alloy %s: tools for the alloy memory-allocation toolkit.\n"
            "\n"
            "%scommands:%s\n",
            b, r, ALLOY_VERSION_STRING, b, r);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "show the help of a command");
    fprintf(f, "\n'alloy help COMMAND' or 'alloy COMMAND --help' shows what a command takes.\n"
               "Exit status: 0 success, 1 failure, 2 usage error; validate exits with its\n"
               "verdict instead (0 GO, 1 CONDITIONAL GO, 2 NO-GO) and 64 on a usage error.\n");
    return 0;
}

static int run(const struct command *c, int argc, char **argv) {
    int rc = c->run(argc, argv);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(c->name, "cannot write the output");
        return 1;
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) return cli_usage_error(NULL, "no command given");
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return usage(stdout);
    if (strcmp(a, "--version") == 0) {
        printf("alloy %s\n", ALLOY_VERSION_STRING);
        return 0;
    }
    if (strcmp(a, "help") == 0) {
        if (argc == 2) return usage(stdout);
        if (argc > 3) return cli_usage_error(NULL, "help takes one command name");
        const struct command *c = find(argv[2]);
        if (c == NULL) return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
        char *hargv[] = {(char *)c->name, "--help", NULL};
        return run(c, 2, hargv);
    }
    if (a[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", a);
    const struct command *c = find(a);
    if (c == NULL) return cli_usage_error(NULL, "unknown command '%s'", a);
    return run(c, argc - 1, argv + 1);
}

/* SPDX-License-Identifier: MIT */
/* migrate.c - alloy migrate: rewrite a C code base from malloc/free to alloy with Coccinelle. */
#include "commands.h"

#include <string.h>

static const char help[] =
    "usage: alloy migrate [--apply] [--report FILE] [--sized] PATH...\n"
    "\n"
    "Rewrite the malloc family of the C files under PATH to the alloy API with Coccinelle\n"
    "semantic patches. Prints a unified diff unless --apply is given.\n"
    "\n"
    "  --apply        write the changes into the files\n"
    "  --report FILE  write the sites left for review to FILE\n"
    "  --sized        turn free of a block of known size into alloy_free_sized\n"
    "  --help         show this help\n";

int cmd_migrate(int argc, char **argv) {
    int paths = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--report") == 0) {
            if (++i == argc) return cli_usage_error("migrate", "--report needs a file name");
        } else if (strcmp(argv[i], "--apply") != 0 && strcmp(argv[i], "--sized") != 0) {
            if (argv[i][0] == '-') return cli_usage_error("migrate", "unknown option");
            paths++;
        }
    }
    if (paths == 0) return cli_usage_error("migrate", "no PATH given");
    cli_error("migrate", "not implemented yet (issue 13)");
    return 1;
}

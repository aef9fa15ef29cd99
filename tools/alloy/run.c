/* SPDX-License-Identifier: MIT */
/* run.c - alloy run: a program under liballoy-override.so with the right environment. */
#include "commands.h"
#include "preload.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: alloy run [--backend NAME] [--debug] [--stats] [--] CMD [ARGS...]\n"
    "\n"
    "Run CMD with alloy's override library preloaded, so that every malloc, free and C++\n"
    "new/delete of CMD (and of the programs it runs) goes through alloy.\n"
    "\n"
    "  --backend NAME  serve the program from backend NAME (one of: %s)\n"
    "  --debug         the debug heap (ALLOY_DEBUG=1): leaks, double frees, overflows with stacks\n"
    "  --stats         exact counters (ALLOY_STATS=1); at exit one line says what is still live\n"
    "  -h, --help      show this help\n"
    "\n"
    "The child gets LD_PRELOAD (the library first, then what LD_PRELOAD held) and the static\n"
    "TLS room jemalloc needs (glibc.rtld.optional_static_tls=4096 added to GLIBC_TUNABLES).\n"
    "ALLOY_OVERRIDE_LIB=PATH picks another override library.\n"
    "\n"
    "Exit status: CMD's; 128+N if signal N ended it; 127 CMD not found; 126 CMD cannot be\n"
    "run; 2 usage error; 1 no override library.\n";

int cmd_run(int argc, char **argv) {
    const char *backend = NULL;
    bool debug = false, stats = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf(help, cli_backend_names());
            return 0;
        }
        if (strcmp(a, "--backend") == 0 || strncmp(a, "--backend=", 10) == 0) {
            if (a[9] == '=')
                backend = a + 10;
            else if (i + 1 < argc)
                backend = argv[++i];
            else
                return cli_usage_error("run", "--backend needs a name");
            if (!cli_backend_known(backend))
                return cli_usage_error("run", "unknown backend '%s' (this build has: %s)", backend,
                                       cli_backend_names());
            continue;
        }
        if (strcmp(a, "--debug") == 0) {
            debug = true;
            continue;
        }
        if (strcmp(a, "--stats") == 0) {
            stats = true;
            continue;
        }
        if (a[0] == '-') return cli_usage_error("run", "unknown option '%s'", a);
        break;
    }
    if (i >= argc) return cli_usage_error("run", "no command given");

    cli_env env;
    if (!cli_env_init(&env)) {
        cli_error("run", "out of memory");
        return 1;
    }
    int rc;
    if (!cli_env_alloy(&env, backend)) {
        cli_error("run", "cannot find %s (set ALLOY_OVERRIDE_LIB to its path)",
                  "liballoy-override.so");
        rc = 1;
    } else if ((debug && !cli_env_set(&env, "ALLOY_DEBUG", "1")) ||
               (stats && (!cli_env_set(&env, "ALLOY_STATS", "1") ||
                          !cli_env_set(&env, "ALLOY_LEAK_CHECK", "1")))) {
        cli_error("run", "out of memory");
        rc = 1;
    } else {
        fflush(stdout);
        rc = cli_child_run("run", argv + i, env.v, NULL, NULL, 0, NULL);
    }
    cli_env_free(&env);
    return rc;
}

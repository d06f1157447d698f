/* The leakwatch command's entry point: dispatches to the subcommand named on the command line. */
#include "cli.h"
#include "json_arena.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Every subcommand, in the order `leakwatch --help` lists them. A new one is one file and one line here. */
static const lwr_command_t *const commands[] = {
    &lwr_cmd_run,
    &lwr_cmd_report,
    &lwr_cmd_diff,
    &lwr_cmd_trend,
    &lwr_cmd_triage,
    &lwr_cmd_baseline,
    &lwr_cmd_dump,
    &lwr_cmd_attach,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const lwr_command_t *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void overview(FILE *out)
{
    fputs("Usage: leakwatch COMMAND [OPTIONS] [ARGS...]\n"
          "\n"
          "Finds the heap blocks, descriptors, sockets, threads and timers a program still holds at exit.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fputs("  help CMD   show the options of CMD\n"
          "\n"
          "Example: leakwatch run -- ./app --flag\n"
          "\n"
          "Exit status of run: the command's own status, 23 when it leaked more than --max-leaks allows,\n"
          "24 when some process could not be checked, 128+S when it was killed by signal S, 127/126 when\n"
          "it could not be found/executed, 125 when leakwatch itself failed, 2 on a usage error.\n"
          "\n"
          "Options: --help, --version\n",
          out);
}

int main(int argc, char **argv)
{
    /* jansson seeds its hash tables on first use: here, before any thread parses a dump (parallel.c); and its
     * memory comes from the arena while a dump's sites are parsed (json_arena.c) */
    json_object_seed(0);
    lwr_json_arena_install();
    if (argc < 2) {
        overview(stderr);
        return LWR_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        overview(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("leakwatch %s\n", LWR_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            overview(stdout);
            return 0;
        }
        const lwr_command_t *cmd = find(argv[2]);
        if (!cmd) {
            fprintf(stderr, "leakwatch: no command '%s'\nTry 'leakwatch --help'.\n", argv[2]);
            return LWR_EXIT_USAGE;
        }
        fputs(cmd->usage, stdout);
        return 0;
    }
    const lwr_command_t *cmd = find(name);
    if (!cmd) {
        fprintf(stderr, "leakwatch: %s '%s'\nTry 'leakwatch --help'.\n",
                name[0] == '-' ? "unknown option" : "no command", name);
        return LWR_EXIT_USAGE;
    }
    return cmd->main(argc - 1, argv + 1);
}

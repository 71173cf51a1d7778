/*
 * trace_cli.h - the `jcode-watcher trace` subcommand (see README, "Live
 * view"): a client of the running agent's TRACE_SOCKET.
 */
#ifndef JCW_TRACE_CLI_H
#define JCW_TRACE_CLI_H

/* argv[0] is "trace".  Returns the exit status: 0 (Ctrl-C, or stdout's
 * reader went away), 1 (no agent, or it went away), 2 (bad usage). */
int trace_cli_main(int argc, char **argv);

#endif

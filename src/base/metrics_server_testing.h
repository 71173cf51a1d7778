/*
 * metrics_server_testing.h - what tests of metrics_server.c look at or
 * reset; the agent never calls these.
 */
#ifndef JCW_METRICS_SERVER_TESTING_H
#define JCW_METRICS_SERVER_TESTING_H

#include "metrics_server.h"

/* Connections currently open, as the server counts them. */
int metrics_server_connections(const struct metrics_server *s);

/* Forget required and ready services and restore the default max age. */
void metrics_server_reset_state(void);

#endif

/*
 * trace_hub_testing.h - what tests of trace_hub.c look at; the agent never
 * calls these.
 */
#ifndef JCW_TRACE_HUB_TESTING_H
#define JCW_TRACE_HUB_TESTING_H

#include "trace_hub.h"

/* Clients connected now. */
int trace_hub_clients(const struct trace_hub *hub);

/* Bytes waiting for the client that has the most waiting. */
size_t trace_hub_buffered(const struct trace_hub *hub);

#endif

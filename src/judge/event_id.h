/*
 * event_id.h - ids that let the receiver drop duplicates (delivery is at
 * least once).
 *
 * A process is named by boot id, pid and start time: unique across nodes
 * and restarts, and the same id however often the record is replayed.
 * Other events (snapshots) take boot id, the agent's start time and a
 * counter.  The boot id is read once from /proc/sys/kernel/random/boot_id.
 */
#ifndef JCW_EVENT_ID_H
#define JCW_EVENT_ID_H

#include <stddef.h>

#include "process.h"

#define EVENT_ID_LEN 96

const char *event_boot_id(void);
void event_id_process(const struct process *p, char *buf, size_t len);
void event_id_unique(char *buf, size_t len);

#endif

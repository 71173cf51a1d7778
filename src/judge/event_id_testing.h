/*
 * event_id_testing.h - fixing event_id.c's inputs for tests and fuzzing only;
 * the agent reads the real boot id.
 */
#ifndef JCW_EVENT_ID_TESTING_H
#define JCW_EVENT_ID_TESTING_H

/* Use boot_id instead of /proc/sys/kernel/random/boot_id, so event ids
 * are known in advance. */
void event_set_boot_id(const char *boot_id);

#endif

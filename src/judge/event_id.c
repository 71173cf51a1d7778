/*
 * event_id.c - ids that let the receiver drop duplicates.
 */
#include "event_id.h"
#include "event_id_testing.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "loop.h"

static char boot_id[40];

void event_set_boot_id(const char *id)
{
	snprintf(boot_id, sizeof(boot_id), "%s", id);
}

const char *event_boot_id(void)
{
	FILE *f;

	if (boot_id[0])
		return boot_id;
	f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (!f || !fgets(boot_id, sizeof(boot_id), f))
		snprintf(boot_id, sizeof(boot_id), "noboot-%ld", (long)time(NULL));
	if (f)
		fclose(f);
	boot_id[strcspn(boot_id, "\n")] = '\0';
	return boot_id;
}

void event_id_process(const struct process *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%u-%llu", event_boot_id(), p->pid, p->start_time);
}

void event_id_unique(char *buf, size_t len)
{
	static long long started_ns;
	static unsigned long long seq;

	if (!started_ns)
		started_ns = loop_wall_ns();
	snprintf(buf, len, "%s-a%lld-%llu", event_boot_id(), started_ns, ++seq);
}

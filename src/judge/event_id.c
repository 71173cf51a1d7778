/*
 * event_id.c - ids that let the receiver drop duplicates.
 */
#define _GNU_SOURCE		/* stpcpy */
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

/* v in decimal at p; returns the end. */
static char *put_decimal(char *p, unsigned long long v)
{
	char tmp[20], *t = tmp + sizeof(tmp);
	size_t n;

	do {
		*--t = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}

/* "boot-pid-start", formatted by hand: snprintf was 1,500 instructions of
 * every run's cost.  Cut to len as snprintf would cut it. */
void event_id_process(const struct process *p, char *buf, size_t len)
{
	char id[sizeof(boot_id) + 1 + 10 + 1 + 20 + 1], *q;
	size_t n;

	q = stpcpy(id, event_boot_id());
	*q++ = '-';
	q = put_decimal(q, p->pid);
	*q++ = '-';
	q = put_decimal(q, p->start_time);
	if (!len)
		return;
	n = (size_t)(q - id) < len ? (size_t)(q - id) : len - 1;
	memcpy(buf, id, n);
	buf[n] = '\0';
}

void event_id_unique(char *buf, size_t len)
{
	static long long started_ns;
	static unsigned long long seq;

	if (!started_ns)
		started_ns = loop_wall_ns();
	snprintf(buf, len, "%s-a%lld-%llu", event_boot_id(), started_ns, ++seq);
}

/*
 * active_hosts.c - which student containers built or ran something lately,
 * for active_hosts_current.
 *
 * Called once per reported build/run (a hash lookup under a mutex) and read
 * by the metrics thread at each scrape, which is also where expired names
 * are freed.
 */
#include "active_hosts.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTS_MAX 65536
#define HOST_NAME_CAP 255

struct host {
	char *name;	/* NULL = empty slot */
	double last;
};

/* Open addressing, linear probing; guarded by hosts_lock. */
static struct {
	struct host *slot;
	size_t cap;
	size_t count;
} hosts;
static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;


static size_t host_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t host_find(const char *name)
{
	size_t i = host_hash(name) & (hosts.cap - 1);

	while (hosts.slot[i].name && strcmp(hosts.slot[i].name, name) != 0)
		i = (i + 1) & (hosts.cap - 1);
	return i;
}

static bool host_live(const struct host *h, double now_s)
{
	return now_s - h->last < ACTIVE_HOSTS_WINDOW_S;
}

/* Move the live entries into a table of cap slots; expired names are freed.
 * Rebuilding is simpler than deleting under linear probing, and runs only
 * when growing or when something expired. */
static int hosts_rebuild(size_t cap, double now_s)
{
	struct host *old = hosts.slot;
	size_t oldcap = hosts.cap, i;
	struct host *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -1;
	hosts.slot = slot;
	hosts.cap = cap;
	hosts.count = 0;
	for (i = 0; i < oldcap; i++) {
		if (!old[i].name)
			continue;
		if (!host_live(&old[i], now_s)) {
			free(old[i].name);
			continue;
		}
		slot[host_find(old[i].name)] = old[i];
		hosts.count++;
	}
	free(old);
	return 0;
}

void active_hosts_clear(void)
{
	size_t i;

	pthread_mutex_lock(&hosts_lock);
	for (i = 0; i < hosts.cap; i++)
		free(hosts.slot[i].name);
	free(hosts.slot);
	hosts.slot = NULL;
	hosts.cap = 0;
	hosts.count = 0;
	pthread_mutex_unlock(&hosts_lock);
}

/* Make room for one more host; called with hosts_lock held. */
static int hosts_reserve(double now_s)
{
	if (hosts.count >= HOSTS_MAX && hosts_rebuild(hosts.cap, now_s) < 0)
		return -1;
	if (hosts.count >= HOSTS_MAX)
		return -1;	/* 64k live hosts: the count saturates there */
	if ((hosts.count + 1) * 2 <= hosts.cap)
		return 0;
	return hosts_rebuild(hosts.cap ? hosts.cap * 2 : 64, now_s);
}

void active_host_seen(const char *hostname, double now_s)
{
	char name[HOST_NAME_CAP + 1];
	size_t i;

	if (!hostname || !*hostname)
		return;
	snprintf(name, sizeof(name), "%s", hostname);
	pthread_mutex_lock(&hosts_lock);
	if (hosts.cap) {
		i = host_find(name);
		if (hosts.slot[i].name) {
			if (now_s > hosts.slot[i].last)
				hosts.slot[i].last = now_s;
			goto out;
		}
	}
	if (hosts_reserve(now_s) < 0)
		goto out;
	i = host_find(name);
	hosts.slot[i].name = strdup(name);
	if (hosts.slot[i].name) {
		hosts.slot[i].last = now_s;
		hosts.count++;
	}
out:
	pthread_mutex_unlock(&hosts_lock);
}

long long active_hosts_count(double now_s)
{
	long long live = 0;
	size_t i;

	pthread_mutex_lock(&hosts_lock);
	for (i = 0; i < hosts.cap; i++)
		if (hosts.slot[i].name && host_live(&hosts.slot[i], now_s))
			live++;
	/* Scrapes are where expired hosts get freed. */
	if ((size_t)live < hosts.count)
		hosts_rebuild(hosts.cap, now_s);
	pthread_mutex_unlock(&hosts_lock);
	return live;
}

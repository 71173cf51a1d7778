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

#include "hashmap.h"

#define HOSTS_MAX 65536
#define HOST_NAME_CAP 255

struct host {
	struct hnode node;
	double last;
	char name[];
};

static struct hashmap hosts;	/* guarded by hosts_lock; no buckets until the first host */
static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;

static bool name_eq(const struct hnode *n, const void *name)
{
	return strcmp(hashmap_entry(n, struct host, node)->name, name) == 0;
}

static bool host_live(const struct host *h, double now_s)
{
	return now_s - h->last < ACTIVE_HOSTS_WINDOW_S;
}

/* Free the hosts that fell out of the window (all when now_s is +inf);
 * returns how many stay. */
static long long sweep(double now_s)
{
	struct hashmap_iter it;
	long long live = 0;

	for (struct hnode *n = hashmap_first(&hosts, &it); n; n = hashmap_next(&it)) {
		struct host *h = hashmap_entry(n, struct host, node);

		if (host_live(h, now_s)) {
			live++;
			continue;
		}
		hashmap_remove(&hosts, n);
		free(h);
	}
	return live;
}

void active_hosts_clear(void)
{
	pthread_mutex_lock(&hosts_lock);
	sweep(__builtin_inf());
	hashmap_fini(&hosts);
	pthread_mutex_unlock(&hosts_lock);
}

/* Room for one more host; called with hosts_lock held. */
static bool has_room(double now_s)
{
	if (!hosts.nbuckets && hashmap_init(&hosts) < 0)
		return false;
	/* 64k live hosts: the count saturates there until some expire. */
	return hosts.count < HOSTS_MAX || sweep(now_s) < HOSTS_MAX;
}

void active_host_seen(const char *hostname, double now_s)
{
	char name[HOST_NAME_CAP + 1];
	struct hnode *n;
	struct host *h;
	uint64_t hash;

	if (!hostname || !*hostname)
		return;
	snprintf(name, sizeof(name), "%s", hostname);
	hash = hashmap_hash_str(name);
	pthread_mutex_lock(&hosts_lock);
	n = hashmap_find(&hosts, hash, name_eq, name);
	if (n) {
		h = hashmap_entry(n, struct host, node);
		if (now_s > h->last)
			h->last = now_s;
	} else if (has_room(now_s) && (h = malloc(sizeof(*h) + strlen(name) + 1))) {
		strcpy(h->name, name);
		h->last = now_s;
		hashmap_add(&hosts, &h->node, hash);
	}
	pthread_mutex_unlock(&hosts_lock);
}

long long active_hosts_count(double now_s)
{
	long long live;

	/* Scrapes are where expired hosts get freed. */
	pthread_mutex_lock(&hosts_lock);
	live = sweep(now_s);
	pthread_mutex_unlock(&hosts_lock);
	return live;
}

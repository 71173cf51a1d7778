/*
 * hashmap.c - see hashmap.h.
 */
#define _GNU_SOURCE
#include "hashmap.h"
#include "hashmap_testing.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define INITIAL_BUCKETS 64

static uint64_t seed[2];

/* Before main(): every table of the process hashes with the same key, and
 * nothing can be hashed before it is set. */
__attribute__((constructor)) static void seed_init(void)
{
	struct timespec ts;

	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
		return;
	/* Early boot without entropy: weaker, but never a fixed key. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	seed[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)(uintptr_t)&ts;
}

void hashmap_set_seed(uint64_t k0, uint64_t k1)
{
	seed[0] = k0;
	seed[1] = k1;
}

/* ---- SipHash-1-3 (Aumasson and Bernstein), as Rust and Python use it ---- */

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t hashmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key, *end = p + (len & ~(size_t)7);
	uint64_t v0 = seed[0] ^ 0x736f6d6570736575ULL, v1 = seed[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = seed[0] ^ 0x6c7967656e657261ULL, v3 = seed[1] ^ 0x7465646279746573ULL;
	uint64_t m, last = (uint64_t)len << 56;

	for (; p != end; p += 8) {
		m = load_le64(p);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)p[i] << (8 * i);
	v3 ^= last;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---- */

int hashmap_init(struct hashmap *m)
{
	m->buckets = calloc(INITIAL_BUCKETS, sizeof(*m->buckets));
	m->nbuckets = m->buckets ? INITIAL_BUCKETS : 0;
	m->count = 0;
	return m->buckets ? 0 : -ENOMEM;
}

void hashmap_fini(struct hashmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

static struct hnode **bucket_of(const struct hashmap *m, uint64_t hash)
{
	return &m->buckets[hash & (m->nbuckets - 1)];
}

struct hnode *hashmap_find(const struct hashmap *m, uint64_t hash, hashmap_eq_fn *eq,
			   const void *key)
{
	if (!m->nbuckets)
		return NULL;
	for (struct hnode *n = *bucket_of(m, hash); n; n = n->next)
		if (n->hash == hash && eq(n, key))
			return n;
	return NULL;
}

/* Double the buckets; on ENOMEM keep the old ones (longer chains). */
static void grow(struct hashmap *m)
{
	size_t n = m->nbuckets * 2;
	struct hnode **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		while (m->buckets[i]) {
			struct hnode *x = m->buckets[i];

			m->buckets[i] = x->next;
			x->next = b[x->hash & (n - 1)];
			b[x->hash & (n - 1)] = x;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void hashmap_add(struct hashmap *m, struct hnode *n, uint64_t hash)
{
	struct hnode **b = bucket_of(m, hash);

	n->hash = hash;
	n->next = *b;
	*b = n;
	if (++m->count > m->nbuckets)
		grow(m);
}

void hashmap_remove(struct hashmap *m, struct hnode *n)
{
	struct hnode **p = bucket_of(m, n->hash);

	while (*p && *p != n)
		p = &(*p)->next;
	if (!*p)
		return;
	*p = n->next;
	n->next = NULL;
	m->count--;
}

/* The first node in bucket it->bucket or later, or NULL. */
static struct hnode *scan_from(struct hashmap_iter *it)
{
	for (; it->bucket < it->map->nbuckets; it->bucket++)
		if (it->map->buckets[it->bucket])
			return it->map->buckets[it->bucket];
	return NULL;
}

/* Remember the successor before handing out n, so n may be freed. */
static struct hnode *hand_out(struct hashmap_iter *it, struct hnode *n)
{
	if (!n)
		return NULL;
	it->next = n->next;
	if (!it->next) {
		it->bucket++;
		it->next = scan_from(it);
	}
	return n;
}

struct hnode *hashmap_first(const struct hashmap *m, struct hashmap_iter *it)
{
	it->map = m;
	it->bucket = 0;
	return hand_out(it, scan_from(it));
}

struct hnode *hashmap_next(struct hashmap_iter *it)
{
	return hand_out(it, it->next);
}

/*
 * hashmap.h - the agent's one hash table: intrusive, chained, growing.
 *
 * An entry embeds a struct hnode and is found again with hashmap_entry()
 * (container_of).  The table never allocates entries and never compares
 * keys itself: callers hash the key with hashmap_hash() and pass an
 * equality test, so one table serves strings, byte ranges and integers.
 *
 * Keys come from students (file names, hostnames), so the hash is keyed
 * with a per-process random seed: nobody can precompute names that all
 * land in one chain and turn every lookup into a scan.
 */
#ifndef JCW_HASHMAP_H
#define JCW_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct hashmap {
	struct hnode **buckets;
	size_t nbuckets;	/* a power of two */
	size_t count;
};

struct hashmap_iter {
	const struct hashmap *map;
	size_t bucket;
	struct hnode *next;
};

/* Does node n hold key? */
typedef bool hashmap_eq_fn(const struct hnode *n, const void *key);

#define hashmap_entry(node, type, member) \
	((type *)((char *)(node) - offsetof(type, member)))

/* SipHash-1-3 of key under the process's seed. */
uint64_t hashmap_hash(const void *key, size_t len);

static inline uint64_t hashmap_hash_str(const char *s)
{
	return hashmap_hash(s, strlen(s));
}

/* An empty table.  0, or -ENOMEM. */
int hashmap_init(struct hashmap *m);

/* Free the buckets; the entries are the caller's (empty it first). */
void hashmap_fini(struct hashmap *m);

struct hnode *hashmap_find(const struct hashmap *m, uint64_t hash, hashmap_eq_fn *eq,
			   const void *key);

/* Link n (not in any table) under hash.  Never fails: when the buckets
 * cannot grow, chains get longer and every operation stays correct. */
void hashmap_add(struct hashmap *m, struct hnode *n, uint64_t hash);

/* Unlink n, which must be in m. */
void hashmap_remove(struct hashmap *m, struct hnode *n);

/* Visit every node once, in no order.  The node returned last may be
 * removed (and freed) before asking for the next. */
struct hnode *hashmap_first(const struct hashmap *m, struct hashmap_iter *it);
struct hnode *hashmap_next(struct hashmap_iter *it);

#endif

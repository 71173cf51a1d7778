/*
 * hashmap_testing.h - a fixed hash key, for tests only; the agent's key
 * is random per process.
 */
#ifndef JCW_HASHMAP_TESTING_H
#define JCW_HASHMAP_TESTING_H

#include <stdint.h>

void hashmap_set_seed(uint64_t k0, uint64_t k1);

#endif

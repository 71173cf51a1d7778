/*
 * domain.h - the agent's domain types, shared by every stage.
 *
 * SPOOL FORMAT: enum service and enum endpoint_type are written to disk,
 * one byte each, in every spool record header (spool.c), and read back
 * after a restart, possibly by the next release.  Their values are part of
 * the on-disk format: never renumber or reorder them, or an old spool
 * replays its records to the wrong endpoint.  New values go at the end,
 * before __COUNT, with an explicit number.  tests/unit/test_domain.c pins
 * every value.
 */
#ifndef JCW_DOMAIN_H
#define JCW_DOMAIN_H

/* Which monitor a record comes from: the metrics' service="..." label. */
enum service {
	SERVICE_PROCMON = 0,	/* spool format */
	SERVICE_FILEMON = 1,	/* spool format */
	SERVICE__COUNT
};

/* Which API endpoint a record is posted to. */
enum endpoint_type {
	ENDPOINT_BUILD = 0,	/* spool format: .../logs/build */
	ENDPOINT_RUN = 1,	/* spool format: .../logs/run */
	ENDPOINT_SNAPSHOT = 2,	/* spool format: .../{file}/{timestamp} */
	ENDPOINT__COUNT
};

#endif

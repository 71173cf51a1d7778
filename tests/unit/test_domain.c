/*
 * test_domain.c - the values of the domain enums the spool writes to disk.
 *
 * A spool record stores its service and endpoint as one byte each; after an
 * upgrade the new release replays the old spool.  A renumbered enum would
 * send an old record to the wrong endpoint, so each value is pinned here
 * (test_spool.c replays a segment made byte by byte as the previous
 * release wrote it).
 */
#include "domain.h"

#include "testlib.h"

static void test_service_values(void)
{
	CHECK_INT(SERVICE_PROCMON, 0);
	CHECK_INT(SERVICE_FILEMON, 1);
	CHECK_INT(SERVICE__COUNT, 2);
}

static void test_endpoint_values(void)
{
	CHECK_INT(ENDPOINT_BUILD, 0);
	CHECK_INT(ENDPOINT_RUN, 1);
	CHECK_INT(ENDPOINT_SNAPSHOT, 2);
	CHECK_INT(ENDPOINT__COUNT, 3);
}

int main(void)
{
	RUN(test_service_values);
	RUN(test_endpoint_values);
	return TEST_DONE();
}

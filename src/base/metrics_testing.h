/*
 * metrics_testing.h - reading metrics back, for tests and benchmarks only.
 *
 * The agent itself never reads a series back: /metrics renders them all,
 * /healthz and /readyz keep their own state.  Under src/ only metrics.c,
 * which defines what is here, includes this header.
 */
#ifndef JCW_METRICS_TESTING_H
#define JCW_METRICS_TESTING_H

#include <math.h>

#include "metrics.h"

/* Read back one series: any rendered counter or gauge line, fixed or
 * generic, by name and labels in rendered order without service, e.g.
 * ("api_requests_total", "status_code=\"200\",endpoint_type=\"build\"").
 * Histogram _sum/_count/_bucket lines work too.  Renders everything, so not
 * for hot paths.  NAN when the series does not exist (never counted, or a
 * misspelt name or label): no assertion of a value can pass on it; test
 * absence with isnan(). */
double metrics_sample(enum service svc, const char *name, const char *labels);

/* Is name a metric the agent knows: described with metrics_describe() or
 * rendered now (under any labels or service)? */
bool metrics_known(const char *name);

/* Nothing counted: the series does not exist (a counter appears with its
 * first increment, a labelled one per label set) and name is known, so a
 * misspelt name is false.  The assertion for "none counted yet". */
bool metrics_none(enum service svc, const char *name, const char *labels);

#endif

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

/* Read back one series: any rendered counter or gauge line, by name and labels in rendered order without service, e.g.
 * ("api_requests_total", "status_code=\"200\",endpoint_type=\"build\"").
 * Histogram _sum/_count/_bucket lines work too.  Renders everything, so not
 * for hot paths.  NAN when the series does not exist (never counted, or a
 * misspelt name or label): no assertion of a value can pass on it; test
 * absence with isnan(). */
double metrics_sample(enum service svc, const char *name, const char *labels);

/* Is name a metric of the registry (a histogram's _bucket, _sum and
 * _count included)? */
bool metrics_known(const char *name);

/* Nothing counted in a sparse series (api_requests_total, the API latency
 * histogram, heartbeats: they appear with their first value): the series
 * does not exist and name is known, so a misspelt name is false. */
bool metrics_none(enum service svc, const char *name, const char *labels);

#endif

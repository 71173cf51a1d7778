/*
 * contract.h - the JCode Analytics API's validation, as its FastAPI models
 * do it: the path's student id is an integer, and each body carries the
 * contract's required fields with their types (/work/shared/contract).
 * Extra keys are allowed, as the backend ignores them.  The loopback
 * receiver runs it on every request when asked to (receiver_validate()).
 */
#ifndef JCW_CONTRACT_H
#define JCW_CONTRACT_H

#include <jansson.h>
#include <stddef.h>

/* 0 when the backend would take this request; -EINVAL with the reason in
 * why ("run: missing field process_type") when it would answer 422;
 * -ENOENT for a path that is none of the API's endpoints. */
int contract_check(const char *url, const char *body, char *why, size_t len);

/* The fields of a body (a JSON object) other than the stderr, diagnostics,
 * argv and resource extras of issue #12, which e2e_insight checks: what
 * the older tests count. */
size_t contract_fields_before_insight(const json_t *body);

#endif

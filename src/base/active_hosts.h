/*
 * active_hosts.h - distinct student hostnames with a build or run in the
 * last ACTIVE_HOSTS_WINDOW_S seconds (now_s - last_seen < window), the
 * active_hosts_current gauge.
 *
 * Times are metrics_now() seconds.  At most 65536 hosts are tracked; beyond
 * that, new hosts wait for old ones to expire.  Thread-safe: the pipeline
 * records, the metrics thread counts.
 */
#ifndef JCW_ACTIVE_HOSTS_H
#define JCW_ACTIVE_HOSTS_H

#define ACTIVE_HOSTS_WINDOW_S 600.0

void active_host_seen(const char *hostname, double now_s);
long long active_hosts_count(double now_s);
void active_hosts_clear(void);

#endif

/*
 * agent.h - drive the real jcode-watcher binary from end-to-end tests and
 * benchmarks: spawn it, wait for /readyz, read /metrics, stop it.
 */
#ifndef JCW_AGENT_H
#define JCW_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

/* Exit code ctest treats as "skipped" (SKIP_RETURN_CODE). */
#define E2E_SKIP 77

/* 0 when the kernel tests can run (root, BPF, tracepoints); otherwise print
 * why to stderr and return E2E_SKIP. */
int e2e_require_kernel(void);

/* A TCP port free on every address right now, below the ephemeral range. */
int free_port(void);

/* Start bin with the current environment plus env (NULL-terminated
 * "KEY=value" strings) and args (NULL-terminated, after argv[0]); stdout and
 * stderr go to log_path.  Returns the pid or -1. */
pid_t agent_spawn(const char *bin, char *const env[], char *const args[], const char *log_path);

/* Poll GET /readyz until 200 or timeout.  Returns 0 when ready; -1 when the
 * timeout passed or the agent exited (its log is printed). */
int agent_wait_ready(pid_t pid, int metrics_port, int timeout_ms, const char *log_path);

/* SIGTERM (or sig), then wait up to timeout_ms; returns the exit status,
 * 128+signal if killed, or -1 if it had to be SIGKILLed. */
int agent_stop(pid_t pid, int sig, int timeout_ms);

/* GET http://127.0.0.1:port/path; malloc'd body, status in *status. */
char *http_get(int port, const char *path, long *status);

/* Value of the series whose line starts with `series ` in Prometheus text;
 * -1 when absent. */
double metric_in(const char *text, const char *series);

/* Fetch /metrics and return one series' value (-1 when absent). */
double agent_metric(int port, const char *series);

/* filemon's series name{labels,service="filemon"} (labels "" or
 * `reason="x"`); -1 when absent.  The wait polls until it equals want or
 * timeout_s passed, and returns the last value. */
double agent_filemon_metric(int port, const char *name, const char *labels);
double agent_wait_filemon_metric(int port, const char *name, const char *labels, double want,
				 double timeout_s);

/* Print a file to stderr (agent logs on failure). */
void dump_file(const char *path);

/* Run bin to its end with an environment prefix and shell-quoted arguments
 * ("A=1 B=2", "--flag x"), within timeout_s (a hang becomes status 124),
 * stdout and stderr captured into out.  Returns the exit status, -1 when
 * it could not run or died of a signal. */
int agent_run_capture(const char *bin, const char *env, const char *args, int timeout_s,
		      char *out, size_t outlen);

#endif

/*
 * agent.c - see agent.h.
 */
#define _GNU_SOURCE
#include "agent.h"
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

extern char **environ;

int e2e_require_kernel(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: kernel end-to-end tests need root (euid %d)\n", geteuid());
		return E2E_SKIP;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0 &&
	    access("/sys/kernel/debug/tracing", R_OK) != 0 &&
	    access("/sys/kernel/tracing", R_OK) != 0) {
		fprintf(stderr, "SKIP: no BTF and no tracefs: BPF tracing unavailable\n");
		return E2E_SKIP;
	}
	return 0;
}

/*
 * A port below the kernel's ephemeral range (32768 and up by default):
 * a port the kernel picked for us could be handed out again at once as
 * the local port of an outgoing connection (curl's, the receiver's), and
 * the agent's bind would then fail with EADDRINUSE, as e2e_delivery saw.
 */
int free_port(void)
{
	static unsigned seed;

	if (!seed)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
	for (int tries = 0; tries < 200; tries++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		seed = seed * 1103515245u + 12345u;
		sa.sin_port = htons((unsigned short)(10000 + (seed >> 8) % 22000));
		if (fd < 0)
			return -1;
		ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return ntohs(sa.sin_port);
	}
	return -1;
}

static char **merge_env(char *const extra[])
{
	size_t n = 0, m = 0;
	char **out;

	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	out = calloc(n + m + 1, sizeof(char *));
	if (!out)
		return NULL;
	/* Ours first: getenv() returns the first match. */
	for (size_t i = 0; i < m; i++)
		out[i] = extra[i];
	for (size_t i = 0; i < n; i++)
		out[m + i] = environ[i];
	return out;
}

pid_t agent_spawn(const char *bin, char *const env[], char *const args[], const char *log_path)
{
	char **envp = merge_env(env);
	char *argv[32] = { (char *)bin };
	pid_t pid;

	for (int i = 0; args && args[i] && i < 30; i++)
		argv[i + 1] = args[i];
	if (!envp)
		return -1;
	pid = fork();
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execve(bin, argv, envp);
		_exit(127);
	}
	free(envp);
	return pid;
}

void dump_file(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end ----\n");
	fclose(f);
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	char **buf = arg;
	size_t old = *buf ? strlen(*buf) : 0;
	char *p = realloc(*buf, old + size * n + 1);

	if (!p)
		return 0;
	memcpy(p + old, data, size * n);
	p[old + size * n] = '\0';
	*buf = p;
	return size * n;
}

char *http_get(int port, const char *path, long *status)
{
	CURL *c = curl_easy_init();
	char url[256], *body = NULL;

	*status = 0;
	if (!c)
		return NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (!body)
		body = strdup("");
	return body;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int agent_wait_ready(pid_t pid, int metrics_port, int timeout_ms, const char *log_path)
{
	for (int waited = 0; waited < timeout_ms; waited += 100) {
		long status;
		char *body = http_get(metrics_port, "/readyz", &status);
		int wstatus;

		free(body);
		if (status == 200)
			return 0;
		if (waitpid(pid, &wstatus, WNOHANG) == pid) {
			fprintf(stderr, "agent exited before it was ready (status %d)\n", wstatus);
			dump_file(log_path);
			return -1;
		}
		sleep_ms(100);
	}
	fprintf(stderr, "agent not ready after %d ms\n", timeout_ms);
	dump_file(log_path);
	return -1;
}

int agent_stop(pid_t pid, int sig, int timeout_ms)
{
	int status;

	kill(pid, sig ? sig : SIGTERM);
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

double metric_in(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

double agent_metric(int port, const char *series)
{
	long status;
	char *text = http_get(port, "/metrics", &status);
	double v = status == 200 ? metric_in(text, series) : -1;

	free(text);
	return v;
}

double agent_filemon_metric(int port, const char *name, const char *labels)
{
	char series[256];

	snprintf(series, sizeof(series), "%s{%s%sservice=\"filemon\"}", name, labels,
		 labels[0] ? "," : "");
	return agent_metric(port, series);
}

double agent_wait_filemon_metric(int port, const char *name, const char *labels, double want,
				 double timeout_s)
{
	double until = support_now() + timeout_s, v = -1;

	while (support_now() < until) {
		v = agent_filemon_metric(port, name, labels);
		if (v == want)
			break;
		usleep(100 * 1000);
	}
	return v;
}

int agent_run_capture(const char *bin, const char *env, const char *args, int timeout_s,
		      char *out, size_t outlen)
{
	char *cmd;
	FILE *p;
	size_t n;
	int status;

	if (asprintf(&cmd, "timeout %d env %s '%s' %s 2>&1", timeout_s, env ? env : "", bin,
		     args ? args : "") < 0)
		return -1;
	p = popen(cmd, "r");
	free(cmd);
	if (!p)
		return -1;
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

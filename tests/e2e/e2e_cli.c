/*
 * e2e_cli.c - the binary's command line as a user meets it: --version,
 * --help, bad configuration (exit 2, the key named), the preflight, and
 * settings that fail at start: a busy metrics port, path settings that are
 * not directories (exit 2, the key named too).  Runs the real binary; needs no kernel access except
 * for `check`, which is asserted only as root.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "testlib.h"

static const char *bin;

/* Run bin with a shell-quoted argument string and environment prefix;
 * capture stdout+stderr.  Returns the exit status. */
static int run(const char *env, const char *args, char *out, size_t outlen)
{
	/* An agent that should have refused to start would run forever:
	 * the timeout makes that a failure (status 124), not a hang. */
	return agent_run_capture(bin, env, args, 15, out, outlen);
}

static void test_version_and_help(void)
{
	char out[16384];

	CHECK_INT(run(NULL, "--version", out, sizeof(out)), 0);
	CHECK(strncmp(out, "jcode-watcher ", 14) == 0);
	CHECK_INT(run(NULL, "-V", out, sizeof(out)), 0);
	CHECK_INT(run(NULL, "--help", out, sizeof(out)), 0);
	CHECK(strstr(out, "--api-server URL") != NULL);
	CHECK(strstr(out, "env METRICS_PORT, default 3000") != NULL);
	CHECK(strstr(out, "--spool-dir") != NULL);
}

static void test_bad_config(void)
{
	char out[4096], path[] = "/tmp/jcw-cli-XXXXXX.json";
	int fd;

	CHECK_INT(run("METRICS_PORT=abc", "", out, sizeof(out)), 2);
	CHECK(strstr(out, "METRICS_PORT") != NULL && strstr(out, "abc") != NULL);
	CHECK_INT(run(NULL, "--no-such-flag", out, sizeof(out)), 2);
	CHECK(strstr(out, "no-such-flag") != NULL);
	CHECK_INT(run("MONITORS=procmon,webmon", "", out, sizeof(out)), 2);
	CHECK(strstr(out, "MONITORS") != NULL);
	CHECK_INT(run("HOST_PREFIX='jc\"x'", "", out, sizeof(out)), 2);
	CHECK(strstr(out, "HOST_PREFIX") != NULL);
	CHECK_INT(run("API_SERVER=ftp://x", "", out, sizeof(out)), 2);
	CHECK(strstr(out, "API_SERVER") != NULL);

	fd = mkstemps(path, 5);
	CHECK(fd >= 0);
	CHECK(write(fd, "{\"metric_port\": 1}", 18) == 18);
	close(fd);
	{
		char args[128];

		snprintf(args, sizeof(args), "--config %s", path);
		CHECK_INT(run(NULL, args, out, sizeof(out)), 2);
		CHECK(strstr(out, "metric_port") != NULL);
	}
	unlink(path);
	CHECK_INT(run(NULL, "--config /nonexistent/x.json", out, sizeof(out)), 2);
	CHECK(strstr(out, "/nonexistent/x.json") != NULL);
	CHECK_INT(run("LOG_FILE_PATH=/nonexistent/dir/x.log", "--no-check --metrics-port 0",
		      out, sizeof(out)), 2);
	CHECK(strstr(out, "LOG_FILE_PATH") != NULL);
}

static void test_check(void)
{
	char out[8192];

	if (geteuid() != 0) {
		fprintf(stderr, "skipping `check` assertions: not root\n");
		return;
	}
	CHECK_INT(run(NULL, "check", out, sizeof(out)), 0);
	CHECK(strstr(out, "ok    kernel:") != NULL);
	CHECK(strstr(out, "ok    tracing:") != NULL);
	CHECK(strstr(out, "FAIL") == NULL);
}

static void test_busy_metrics_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char out[8192], args[64];

	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	snprintf(args, sizeof(args), "--no-check --metrics-port %d", ntohs(sa.sin_port));
	CHECK_INT(run("MONITORS=filemon WATCH_ROOT=/tmp", args, out, sizeof(out)), 2);
	CHECK(strstr(out, "metrics server") != NULL);
	CHECK(strstr(out, "METRICS_PORT=") != NULL);
	CHECK(strstr(out, "Address already in use") != NULL);
	/* The same with an address: both keys named. */
	snprintf(args, sizeof(args), "--no-check --metrics-addr 127.0.0.1 --metrics-port %d",
		 ntohs(sa.sin_port));
	CHECK_INT(run("MONITORS=filemon WATCH_ROOT=/tmp", args, out, sizeof(out)), 2);
	CHECK(strstr(out, "METRICS_ADDR=127.0.0.1") != NULL);
	close(fd);
}

/*
 * A path setting that cannot work stops the agent with exit 2 and the key
 * named, as a bad value does (it was exit 1 and a component's message).
 * Filemon only, so no BPF: the settings are checked before anything starts.
 */
static void test_bad_paths(void)
{
	char dir[] = "/tmp/jcw-cli-XXXXXX", file[300], missing[300], env[1400], out[8192];
	const char *args = "--no-check --metrics-port 0";
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(file, sizeof(file), "%s/a-file", dir);
	snprintf(missing, sizeof(missing), "%s/no/such/dir", dir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);

	/* SPOOL_DIR is a regular file. */
	snprintf(env, sizeof(env), "MONITORS=filemon WATCH_ROOT=%s SNAPSHOT_BASE=%s "
		 "API_SERVER=http://127.0.0.1:9 SPOOL_DIR=%s", dir, dir, file);
	CHECK_INT(run(env, args, out, sizeof(out)), 2);
	CHECK(strstr(out, "SPOOL_DIR=") != NULL && strstr(out, "Not a directory") != NULL);
	/* SPOOL_DIR below a regular file: mkdir cannot make it. */
	snprintf(env, sizeof(env), "MONITORS=filemon WATCH_ROOT=%s SNAPSHOT_BASE=%s "
		 "API_SERVER=http://127.0.0.1:9 SPOOL_DIR=%s/spool", dir, dir, file);
	CHECK_INT(run(env, args, out, sizeof(out)), 2);
	CHECK(strstr(out, "SPOOL_DIR=") != NULL);

	/* SPOOL_DIR held by another agent (its flock). */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
	snprintf(env, sizeof(env), "MONITORS=filemon WATCH_ROOT=%s SNAPSHOT_BASE=%s "
		 "API_SERVER=http://127.0.0.1:9 SPOOL_DIR=%s", dir, dir, dir);
	CHECK_INT(run(env, args, out, sizeof(out)), 2);
	CHECK(strstr(out, "in use by another process") != NULL);
	CHECK(strstr(out, "SPOOL_DIR=") != NULL);
	close(fd);

	/* WATCH_ROOT missing, or a file. */
	snprintf(env, sizeof(env), "MONITORS=filemon WATCH_ROOT=%s SNAPSHOT_BASE=%s",
		 missing, dir);
	CHECK_INT(run(env, args, out, sizeof(out)), 2);
	CHECK(strstr(out, "WATCH_ROOT=") != NULL &&
	      strstr(out, "No such file or directory") != NULL);
	snprintf(env, sizeof(env), "MONITORS=filemon WATCH_ROOT=%s SNAPSHOT_BASE=%s", file, dir);
	CHECK_INT(run(env, args, out, sizeof(out)), 2);
	CHECK(strstr(out, "WATCH_ROOT=") != NULL && strstr(out, "Not a directory") != NULL);

	/* SNAPSHOT_BASE a file. */
	snprintf(env, sizeof(env), "MONITORS=filemon WATCH_ROOT=%s SNAPSHOT_BASE=%s", dir, file);
	CHECK_INT(run(env, args, out, sizeof(out)), 2);
	CHECK(strstr(out, "SNAPSHOT_BASE=") != NULL && strstr(out, "Not a directory") != NULL);

	unlink(file);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher\n", argv[0]);
		return 2;
	}
	bin = argv[1];
	RUN(test_version_and_help);
	RUN(test_bad_config);
	RUN(test_check);
	RUN(test_busy_metrics_port);
	RUN(test_bad_paths);
	return TEST_DONE();
}

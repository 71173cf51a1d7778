/*
 * trace_cli.c - `jcode-watcher trace`: connect to the running agent's
 * TRACE_SOCKET and print what it judges, as it judges it.
 *
 * It loads no BPF and reads no configuration but the socket's path: the
 * agent's lines say everything.  Ctrl-C (or SIGTERM) ends it with status
 * 0; so does a reader that went away (`trace | head`).  No agent, or an
 * agent that stops, is status 1 with a line that says so.
 */
#define _GNU_SOURCE
#include "trace_cli.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "trace_format.h"
#include "trace_hub.h"

/* A line longer than this is not one of the agent's (argv is at most 8 KiB). */
#define LINE_MAX_BYTES (1 << 20)
#define PROG "jcode-watcher trace"

struct reader {
	char *buf;
	size_t len, cap;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: jcode-watcher trace [--all] [--student ID] [--type TYPE] [-o table|json]\n"
		"                           [--socket PATH]\n"
		"Print what the running agent judges, live: one row per compile or run it\n"
		"reports (TIME STUDENT HW TYPE EXIT DUR CMD).\n"
		"  --all           also what it did not send, and why (RESULT)\n"
		"  --student ID    only this student id\n"
		"  --type TYPE     build, run (python or binary), python, binary, other\n"
		"  -o table|json   output (default table; json: one object a line)\n"
		"  --socket PATH   the agent's socket (env TRACE_SOCKET, default %s)\n"
		"Ctrl-C stops (status 0).  Status 1: no agent, or it went away; 2: bad usage.\n",
		TRACE_DEFAULT_SOCKET);
}

/* "unknown --type \"x\"": what, then the value the user gave. */
static int bad_usage(const char *what, const char *value)
{
	fprintf(stderr, PROG ": %s \"%s\" (see --help)\n", what, value);
	return 2;
}

static int parse(int argc, char **argv, struct trace_options *opt, const char **sock)
{
	static const struct option lo[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "student", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
		if (c == 'a')
			opt->all = true;
		else if (c == 's')
			opt->student = optarg;
		else if (c == 't' && trace_type_valid(optarg))
			opt->type = optarg;
		else if (c == 't')
			return bad_usage("unknown --type", optarg);
		else if (c == 'o' && strcmp(optarg, "json") && strcmp(optarg, "table"))
			return bad_usage("unknown output (table or json)", optarg);
		else if (c == 'o')
			opt->output = strcmp(optarg, "json") ? TRACE_TABLE : TRACE_JSON;
		else if (c == 'S')
			*sock = optarg;
		else if (c == 'h')
			return usage(stdout), -1;
		else
			return bad_usage(c == ':' ? "option needs a value:" : "unknown option",
					 argv[optind - 1]);
	}
	if (optind < argc)
		return bad_usage("unexpected argument", argv[optind]);
	return 0;
}

static int connect_agent(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, PROG ": socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	e = errno;
	if (fd >= 0)
		close(fd);
	if (e == ENOENT || e == ECONNREFUSED)
		fprintf(stderr, PROG ": no agent is running: cannot connect to %s: %s\n", path,
			strerror(e));
	else if (e == EACCES || e == EPERM)
		fprintf(stderr, PROG ": cannot connect to %s: %s (the socket is root's: it shows "
			"every student's command lines)\n", path, strerror(e));
	else
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", path, strerror(e));
	return -1;
}

/* 0 printed, 1 the reader of stdout went away, -1 the agent refused us. */
static int show(const char *line, size_t len, const struct trace_options *opt)
{
	unsigned long long dropped = 0;
	char *out = NULL;
	int kind = trace_format_line(line, len, opt, &out, &dropped);
	int rc = 0;

	if (kind == TRACE_LINE_ROW && (fputs(out, stdout) == EOF || fflush(stdout) == EOF))
		rc = 1;
	if (kind == TRACE_LINE_DROPPED)
		fprintf(stderr, PROG ": %llu events dropped: this client fell behind the agent\n",
			dropped);
	if (kind == TRACE_LINE_ERROR) {
		fprintf(stderr, PROG ": the agent refused: %s\n", out);
		rc = -1;
	}
	if (kind == -EINVAL)
		fprintf(stderr, PROG ": ignored a line that is not the agent's\n");
	free(out);
	return rc;
}

/* Print each whole line in r; keep the partial last one. */
static int drain_lines(struct reader *r, const struct trace_options *opt)
{
	size_t start = 0;
	char *nl;
	int rc = 0;

	while (!rc && (nl = memchr(r->buf + start, '\n', r->len - start))) {
		rc = show(r->buf + start, (size_t)(nl - (r->buf + start)), opt);
		start = (size_t)(nl - r->buf) + 1;
	}
	memmove(r->buf, r->buf + start, r->len - start);
	r->len -= start;
	if (r->len == r->cap) {
		fprintf(stderr, PROG ": a line over %d bytes from the agent was skipped\n",
			LINE_MAX_BYTES);
		r->len = 0;
	}
	return rc;
}

/* 0 more may come, 1 the stream ended (message printed), or show()'s verdict. */
static int read_agent(int fd, struct reader *r, const struct trace_options *opt)
{
	ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);

	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		fprintf(stderr, PROG ": the agent closed the connection%s%s\n", n < 0 ? ": " : "",
			n < 0 ? strerror(errno) : "");
		return -1;
	}
	r->len += (size_t)n;
	return drain_lines(r, opt);
}

static int watch(int fd, int sigfd, const struct trace_options *opt)
{
	struct reader r = { .buf = malloc(LINE_MAX_BYTES), .cap = LINE_MAX_BYTES };
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
	int rc = 0;

	if (!r.buf) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	while (rc == 0) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;		/* SIGINT, SIGTERM: done */
		if (pfd[0].revents)
			rc = read_agent(fd, &r, opt);
	}
	free(r.buf);
	return rc < 0 ? 1 : 0;
}

int trace_cli_main(int argc, char **argv)
{
	struct trace_options opt = { .output = TRACE_TABLE };
	const char *sock = getenv("TRACE_SOCKET");
	sigset_t set;
	int rc, fd, sigfd;

	if (!sock || !*sock)
		sock = TRACE_DEFAULT_SOCKET;
	rc = parse(argc, argv, &opt, &sock);
	if (rc)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	fd = connect_agent(sock);
	if (fd < 0 || sigfd < 0)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	fputs(trace_header(&opt), stdout);
	fflush(stdout);
	rc = watch(fd, sigfd, &opt);
	close(fd);
	close(sigfd);
	return rc;
}

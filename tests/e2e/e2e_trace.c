/*
 * e2e_trace.c - `jcode-watcher trace` against the real agent on the real
 * kernel: a student container (unshare'd UTS and mount namespaces)
 * compiles and runs a program, runs a Python script, passes a hostile
 * argument, and runs Python and gcc outside the homework directories;
 * four trace clients (JSON, table, --all --type run, --all JSON) watch
 * and must print exactly those rows, the filtered ones only under --all
 * and with their reason.  Also: no agent (no socket file, a stale one),
 * one client too many, and the socket gone after the agent stops.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "agent.h"
#include "receiver.h"
#include "student.h"
#include "support.h"
#include "testlib.h"

#define PROJECT "/home/coder/project"
#define SENT_EVENTS 4
#define NCLIENTS 4

static const char *bin;
static char tmp[40], ws[96], sock[96];

static const char *student_script =
	"cd " PROJECT "/hw1 && gcc main.c -o a.out && ./a.out; "
	"./a.out \"$(printf 'x\\ny\\033[2J')\"; "
	"cd " PROJECT " && /usr/bin/python3 hw2/script.py; /usr/bin/python3 outside/x.py; /bin/true; "
	"cd " PROJECT "/outside && gcc -c x.c -o /dev/null; true";

static void write_file(const char *rel, const char *text)
{
	support_write_file(ws, rel, text);
}

static void make_workspace(void)
{
	char cmd[1024];

	snprintf(tmp, sizeof(tmp), "/tmp/jcw-e2e-trace-XXXXXX");
	if (!mkdtemp(tmp))
		exit(1);
	snprintf(ws, sizeof(ws), "%s/os-1-202012345", tmp);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/hw1' '%s/hw2' '%s/outside' '%s/spool' '%s/state'",
		 ws, ws, ws, tmp, tmp);
	if (system(cmd) != 0)
		exit(1);
	write_file("hw1/main.c", "int main(void) { return 3; }\n");
	write_file("hw2/script.py", "import sys\nsys.exit(5)\n");
	write_file("outside/x.py", "pass\n");
	write_file("outside/x.c", "int f(void) { return 1; }\n");
	snprintf(sock, sizeof(sock), "%s/run/trace.sock", tmp);
}

struct client {
	pid_t pid;
	char out[128], err[128];
};

/* `jcode-watcher trace ARGS --socket sock`, stdout and stderr to files. */
static void spawn_trace(struct client *c, const char *name, char *const args[])
{
	char *argv[16] = { (char *)bin, "trace" };
	int n = 2;

	snprintf(c->out, sizeof(c->out), "%s/%s.out", tmp, name);
	snprintf(c->err, sizeof(c->err), "%s/%s.err", tmp, name);
	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n++] = "--socket";
	argv[n++] = sock;
	c->pid = fork();
	if (c->pid == 0) {
		int o = open(c->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(c->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(o, 1);
		dup2(e, 2);
		execv(bin, argv);
		_exit(127);
	}
}

static int stop_trace(struct client *c)
{
	int status;

	kill(c->pid, SIGINT);
	if (waitpid(c->pid, &status, 0) != c->pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *slurp(const char *path)
{
	char *t = support_slurp(path);

	return strdup(t ? t : "");
}

/* The lines of a file, as a NULL-terminated array into text. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *save, *l;

	for (l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	lines[n] = NULL;
	return n;
}

/* ---- what the clients must have printed ---- */

struct row {
	const char *hw, *type, *exit, *result, *cmd;
};

static const struct row sent_rows[SENT_EVENTS] = {
	{ "hw1", "build", "0", "sent", "gcc main.c -o a.out" },
	{ "hw1", "binary", "3", "sent", "./a.out" },
	{ "hw1", "binary", "3", "sent", "./a.out x\ny\x1b[2J" },
	{ "hw2", "python", "5", "sent", "/usr/bin/python3 hw2/script.py" },
};
static const struct row filtered_python = { NULL, "python", NULL, "outside_homework",
					    "/usr/bin/python3 outside/x.py" };
static const struct row filtered_gcc = { NULL, "build", NULL, "outside_homework",
					 "gcc -c x.c -o /dev/null" };

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void check_json_row(const char *line, const struct row *want, const char *student)
{
	json_t *o = json_loads(line, 0, NULL);
	json_t *code = json_object_get(o, "exit_code"), *dur = json_object_get(o, "duration_ms");
	const char *t = jstr(o, "time");

	CHECK(json_is_object(o));
	CHECK_STR(jstr(o, "student"), student);
	CHECK_STR(jstr(o, "hw"), want->hw);
	CHECK_STR(jstr(o, "type"), want->type);
	CHECK_STR(jstr(o, "result"), want->result);
	CHECK_STR(jstr(o, "cmdline"), want->cmd);
	CHECK(t && strlen(t) == 32 && !strcmp(t + 26, "+00:00"));
	if (want->exit) {
		CHECK_INT(json_integer_value(code), atoi(want->exit));
		CHECK(json_is_number(dur) && json_number_value(dur) > 0);
	} else {
		CHECK(json_is_null(code) && json_is_null(dur));
	}
	/* ASCII only: what a student typed reaches the terminal escaped. */
	for (const char *p = line; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	json_decref(o);
}

static void check_json_client(const struct client *c)
{
	char *text = slurp(c->out), *lines[32];
	size_t n = split_lines(text, lines, 31);

	CHECK_INT(n, SENT_EVENTS);
	for (size_t i = 0; i < n && i < SENT_EVENTS; i++)
		check_json_row(lines[i], &sent_rows[i], "202012345");
	free(text);
}

/* The table escapes the command: "./a.out x\ny\x1b[2J" is one row. */
static const char *escaped_cmd(const char *cmd)
{
	return strcmp(cmd, "./a.out x\ny\x1b[2J") ? cmd : "./a.out x\\ny\\x1b[2J";
}

/* "HH:MM:SS 202012345   hw1  build     0   41.2ms [RESULT] CMD" */
static void check_table_row(const char *line, const struct row *want, bool all)
{
	char head[64], time_re[] = "^[0-2][0-9]:[0-5][0-9]:[0-6][0-9] $";
	char dur[16];
	regex_t re;
	size_t len = strlen(line);
	const char *cmd = line + (all ? 64 : 47);

	snprintf(head, sizeof(head), "%-11s %-4s %-6s %4s ", "202012345", want->hw ? want->hw : "-",
		 want->type, want->exit ? want->exit : "-");
	CHECK(len > 47);
	if (len <= 47)
		return;
	CHECK(strncmp(line + 9, head, strlen(head)) == 0);
	if (strncmp(line + 9, head, strlen(head)))
		fprintf(stderr, "row \"%s\", want \"%s\" at 9\n", line, head);
	regcomp(&re, time_re, REG_EXTENDED | REG_NOSUB);
	snprintf(dur, sizeof(dur), "%.9s", line);
	CHECK(regexec(&re, dur, 0, NULL, 0) == 0);
	regfree(&re);
	memcpy(dur, line + 38, 8);
	dur[8] = '\0';
	regcomp(&re, want->exit ? "^ *[0-9]+\\.[0-9]+m?s$" : "^       -$", REG_EXTENDED | REG_NOSUB);
	CHECK(regexec(&re, dur, 0, NULL, 0) == 0);
	regfree(&re);
	if (all) {
		snprintf(head, sizeof(head), " %-16s ", want->result);
		CHECK(strncmp(line + 46, head, strlen(head)) == 0);
	}
	CHECK_STR(cmd, escaped_cmd(want->cmd));
}

static void check_table_client(const struct client *c)
{
	char *text = slurp(c->out), *lines[32];
	size_t n = split_lines(text, lines, 31);

	CHECK_INT(n, 1 + SENT_EVENTS);
	CHECK_STR(lines[0], "TIME     STUDENT     HW   TYPE   EXIT      DUR CMD");
	for (size_t i = 1; i < n && i <= SENT_EVENTS; i++)
		check_table_row(lines[i], &sent_rows[i - 1], false);
	free(text);
}

/* --all --type run: the runs, and the Python run outside with its reason. */
static void check_runs_client(const struct client *c)
{
	const struct row *want[] = { &sent_rows[1], &sent_rows[2], &sent_rows[3], &filtered_python };
	char *text = slurp(c->out), *lines[32];
	size_t n = split_lines(text, lines, 31);

	CHECK_INT(n, 5);
	CHECK_STR(lines[0], "TIME     STUDENT     HW   TYPE   EXIT      DUR RESULT           CMD");
	for (size_t i = 1; i < n && i < 5; i++)
		check_table_row(lines[i], want[i - 1], true);
	free(text);
}

/* --all -o json: everything the agent judged.  Apart from the
 * shell's and the compilers' own processes (nontarget), exactly these. */
static void check_all_client(const struct client *c)
{
	const struct row *want[] = { &sent_rows[0], &sent_rows[1], &sent_rows[2], &sent_rows[3],
				     &filtered_python, &filtered_gcc };
	char *text = slurp(c->out), *lines[512];
	size_t n = split_lines(text, lines, 511), k = 0, bad_host = 0, true_seen = 0;

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_loads(lines[i], 0, NULL);
		const char *result = jstr(o, "result");

		if (result && !strcmp(result, "nontarget")) {
			true_seen += !strcmp(jstr(o, "cmdline") ?: "", "/bin/true") &&
				     !strcmp(jstr(o, "student") ?: "", "202012345") &&
				     !strcmp(jstr(o, "type") ?: "", "other");
		} else if (result && !strcmp(result, "invalid_identity")) {
			bad_host++;
			CHECK_STR(jstr(o, "hostname"), "jcode-bad");
			CHECK(json_is_null(json_object_get(o, "student")));
			CHECK_STR(jstr(o, "cmdline"), "/bin/true");
		} else {
			CHECK(k < 6);
			if (k < 6)
				check_json_row(lines[i], want[k], "202012345");
			k++;
		}
		json_decref(o);
	}
	CHECK_INT(k, 6);
	CHECK_INT(bad_host, 1);
	CHECK_INT(true_seen, 1);
	free(text);
}

/* ---- the agent's side ---- */

static int wait_metric(int port, const char *series, double want, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		if (agent_metric(port, series) == want)
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

static void expect_no_agent(const char *why)
{
	char out[1024], args[256], want[512];

	snprintf(args, sizeof(args), "trace --socket '%s'", sock);
	snprintf(want, sizeof(want), "jcode-watcher trace: no agent is running: cannot connect "
		 "to %s: %s\n", sock, why);
	CHECK_INT(agent_run_capture(bin, NULL, args, 10, out, sizeof(out)), 1);
	CHECK_STR(out, want);
}

/* A socket file nobody listens on, as a killed agent leaves. */
static void make_stale_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/run", tmp);
	mkdir(dir, 0700);
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	CHECK_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

static void one_too_many(void)
{
	char out[1024], args[256];

	snprintf(args, sizeof(args), "trace --socket '%s'", sock);
	CHECK_INT(agent_run_capture(bin, NULL, args, 10, out, sizeof(out)), 1);
	CHECK_STR(out, "TIME     STUDENT     HW   TYPE   EXIT      DUR CMD\n"
		  "jcode-watcher trace: the agent refused: too many trace clients\n");
}

static pid_t start_agent(struct receiver *r, int port, const char *log_path)
{
	char e_api[64], e_port[32], e_spool[160], e_state[160], e_sock[160];
	char *env[] = { e_api, e_port, e_spool, e_state, e_sock, "TRACE_MAX_CLIENTS=4", NULL };

	snprintf(e_api, sizeof(e_api), "API_SERVER=http://127.0.0.1:%d", receiver_port(r));
	snprintf(e_port, sizeof(e_port), "METRICS_PORT=%d", port);
	snprintf(e_spool, sizeof(e_spool), "SPOOL_DIR=%s/spool", tmp);
	snprintf(e_state, sizeof(e_state), "STATE_DIR=%s/state", tmp);
	snprintf(e_sock, sizeof(e_sock), "TRACE_SOCKET=%s", sock);
	return agent_spawn(bin, env, NULL, log_path);
}

static void watch_session(int port, struct receiver *r)
{
	struct client c[NCLIENTS];
	struct stat st;

	spawn_trace(&c[0], "json", (char *[]){ "-o", "json", NULL });
	spawn_trace(&c[1], "table", (char *[]){ NULL });
	spawn_trace(&c[2], "runs", (char *[]){ "--all", "--type", "run", "--student", "202012345",
					       NULL });
	spawn_trace(&c[3], "all", (char *[]){ "--all", "-o", "json", NULL });
	CHECK_INT(wait_metric(port, "trace_clients_current", NCLIENTS, 10000), 0);
	CHECK_INT(stat(sock, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	one_too_many();
	CHECK_INT(agent_metric(port, "trace_clients_refused_total"), 1);

	CHECK_INT(student_shell(ws, "jcode-os-1-202012345", student_script), 0);
	CHECK_INT(system("unshare --uts sh -c 'hostname jcode-bad && /bin/true'"), 0);
	CHECK_INT(receiver_wait(r, SENT_EVENTS, 20000), SENT_EVENTS);
	usleep(1500 * 1000);	/* anything extra would have arrived by now */
	for (int i = 0; i < NCLIENTS; i++)
		CHECK_INT(stop_trace(&c[i]), 0);
	for (int i = 0; i < NCLIENTS; i++)
		CHECK_STR(support_slurp(c[i].err), "");
	check_json_client(&c[0]);
	check_table_client(&c[1]);
	check_runs_client(&c[2]);
	check_all_client(&c[3]);
	if (tl_failures)
		for (int i = 0; i < NCLIENTS; i++)
			dump_file(c[i].out);
	CHECK_INT(agent_metric(port, "trace_dropped_total"), 0);
	CHECK_INT(wait_metric(port, "trace_clients_current", 0, 5000), 0);
}

int main(int argc, char **argv)
{
	int skip = e2e_require_kernel(), port = free_port();
	char log_path[128];
	struct receiver *r;
	struct client last;
	int status;
	pid_t pid;

	if (skip)
		return skip;
	if (argc < 2) {
		fprintf(stderr, "usage: %s path/to/jcode-watcher\n", argv[0]);
		return 2;
	}
	bin = argv[1];
	make_workspace();
	snprintf(log_path, sizeof(log_path), "%s/agent.log", tmp);

	expect_no_agent("No such file or directory");
	make_stale_socket();
	expect_no_agent("Connection refused");

	r = receiver_start(0);
	CHECK(r != NULL);
	if (!r)
		return TEST_DONE();
	pid = start_agent(r, port, log_path);
	if (agent_wait_ready(pid, port, 60000, log_path) < 0) {
		CHECK(!"agent ready");
		return TEST_DONE();
	}
	watch_session(port, r);
	/* A client whose agent stops is told so, and exits 1. */
	spawn_trace(&last, "last", (char *[]){ NULL });
	CHECK_INT(wait_metric(port, "trace_clients_current", 1, 10000), 0);
	CHECK_INT(agent_stop(pid, 0, 20000), 0);
	CHECK_INT(waitpid(last.pid, &status, 0), last.pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	CHECK_STR(support_slurp(last.err), "jcode-watcher trace: the agent closed the connection\n");
	/* The agent takes its socket with it. */
	expect_no_agent("No such file or directory");
	if (tl_failures)
		dump_file(log_path);
	receiver_stop(r);
	support_rm_rf(tmp);
	return TEST_DONE();
}

/* test_config.c - defaults, precedence and strict validation of config_load(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "testlib.h"

static const char *const env_names[] = {
	"JCW_CONFIG", "LOG_LEVEL", "LOG_FILE_PATH", "LOG_MAX_BYTES", "LOG_BACKUP_COUNT",
	"API_SERVER", "API_TIMEOUT", "API_TIMEOUT_TOTAL", "API_MAX_INFLIGHT", "QUEUE_MAX",
	"METRICS_ADDR", "METRICS_PORT", "HOST_PREFIX", "HW_MAX", "MONITORS", "PERF_PAGES",
	"MAX_PROCESSES", "WATCH_ROOT", "SNAPSHOT_BASE", "MAX_CAPTURABLE_FILE_SIZE",
	"DEBOUNCE_WINDOW", "DEBOUNCE_MAX_WAIT", "SPOOL_DIR", "SPOOL_MAX_BYTES",
	"WORKSPACE_ROOTS", "KERNEL_HEADERS", "KERNEL_HEADERS_SEARCH", "STATE_DIR",
	"SNAPSHOT_MODE", "SNAPSHOT_OWNER", "WATCHES_PER_STUDENT", "METRICS_MAX_CONNECTIONS",
	"METRICS_MAX_PER_IP", "METRICS_TIMEOUT", "DEAD_LETTER_MAX_BYTES", "RING_BUFFER",
	"RINGBUF_BYTES", "LOG_FORMAT", "DIAG_MAX_BYTES", "TRACEBACK_MAX_BYTES",
	"TRACE_SOCKET", "TRACE_MAX_CLIENTS", "TRACE_BUFFER_BYTES", "CAPTURE",
	"WATCH_ALL", "WATCH_STUDENTS", "MAX_WORKSPACES", "WORKSPACE_IDLE_SECONDS",
};

static char tmpdir[] = "/tmp/test_config.XXXXXX";
static char errbuf[512];

static void clear_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
}

/* argv from a NULL-terminated list; argv[0] is supplied here. */
static int load(struct config *cfg, const char *const *args)
{
	char *argv[32] = { "jcode-watcher" };
	int argc = 1;

	while (args && *args)
		argv[argc++] = (char *)*args++;
	errbuf[0] = '\0';
	return config_load(cfg, argc, argv, errbuf, sizeof(errbuf));
}

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

/* Expect exit status 2 and a message that mentions `key`. */
#define CHECK_BAD(rc, key) do { CHECK_INT(rc, -EINVAL); \
	if (!strstr(errbuf, key)) { fprintf(stderr, "  message: %s\n", errbuf); } \
	CHECK(strstr(errbuf, key) != NULL); } while (0)

/* RING_BUFFER: the kernel decides (auto), or the operator does. */
static void test_ring_buffer(void)
{
	const char *on[] = { "--ring-buffer", "on", "--ringbuf-bytes", "1MiB", NULL };
	const char *off[] = { "--ring-buffer", "off", NULL };
	const char *bad[] = { "--ring-buffer", "yes", NULL };
	const char *small[] = { "--ringbuf-bytes", "4KiB", NULL };
	struct config c;

	CHECK_INT(load(&c, on), 0);
	CHECK_INT(c.ring_buffer, 1);
	CHECK_INT(c.ringbuf_bytes, 1048576);
	config_free(&c);
	CHECK_INT(load(&c, off), 0);
	CHECK_INT(c.ring_buffer, 0);
	config_free(&c);
	setenv("RING_BUFFER", "auto", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.ring_buffer, CONFIG_AUTO);
	config_free(&c);
	unsetenv("RING_BUFFER");
	CHECK_BAD(load(&c, bad), "--ring-buffer: \"yes\" is not auto, on or off");
	CHECK_BAD(load(&c, small), "--ringbuf-bytes");
}

/* How much stderr a build (head) and a Python run (tail) keep. */
static void test_capture_limits(void)
{
	const char *flags[] = { "--diag-max-bytes", "1MiB", "--traceback-max-bytes", "256", NULL };
	const char *small[] = { "--diag-max-bytes", "1023", NULL };
	const char *big[] = { "--traceback-max-bytes", "1048577", NULL };
	const char *file[] = { "--config", NULL, NULL };
	struct config c;

	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.diag_max_bytes, 16384);
	CHECK_INT(c.traceback_max_bytes, 4096);
	config_free(&c);
	CHECK_INT(load(&c, flags), 0);
	CHECK_INT(c.diag_max_bytes, 1048576);
	CHECK_INT(c.traceback_max_bytes, 256);
	config_free(&c);
	setenv("DIAG_MAX_BYTES", "32KiB", 1);
	setenv("TRACEBACK_MAX_BYTES", "8192", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.diag_max_bytes, 32768);
	CHECK_INT(c.traceback_max_bytes, 8192);
	config_free(&c);
	unsetenv("DIAG_MAX_BYTES");
	unsetenv("TRACEBACK_MAX_BYTES");
	file[1] = write_file("capture.json", "{\"diag_max_bytes\": \"2KiB\", \"traceback_max_bytes\": 512}");
	CHECK_INT(load(&c, file), 0);
	CHECK_INT(c.diag_max_bytes, 2048);
	CHECK_INT(c.traceback_max_bytes, 512);
	config_free(&c);
	CHECK_BAD(load(&c, small), "--diag-max-bytes");
	CHECK_BAD(load(&c, big), "--traceback-max-bytes");
	setenv("DIAG_MAX_BYTES", "lots", 1);
	CHECK_BAD(load(&c, NULL), "DIAG_MAX_BYTES");
	setenv("DIAG_MAX_BYTES", "-1", 1);
	CHECK_BAD(load(&c, NULL), "DIAG_MAX_BYTES");
	unsetenv("DIAG_MAX_BYTES");
	setenv("TRACEBACK_MAX_BYTES", "", 1);
	CHECK_BAD(load(&c, NULL), "TRACEBACK_MAX_BYTES");
	unsetenv("TRACEBACK_MAX_BYTES");
}

static void test_log_format(void)
{
	const char *json[] = { "--log-format", "json", NULL };
	const char *bad[] = { "--log-format", "xml", NULL };
	struct config c;

	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.log_json, 0);
	config_free(&c);
	CHECK_INT(load(&c, json), 0);
	CHECK_INT(c.log_json, 1);
	config_free(&c);
	CHECK_BAD(load(&c, bad), "--log-format: \"xml\" is not text or json");
}

static void test_defaults(void)
{
	struct config c;

	clear_env();
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.command, CONFIG_RUN);
	CHECK_STR(c.config_file, NULL);
	CHECK_INT(c.log_level, LOG_INFO);
	CHECK_STR(c.log_file, NULL);
	CHECK_INT(c.log_max_bytes, 10485760);
	CHECK_INT(c.log_backup_count, 0);
	CHECK_STR(c.api_server, NULL);
	CHECK_INT(c.api_timeout_ms, 20000);
	CHECK_INT(c.max_inflight, 8);
	CHECK_INT(c.queue_max, 100000);
	CHECK_STR(c.metrics_addr, NULL);
	CHECK_INT(c.metrics_port, 3000);
	CHECK_STR(c.host_prefix, "jcode-");
	CHECK_INT(c.hw_max, 20);
	CHECK(c.rules == NULL);
	CHECK_INT(c.nrules, 0);
	CHECK_INT(c.monitors, MONITOR_PROCMON);
	CHECK_INT(c.ring_buffer, CONFIG_AUTO);
	CHECK_INT(c.ringbuf_bytes, 4194304);
	CHECK_INT(c.perf_pages, 64);
	CHECK_INT(c.max_processes, 65536);
	CHECK_STR(c.watch_root, "/watcher/codes");
	CHECK_STR(c.snapshot_base, "/watcher/snapshots");
	CHECK_INT(c.max_file_size, 65536);
	CHECK_INT(c.debounce_window_ms, 600);
	CHECK_INT(c.debounce_max_wait_ms, 3000);
	CHECK_STR(c.spool_dir, "/var/lib/jcode-watcher/spool");
	CHECK_INT(c.spool_max_bytes, 268435456);
	CHECK_INT(c.skip_check, 0);
	config_free(&c);
}

static void test_env(void)
{
	struct config c;

	clear_env();
	setenv("LOG_LEVEL", "debug", 1);
	setenv("LOG_FILE_PATH", "/tmp/jcw.log", 1);
	setenv("LOG_MAX_BYTES", "1MiB", 1);
	setenv("LOG_BACKUP_COUNT", "3", 1);
	setenv("API_SERVER", "http://localhost:8000/", 1);
	setenv("API_TIMEOUT_TOTAL", "5", 1);
	setenv("API_MAX_INFLIGHT", "16", 1);
	setenv("QUEUE_MAX", "500", 1);
	setenv("METRICS_ADDR", "127.0.0.1", 1);
	setenv("METRICS_PORT", "0", 1);
	setenv("HOST_PREFIX", "lab.x_1-", 1);
	setenv("HW_MAX", "30", 1);
	setenv("MONITORS", "procmon,filemon", 1);
	setenv("PERF_PAGES", "1024", 1);
	setenv("MAX_PROCESSES", "256", 1);
	setenv("WATCH_ROOT", "/w", 1);
	setenv("SNAPSHOT_BASE", "/s", 1);
	setenv("MAX_CAPTURABLE_FILE_SIZE", "100000", 1);
	setenv("DEBOUNCE_WINDOW", "0.25", 1);
	setenv("DEBOUNCE_MAX_WAIT", "1500ms", 1);
	setenv("SPOOL_DIR", "/sp", 1);
	setenv("SPOOL_MAX_BYTES", "1G", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_STR(errbuf, "");
	CHECK_INT(c.log_level, LOG_DEBUG);
	CHECK_STR(c.log_file, "/tmp/jcw.log");
	CHECK_INT(c.log_max_bytes, 1048576);
	CHECK_INT(c.log_backup_count, 3);
	CHECK_STR(c.api_server, "http://localhost:8000");
	CHECK_INT(c.api_timeout_ms, 5000);
	CHECK_INT(c.max_inflight, 16);
	CHECK_INT(c.queue_max, 500);
	CHECK_STR(c.metrics_addr, "127.0.0.1");
	CHECK_INT(c.metrics_port, 0);
	CHECK_STR(c.host_prefix, "lab.x_1-");
	CHECK_INT(c.hw_max, 30);
	CHECK_INT(c.monitors, MONITOR_PROCMON | MONITOR_FILEMON);
	CHECK_INT(c.perf_pages, 1024);
	CHECK_INT(c.max_processes, 256);
	CHECK_STR(c.watch_root, "/w");
	CHECK_STR(c.snapshot_base, "/s");
	CHECK_INT(c.max_file_size, 100000);
	CHECK_INT(c.debounce_window_ms, 250);
	CHECK_INT(c.debounce_max_wait_ms, 1500);
	CHECK_STR(c.spool_dir, "/sp");
	CHECK_INT(c.spool_max_bytes, 1073741824);
	config_free(&c);

	/* our own name wins over the upstream alias */
	setenv("API_TIMEOUT", "2.5", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.api_timeout_ms, 2500);
	config_free(&c);

	/* empty API_SERVER means stdout, as documented */
	setenv("API_SERVER", "", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_STR(c.api_server, NULL);
	config_free(&c);
	clear_env();
}

static void test_flags_override_env(void)
{
	const char *args[] = { "--metrics-port", "5000", "--api-server=https://api.example:8443/x/",
			       "--log-level", "ERROR", "--debounce-window", "1", "--no-check",
			       "--max-file-size", "64KiB", NULL };
	struct config c;

	clear_env();
	setenv("METRICS_PORT", "4000", 1);
	setenv("API_SERVER", "http://env", 1);
	setenv("LOG_LEVEL", "debug", 1);
	CHECK_INT(load(&c, args), 0);
	CHECK_INT(c.metrics_port, 5000);
	CHECK_STR(c.api_server, "https://api.example:8443/x");
	CHECK_INT(c.log_level, LOG_ERROR);
	CHECK_INT(c.debounce_window_ms, 1000);
	CHECK_INT(c.max_file_size, 65536);
	CHECK_INT(c.skip_check, 1);
	CHECK_INT(c.command, CONFIG_RUN);
	config_free(&c);
	clear_env();
}

static void test_file_below_env(void)
{
	const char *path = write_file("a.json",
		"{\n"
		"  \"metrics_port\": 4000,\n"
		"  \"api_server\": \"http://file:8000/\",\n"
		"  \"monitors\": [\"filemon\", \"procmon\"],\n"
		"  \"debounce_window\": 0.3,\n"
		"  \"log_max_bytes\": \"2MiB\",\n"
		"  \"log_file_path\": null,\n"
		"  \"hw_max\": 7,\n"
		"  \"classifier\": [\n"
		"    {\"type\": \"gcc\", \"pattern\": \"/opt/gcc/bin/gcc-[0-9]+\"},\n"
		"    {\"type\": \"python\", \"pattern\": \"/opt/py/bin/python3\\\\.[0-9]+\"}\n"
		"  ]\n"
		"}\n");
	const char *args[] = { "--config", path, NULL };
	const char *args2[] = { "--config", path, "--hw-max", "9", NULL };
	struct config c;

	clear_env();
	setenv("METRICS_PORT", "4001", 1);
	CHECK_INT(load(&c, args), 0);
	CHECK_STR(errbuf, "");
	CHECK_STR(c.config_file, path);
	CHECK_INT(c.metrics_port, 4001);
	CHECK_STR(c.api_server, "http://file:8000");
	CHECK_INT(c.monitors, MONITOR_PROCMON | MONITOR_FILEMON);
	CHECK_INT(c.debounce_window_ms, 300);
	CHECK_INT(c.log_max_bytes, 2097152);
	CHECK_STR(c.log_file, NULL);
	CHECK_INT(c.hw_max, 7);
	CHECK_INT(c.nrules, 2);
	if (c.nrules == 2) {
		CHECK_STR(c.rules[0].type, "gcc");
		CHECK_STR(c.rules[0].pattern, "/opt/gcc/bin/gcc-[0-9]+");
		CHECK_STR(c.rules[1].type, "python");
		CHECK_STR(c.rules[1].pattern, "/opt/py/bin/python3\\.[0-9]+");
	}
	config_free(&c);

	/* flag > env > file */
	setenv("HW_MAX", "8", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.hw_max, 8);
	config_free(&c);
	CHECK_INT(load(&c, args2), 0);
	CHECK_INT(c.hw_max, 9);
	config_free(&c);

	/* JCW_CONFIG names the file when --config does not */
	unsetenv("HW_MAX");
	setenv("JCW_CONFIG", path, 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_STR(c.config_file, path);
	CHECK_INT(c.hw_max, 7);
	config_free(&c);
	clear_env();
}

static void test_config_flag_beats_env_file(void)
{
	const char *a = write_file("first.json", "{\"hw_max\": 1}");
	char apath[256];
	const char *b;
	const char *args[3] = { "--config", NULL, NULL };
	struct config c;

	snprintf(apath, sizeof(apath), "%s", a);
	b = write_file("second.json", "{\"hw_max\": 2}");
	args[1] = b;
	clear_env();
	setenv("JCW_CONFIG", apath, 1);
	CHECK_INT(load(&c, args), 0);
	CHECK_INT(c.hw_max, 2);
	config_free(&c);
	clear_env();
}

struct bad_env {
	const char *name;
	const char *value;
};

static void test_bad_env(void)
{
	static const struct bad_env bad[] = {
		{ "METRICS_PORT", "abc" }, { "METRICS_PORT", "65536" }, { "METRICS_PORT", "-1" },
		{ "METRICS_PORT", " 80" }, { "METRICS_PORT", "80x" }, { "METRICS_PORT", "" },
		{ "LOG_LEVEL", "verbose" }, { "LOG_MAX_BYTES", "10XB" },
		{ "LOG_MAX_BYTES", "-1" }, { "LOG_MAX_BYTES", "99999999999999999999" },
		{ "SPOOL_MAX_BYTES", "9000000TiB" }, { "LOG_BACKUP_COUNT", "1.5" },
		{ "API_SERVER", "localhost:8000" }, { "API_SERVER", "ftp://x" },
		{ "API_SERVER", "http://" }, { "API_SERVER", "http://a b" },
		{ "API_TIMEOUT", "0" }, { "API_TIMEOUT", "abc" }, { "API_TIMEOUT", "nan" },
		{ "API_TIMEOUT", "-3" }, { "API_TIMEOUT_TOTAL", "1e9" },
		{ "API_MAX_INFLIGHT", "0" }, { "API_MAX_INFLIGHT", "257" }, { "QUEUE_MAX", "0" },
		{ "HOST_PREFIX", "jcode\"-" }, { "HOST_PREFIX", "" },
		{ "HOST_PREFIX", "abcdefghijabcdefghijabcdefghijabc" }, { "HOST_PREFIX", "a\\n" },
		{ "HW_MAX", "1001" }, { "MONITORS", "" }, { "MONITORS", "proc" },
		{ "MONITORS", "procmon," }, { "MONITORS", "procmon filemon" },
		{ "PERF_PAGES", "300" }, { "PERF_PAGES", "4" }, { "PERF_PAGES", "32768" },
		{ "MAX_PROCESSES", "255" }, { "MAX_PROCESSES", "1048577" },
		{ "WATCH_ROOT", "" }, { "SNAPSHOT_BASE", "" }, { "SPOOL_DIR", "" },
		{ "MAX_CAPTURABLE_FILE_SIZE", "0" }, { "DEBOUNCE_WINDOW", "0.6x" },
		{ "DEBOUNCE_MAX_WAIT", "601" },
	};
	struct config c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clear_env();
		setenv(bad[i].name, bad[i].value, 1);
		CHECK_BAD(load(&c, NULL), bad[i].name);
		config_free(&c);	/* harmless after a failed load */
	}
	clear_env();
	setenv("METRICS_PORT", "abc", 1);
	load(&c, NULL);
	CHECK_STR(errbuf, "METRICS_PORT: \"abc\" is not a port number (1-65535)");
	clear_env();
}

static void test_bad_flags(void)
{
	const char *port[] = { "--metrics-port", "abc", NULL };
	const char *unknown[] = { "--metric-port", "1", NULL };
	const char *noval[] = { "--metrics-port", NULL };
	const char *extra[] = { "check", "now", NULL };
	const char *cmd[] = { "start", NULL };
	const char *shortopt[] = { "-x", NULL };
	const char *prefix[] = { "--host-prefix", "x\");", NULL };
	const char *mon[] = { "--monitors", "all", NULL };
	const char *dbw[] = { "--debounce-window", "5", NULL };
	struct config c;

	clear_env();
	CHECK_BAD(load(&c, port), "--metrics-port: \"abc\"");
	CHECK_BAD(load(&c, unknown), "--metric-port");
	CHECK_BAD(load(&c, noval), "--metrics-port");
	CHECK_BAD(load(&c, extra), "\"now\"");
	CHECK_BAD(load(&c, cmd), "\"start\"");
	CHECK_BAD(load(&c, shortopt), "-x");
	CHECK_BAD(load(&c, prefix), "--host-prefix");
	CHECK_BAD(load(&c, mon), "--monitors");
	/* a window longer than the max wait can never flush by the window */
	CHECK_BAD(load(&c, dbw), "DEBOUNCE_MAX_WAIT");
}

static void test_bad_file(void)
{
	const char *args[] = { "--config", NULL, NULL };
	struct config c;

	clear_env();
	args[1] = write_file("x.json", "{\"metric_port\": 1}");
	CHECK_BAD(load(&c, args), "unknown key \"metric_port\"");
	CHECK(strstr(errbuf, "x.json") != NULL);

	args[1] = write_file("t.json", "{\"metrics_port\": true}");
	CHECK_BAD(load(&c, args), "metrics_port");
	args[1] = write_file("t2.json", "{\"api_server\": 5}");
	CHECK_BAD(load(&c, args), "api_server");
	args[1] = write_file("t3.json", "{\"metrics_port\": \"abc\"}");
	CHECK_BAD(load(&c, args), "metrics_port: \"abc\" is not a port number");
	args[1] = write_file("t4.json", "{\"monitors\": [\"procmon\", 1]}");
	CHECK_BAD(load(&c, args), "monitors");
	args[1] = write_file("t5.json", "{\"perf_pages\": 2.5}");
	CHECK_BAD(load(&c, args), "perf_pages");
	args[1] = write_file("t6.json", "[1, 2]");
	CHECK_BAD(load(&c, args), "t6.json");

	args[1] = write_file("syntax.json", "{\n  \"hw_max\": 3,\n  oops\n}\n");
	CHECK_BAD(load(&c, args), "syntax.json");
	CHECK(strstr(errbuf, "line 3") != NULL);
	CHECK(strstr(errbuf, "column") != NULL);

	args[1] = write_file("dup.json", "{\"hw_max\": 3, \"hw_max\": 4}");
	CHECK_BAD(load(&c, args), "dup.json");

	args[1] = "/nonexistent/jcw.json";
	CHECK_BAD(load(&c, args), "/nonexistent/jcw.json");

	args[1] = write_file("re.json",
		"{\"classifier\": [{\"type\": \"gcc\", \"pattern\": \"/usr/bin/gcc\"},"
		" {\"type\": \"clang\", \"pattern\": \"/usr/(bin\"}]}");
	CHECK_BAD(load(&c, args), "classifier[1].pattern: bad regex");
	args[1] = write_file("ty.json", "{\"classifier\": [{\"type\": \"rust\", \"pattern\": \"/x\"}]}");
	CHECK_BAD(load(&c, args), "classifier[0].type");
	args[1] = write_file("ty2.json", "{\"classifier\": [{\"type\": \"binary\", \"pattern\": \"/x\"}]}");
	CHECK_BAD(load(&c, args), "classifier[0].type");
	args[1] = write_file("rk.json", "{\"classifier\": [{\"type\": \"gcc\", \"regex\": \"/x\"}]}");
	CHECK_BAD(load(&c, args), "classifier[0]: unknown key \"regex\"");
	args[1] = write_file("rn.json", "{\"classifier\": {\"type\": \"gcc\"}}");
	CHECK_BAD(load(&c, args), "classifier");
	config_free(&c);
}

static void test_monitors(void)
{
	static const struct {
		const char *text;
		unsigned want;
	} cases[] = {
		{ "procmon", MONITOR_PROCMON }, { "filemon", MONITOR_FILEMON },
		{ "procmon,filemon", MONITOR_PROCMON | MONITOR_FILEMON },
		{ "filemon,procmon", MONITOR_PROCMON | MONITOR_FILEMON },
	};
	const char *args[] = { "--monitors", NULL, NULL };
	struct config c;
	size_t i;

	clear_env();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		args[1] = cases[i].text;
		CHECK_INT(load(&c, args), 0);
		CHECK_INT(c.monitors, cases[i].want);
		config_free(&c);
	}
	args[1] = write_file("m.json", "{\"monitors\": \"filemon\"}");
	args[0] = "--config";
	CHECK_INT(load(&c, args), 0);
	CHECK_INT(c.monitors, MONITOR_FILEMON);
	config_free(&c);
}

/* CAPTURE: any subset of build, python, binary; empty is none (no write
 * probe), a typo is refused rather than capturing less than asked. */
static void test_capture(void)
{
	static const struct {
		const char *text;
		unsigned want;
	} cases[] = {
		{ "build", CAPTURE_BUILD }, { "python", CAPTURE_PYTHON }, { "binary", CAPTURE_BINARY },
		{ "binary,build", CAPTURE_BINARY | CAPTURE_BUILD },
		{ "build,python,binary", CAPTURE_BUILD | CAPTURE_PYTHON | CAPTURE_BINARY },
		{ "python,python", CAPTURE_PYTHON }, { "", 0 },
	};
	static const char *const bad[] = { "builds", "build,", ",build", "build python", "BUILD",
					   "stdout", "build,,python" };
	const char *args[] = { "--capture", NULL, NULL };
	struct config c;
	size_t i;

	clear_env();
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.capture, CAPTURE_BUILD | CAPTURE_PYTHON);
	config_free(&c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		args[1] = cases[i].text;
		CHECK_INT(load(&c, args), 0);
		CHECK_INT(c.capture, cases[i].want);
		config_free(&c);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("CAPTURE", bad[i], 1);
		CHECK_BAD(load(&c, NULL), "CAPTURE: \"");
		config_free(&c);
	}
	setenv("CAPTURE", "stdout", 1);
	load(&c, NULL);
	CHECK_STR(errbuf, "CAPTURE: \"stdout\" is not a capture list (build, python, binary, "
		  "comma-separated, or empty)");
	config_free(&c);
	clear_env();
	args[0] = "--config";
	args[1] = write_file("cap.json", "{\"capture\": [\"binary\", \"python\"]}");
	CHECK_INT(load(&c, args), 0);
	CHECK_INT(c.capture, CAPTURE_BINARY | CAPTURE_PYTHON);
	config_free(&c);
	args[1] = write_file("cap0.json", "{\"capture\": []}");
	CHECK_INT(load(&c, args), 0);
	CHECK_INT(c.capture, 0);
	config_free(&c);
}

static void test_host_prefix(void)
{
	const char *ok[] = { "--host-prefix", "abcdefghijabcdefghijabcdefghij12", NULL };
	const char *quote[] = { "--host-prefix", "jc\"ode", NULL };
	struct config c;

	clear_env();
	CHECK_INT(load(&c, ok), 0);
	CHECK_STR(c.host_prefix, "abcdefghijabcdefghijabcdefghij12");
	config_free(&c);
	CHECK_BAD(load(&c, quote), "--host-prefix");
	CHECK(strstr(errbuf, "is not a hostname prefix") != NULL);
}

static void test_commands(void)
{
	const char *check[] = { "check", "--monitors", "filemon", NULL };
	const char *check_late[] = { "--monitors", "filemon", "check", NULL };
	const char *run[] = { "run", NULL };
	const char *help[] = { "--help", NULL };
	const char *h[] = { "-h", NULL };
	const char *version[] = { "-V", NULL };
	struct config c;

	clear_env();
	CHECK_INT(load(&c, check), 0);
	CHECK_INT(c.command, CONFIG_CHECK);
	CHECK_INT(c.monitors, MONITOR_FILEMON);
	config_free(&c);
	CHECK_INT(load(&c, check_late), 0);
	CHECK_INT(c.command, CONFIG_CHECK);
	config_free(&c);
	CHECK_INT(load(&c, run), 0);
	CHECK_INT(c.command, CONFIG_RUN);
	config_free(&c);
	/* --help must work even with a broken environment */
	setenv("METRICS_PORT", "abc", 1);
	CHECK_INT(load(&c, help), 0);
	CHECK_INT(c.command, CONFIG_HELP);
	config_free(&c);
	CHECK_INT(load(&c, h), 0);
	CHECK_INT(c.command, CONFIG_HELP);
	config_free(&c);
	CHECK_INT(load(&c, version), 0);
	CHECK_INT(c.command, CONFIG_VERSION);
	config_free(&c);
	clear_env();
}

/* getopt_long permutes; the caller's argv must come back untouched. */
static void test_argv_untouched(void)
{
	char *argv[] = { "jcode-watcher", "--hw-max", "3", "check", "--metrics-port", "1", NULL };
	struct config c;

	clear_env();
	CHECK_INT(config_load(&c, 6, argv, errbuf, sizeof(errbuf)), 0);
	CHECK_STR(argv[3], "check");
	CHECK_STR(argv[4], "--metrics-port");
	CHECK_INT(c.hw_max, 3);
	CHECK_INT(c.metrics_port, 1);
	CHECK_INT(c.command, CONFIG_CHECK);
	config_free(&c);
	/* no error buffer at all is allowed */
	argv[2] = "x";
	CHECK_INT(config_load(&c, 3, argv, NULL, 0), -EINVAL);
}

static void test_usage(void)
{
	static const char *const want[] = {
		"--config FILE", "JCW_CONFIG", "--log-level", "LOG_LEVEL", "--log-file",
		"LOG_FILE_PATH", "--api-server", "--api-timeout", "API_TIMEOUT_TOTAL",
		"--max-inflight", "API_MAX_INFLIGHT", "--metrics-addr", "--metrics-port",
		"env METRICS_PORT, default 3000", "--host-prefix", "default jcode-", "--hw-max",
		"--monitors", "--perf-pages", "--max-processes", "--watch-root", "--snapshot-base",
		"--max-file-size", "MAX_CAPTURABLE_FILE_SIZE", "--debounce-window",
		"--debounce-max-wait", "--spool-dir", "--spool-max-bytes", "--no-check",
		"--help", "--version", "default 256MiB", "--workspace-root DIR",
		"env WORKSPACE_ROOTS, default /home/coder/project,/config/workspace,"
		"/workspace/{subject}-{division}-{student_id}", "--snapshot-mode MODE",
		"default 0640", "--watches-per-student", "--metrics-max-per-ip", "--kernel-headers",
		"--state-dir", "--dead-letter-max-bytes",
	};
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	config_usage(f, "jcode-watcher");
	fclose(f);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(buf, want[i]))
			fprintf(stderr, "  usage lacks %s\n", want[i]);
		CHECK(strstr(buf, want[i]) != NULL);
	}
	free(buf);
}

static void check_list(const struct strlist *l, const char *const *want, size_t n)
{
	CHECK_INT(l->n, n);
	for (size_t i = 0; i < n && i < l->n; i++)
		CHECK_STR(l->v[i], want[i]);
}

static void test_new_defaults(void)
{
	static const char *const roots[] = { "/home/coder/project", "/config/workspace",
					     "/workspace/{subject}-{division}-{student_id}" };
	static const char *const search[] = { "/usr/src", "/opt/jcode-watcher/kernel-headers" };
	struct config c;

	clear_env();
	CHECK_INT(load(&c, NULL), 0);
	check_list(&c.workspace_roots, roots, 3);
	check_list(&c.headers_search, search, 2);
	CHECK_STR(c.kernel_headers, NULL);
	CHECK_STR(c.state_dir, "/var/lib/jcode-watcher");
	CHECK_INT(c.snapshot_mode, 0640);
	CHECK_STR(c.snapshot_owner, NULL);
	CHECK_INT(c.snapshot_uid, -1);
	CHECK_INT(c.snapshot_gid, -1);
	CHECK_INT(c.watches_per_student, 4096);
	CHECK_INT(c.metrics_max_conns, 512);
	CHECK_INT(c.metrics_max_per_ip, 16);
	CHECK_INT(c.metrics_timeout_ms, 3000);
	CHECK_INT(c.dead_letter_max_bytes, 16 * 1024 * 1024);
	config_free(&c);
}

/* Env replaces the default list; each repeated flag adds to the first. */
static void test_workspace_roots(void)
{
	static const char *const env[] = { "/srv/ws", "/u/{student_id}/code" };
	static const char *const flags[] = { "/a", "/b/{subject}-{division}", "/c" };
	static const char *const file[] = { "/with,comma", "/x/{student_id}" };
	const char *args[] = { "--workspace-root", "/a", "--workspace-root",
			       "/b/{subject}-{division},/c", NULL };
	const char *fargs[] = { "--config", NULL, NULL };
	struct config c;

	clear_env();
	setenv("WORKSPACE_ROOTS", "/srv/ws,/u/{student_id}/code", 1);
	CHECK_INT(load(&c, NULL), 0);
	check_list(&c.workspace_roots, env, 2);
	config_free(&c);
	CHECK_INT(load(&c, args), 0);
	check_list(&c.workspace_roots, flags, 3);
	config_free(&c);
	unsetenv("WORKSPACE_ROOTS");
	/* A JSON array keeps a comma inside a path. */
	fargs[1] = write_file("roots.json",
			      "{\"workspace_roots\": [\"/with,comma\", \"/x/{student_id}\"]}");
	CHECK_INT(load(&c, fargs), 0);
	check_list(&c.workspace_roots, file, 2);
	config_free(&c);
}

/* A bad item of a config file's list names its index and what is wrong,
 * for each kind of list. */
static void test_file_list_items(void)
{
	static const struct {
		const char *json, *msg;
	} bad[] = {
		{ "{\"workspace_roots\": [\"/ok\", \"/a//b\"]}",
		  "workspace_roots[1]: \"/a//b\" is not normalised (no //, ., .. or trailing /)" },
		{ "{\"kernel_headers_search\": [\"rel/dir\"]}",
		  "kernel_headers_search[0]: \"rel/dir\" is not an absolute directory" },
		{ "{\"watch_students\": [\"os-1-5\", \"os-1\"]}",
		  "watch_students[1]: \"os-1\" is not a workspace name "
		  "({subject}-{division}-{student_id})" },
	};
	struct config c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("JCW_CONFIG", write_file("list-item.json", bad[i].json), 1);
		CHECK_BAD(load(&c, NULL), bad[i].msg);
	}
	unsetenv("JCW_CONFIG");
}

static void test_bad_new_values(void)
{
	static const struct {
		const char *env, *value, *msg;
	} bad[] = {
		{ "WORKSPACE_ROOTS", "relative/dir", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "/", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "/a/../b", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "/a/", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "/a//b", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "/w/{name}", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "/w/{student_id}-{student_id}", "WORKSPACE_ROOTS" },
		{ "WORKSPACE_ROOTS", "/w/student_id}", "WORKSPACE_ROOTS" },
		{ "KERNEL_HEADERS_SEARCH", "usr/src", "KERNEL_HEADERS_SEARCH" },
		{ "SNAPSHOT_MODE", "0999", "SNAPSHOT_MODE" },
		{ "SNAPSHOT_MODE", "0", "SNAPSHOT_MODE" },
		{ "SNAPSHOT_MODE", "01777", "SNAPSHOT_MODE" },
		{ "SNAPSHOT_MODE", "rw-r-----", "SNAPSHOT_MODE" },
		{ "SNAPSHOT_OWNER", "no-such-user-jcw", "SNAPSHOT_OWNER" },
		{ "SNAPSHOT_OWNER", "root:no-such-group-jcw", "SNAPSHOT_OWNER" },
		{ "SNAPSHOT_OWNER", "root:", "SNAPSHOT_OWNER" },
		{ "WATCHES_PER_STUDENT", "-1", "WATCHES_PER_STUDENT" },
		{ "METRICS_MAX_CONNECTIONS", "2", "METRICS_MAX_CONNECTIONS" },
		{ "METRICS_TIMEOUT", "0.5", "METRICS_TIMEOUT" },
		{ "DEAD_LETTER_MAX_BYTES", "100", "DEAD_LETTER_MAX_BYTES" },
		{ "API_SERVER", "http://h:8000/#frag", "API_SERVER" },
		{ "API_SERVER", "http://h:8000/?q=1", "API_SERVER" },
		{ "API_SERVER", "http://user:pw@h:8000", "API_SERVER" },
		{ "API_SERVER", "ftp://h", "API_SERVER" },
	};
	struct config c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clear_env();
		setenv(bad[i].env, bad[i].value, 1);
		if (load(&c, NULL) != 2)
			fprintf(stderr, "  %s=%s was accepted\n", bad[i].env, bad[i].value);
		CHECK_BAD(load(&c, NULL), bad[i].msg);
	}
	clear_env();
	/* A path segment stays allowed: the API may live below a prefix. */
	setenv("API_SERVER", "http://h:8000/analytics/", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_STR(c.api_server, "http://h:8000/analytics");
	config_free(&c);
	clear_env();
}

/* jansson quotes the file's bytes in its message: a newline there must not
 * start a forged log line (found by fuzz_config). */
static void test_file_error_one_line(void)
{
	const char *args[] = { "--config", NULL, NULL };
	struct config c;

	clear_env();
	args[1] = write_file("newline.json", "{\"api_server\": \"h0.\\\\\\\n\\\\\\\\tt!\\b\\\\\"}");
	CHECK_BAD(load(&c, args), "newline.json");
	CHECK(strchr(errbuf, '\n') == NULL);
	CHECK(strstr(errbuf, "\\x0a") != NULL);
}

static void test_snapshot_owner(void)
{
	struct config c;

	clear_env();
	setenv("SNAPSHOT_OWNER", "root:root", 1);
	setenv("SNAPSHOT_MODE", "0600", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_STR(c.snapshot_owner, "root:root");
	CHECK_INT(c.snapshot_uid, 0);
	CHECK_INT(c.snapshot_gid, 0);
	CHECK_INT(c.snapshot_mode, 0600);
	config_free(&c);
	setenv("SNAPSHOT_OWNER", "1234", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.snapshot_uid, 1234);
	CHECK_INT(c.snapshot_gid, -1);
	config_free(&c);
	setenv("SNAPSHOT_OWNER", ":5678", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.snapshot_uid, -1);
	CHECK_INT(c.snapshot_gid, 5678);
	config_free(&c);
	clear_env();
}

/* The trace socket: on by default, "" turns it off, bounds enforced. */
static void test_trace_settings(void)
{
	static const char *const flags[] = { "--trace-socket", "", "--trace-max-clients", "9",
					     "--trace-buffer-bytes", "1MiB", NULL };
	static const char *const zero[] = { "--trace-max-clients", "0", NULL };
	static const char *const tiny[] = { "--trace-buffer-bytes", "100", NULL };
	struct config c;

	clear_env();
	CHECK_INT(load(&c, NULL), 0);
	CHECK_STR(c.trace_socket, "/run/jcode-watcher/trace.sock");
	CHECK_INT(c.trace_max_clients, 4);
	CHECK_INT(c.trace_buffer_bytes, 256 * 1024);
	config_free(&c);
	CHECK_INT(load(&c, flags), 0);
	CHECK_STR(c.trace_socket, NULL);
	CHECK_INT(c.trace_max_clients, 9);
	CHECK_INT(c.trace_buffer_bytes, 1024 * 1024);
	config_free(&c);
	CHECK_INT(load(&c, zero), -EINVAL);
	CHECK(strstr(errbuf, "--trace-max-clients") != NULL);
	CHECK_INT(load(&c, tiny), -EINVAL);
	CHECK(strstr(errbuf, "--trace-buffer-bytes") != NULL);
}

/* Which workspaces filemon watches: learned from procmon by default, every
 * one when nothing could name the students, never silently none. */
static void test_watch_scope(void)
{
	const char *students[] = { "--monitors", "filemon", "--watch-student", "os-1-202012345",
				   "--watch-student", "ai-2-7", NULL };
	const char *all[] = { "--monitors", "procmon,filemon", "--watch-all", "1", NULL };
	const char *scoped[] = { "--monitors", "procmon,filemon", "--watch-all", "0", NULL };
	const char *none[] = { "--monitors", "filemon", "--watch-all", "0", NULL };
	const char *bad_name[] = { "--watch-student", "../etc", NULL };
	const char *bad_all[] = { "--watch-all", "yes", NULL };
	const char *short_idle[] = { "--workspace-idle-seconds", "0.5", NULL };
	const char *no_max[] = { "--max-workspaces", "0", NULL };
	struct config c;

	clear_env();
	CHECK_INT(load(&c, NULL), 0);	/* MONITORS=procmon: procmon names them */
	CHECK_INT(c.watch_all, CONFIG_AUTO);
	CHECK_INT(c.watch_students.n, 0);
	CHECK_INT(c.max_workspaces, 1024);
	CHECK_INT(c.workspace_idle_ms, 3600000);
	config_free(&c);

	setenv("MONITORS", "filemon", 1);	/* alone: upstream's single server */
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.watch_all, 1);
	config_free(&c);
	setenv("WATCH_STUDENTS", "os-1-202012345,os-1-202099999", 1);
	setenv("WORKSPACE_IDLE_SECONDS", "90", 1);
	setenv("MAX_WORKSPACES", "3", 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.watch_all, 0);
	CHECK_INT(c.watch_students.n, 2);
	CHECK_STR(c.watch_students.v[1], "os-1-202099999");
	CHECK_INT(c.workspace_idle_ms, 90000);
	CHECK_INT(c.max_workspaces, 3);
	config_free(&c);
	clear_env();

	CHECK_INT(load(&c, students), 0);	/* the flag again adds to the list */
	CHECK_INT(c.watch_all, 0);
	CHECK_INT(c.watch_students.n, 2);
	CHECK_STR(c.watch_students.v[0], "os-1-202012345");
	CHECK_STR(c.watch_students.v[1], "ai-2-7");
	config_free(&c);
	CHECK_INT(load(&c, all), 0);
	CHECK_INT(c.watch_all, 1);
	config_free(&c);
	CHECK_INT(load(&c, scoped), 0);
	CHECK_INT(c.watch_all, 0);
	config_free(&c);

	setenv("JCW_CONFIG", write_file("scope.json", "{\"monitors\": \"filemon\", "
		"\"watch_all\": false, \"watch_students\": [\"os-1-5\"]}"), 1);
	CHECK_INT(load(&c, NULL), 0);
	CHECK_INT(c.watch_all, 0);
	CHECK_INT(c.watch_students.n, 1);
	CHECK_STR(c.watch_students.v[0], "os-1-5");
	config_free(&c);
	setenv("JCW_CONFIG", write_file("scope-bad.json", "{\"watch_students\": [\"os-1\"]}"), 1);
	CHECK_BAD(load(&c, NULL), "watch_students[0]: \"os-1\" is not a workspace name");
	unsetenv("JCW_CONFIG");

	CHECK_BAD(load(&c, none), "WATCH_ALL=0: filemon would watch no workspace");
	CHECK_BAD(load(&c, bad_name), "--watch-student: \"../etc\" is not a list of workspace names");
	CHECK_BAD(load(&c, bad_all), "--watch-all: \"yes\" is not auto, 1 or 0");
	CHECK_BAD(load(&c, short_idle), "--workspace-idle-seconds");
	CHECK_BAD(load(&c, no_max), "--max-workspaces");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_defaults);
	RUN(test_ring_buffer);
	RUN(test_log_format);
	RUN(test_capture_limits);
	RUN(test_env);
	RUN(test_flags_override_env);
	RUN(test_file_below_env);
	RUN(test_config_flag_beats_env_file);
	RUN(test_bad_env);
	RUN(test_bad_flags);
	RUN(test_bad_file);
	RUN(test_monitors);
	RUN(test_capture);
	RUN(test_host_prefix);
	RUN(test_commands);
	RUN(test_argv_untouched);
	RUN(test_usage);
	RUN(test_new_defaults);
	RUN(test_workspace_roots);
	RUN(test_bad_new_values);
	RUN(test_snapshot_owner);
	RUN(test_file_error_one_line);
	RUN(test_trace_settings);
	RUN(test_watch_scope);
	RUN(test_file_list_items);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return TEST_DONE();
}

/*
 * main.c - jcode-watcher: start-up, the event loop, shutdown.
 *
 * Everything the agent does happens on one loop (loop.c): perf buffers
 * (collector.c), inotify (filemon.c), curl sockets (sender.c), timers and
 * signals.  Only /metrics runs on libmicrohttpd's own thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf_loader.h"
#include "check.h"
#include "classifier.h"
#include "collector.h"
#include "config.h"
#include "filemon.h"
#include "fsutil.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "metrics_server.h"
#include "notify.h"
#include "pipeline.h"
#include "sender.h"
#include "trace_cli.h"
#include "trace_hub.h"
#include "version.h"

#define SHUTDOWN_FLUSH_MS 10000
/*
 * Inside the agent errors are negative errno values; here, once, they
 * become the exit status: -EINVAL means a setting is wrong (exit 2, as
 * for bad configuration, and systemd does not restart), anything else that
 * the machine failed us (exit 1).
 */
static int exit_status(int err)
{
	if (err >= 0)
		return 0;
	return err == -EINVAL ? CONFIG_EXIT_BAD : 1;
}

struct agent {
	struct config cfg;
	struct loop *loop;
	struct sender *sender;
	struct classifier *classifier;
	struct pipeline *pipeline;
	struct collector *collector;
	struct filemon *filemon;
	struct metrics_server *metrics;
	struct trace_hub *trace;
	int signal_fd;
};

static void on_signal(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("main", "received %s, shutting down", strsignal((int)si.ssi_signo));
	loop_stop(loop);
}

/* The loop turned: /healthz and the dashboards watch this. */
static void beat(struct agent *a)
{
	if (a->cfg.monitors & MONITOR_PROCMON)
		metrics_heartbeat_loop(SERVICE_PROCMON);
	if (a->cfg.monitors & MONITOR_FILEMON)
		metrics_heartbeat_loop(SERVICE_FILEMON);
}

static long long heartbeat(struct loop *loop, long long id, void *arg)
{
	struct agent *a = arg;

	beat(a);
	if (a->collector)
		collector_export_stats(a->collector);
	return 1000;
}

static int setup_signals(struct agent *a)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	a->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (a->signal_fd < 0)
		return -errno;
	return loop_add_fd(a->loop, a->signal_fd, LOOP_READ, on_signal, a);
}

static struct classifier *build_classifier(const struct config *cfg)
{
	struct classifier *c;
	char err[256];

	if (cfg->nrules == 0)
		return classifier_create_default();
	c = classifier_create();
	for (size_t i = 0; c && i < cfg->nrules; i++) {
		/* config_load() validated every rule already. */
		if (classifier_add(c, process_type_parse(cfg->rules[i].type),
				   cfg->rules[i].pattern, err, sizeof(err)) < 0) {
			log_error("main", "classifier[%zu]: %s", i, err);
			classifier_free(c);
			return NULL;
		}
	}
	return c;
}

/* RING_BUFFER=auto: the ring buffer where the kernel has it (5.8+). */
static bool use_ringbuf(const struct config *cfg)
{
	bool have = collector_ringbuf_supported();

	if (cfg->ring_buffer == 1 && !have)
		log_warn("procmon", "RING_BUFFER=on, but this kernel has no BPF ring buffer; "
			 "using the per-CPU perf buffer");
	return cfg->ring_buffer != 0 && have;
}

/* The BPF text from JCW_TEST_BPF_TEXT, a file: for tests that need a
 * program that does not compile.  NULL (the built-in text) without it. */
static char *test_bpf_text(void)
{
	const char *path = getenv("JCW_TEST_BPF_TEXT");
	long long len;
	char *text;
	int fd;

	if (!path || !*path)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	text = fd >= 0 ? fs_read_file(fd, 1 << 20, &len) : NULL;
	if (fd >= 0)
		close(fd);
	if (text) {
		char *t = realloc(text, (size_t)len + 1);

		if (!t) {
			free(text);
			return NULL;
		}
		t[len] = '\0';
		text = t;
		log_warn("procmon", "test only: BPF text from JCW_TEST_BPF_TEXT=%s", path);
	}
	return text;
}

/*
 * The image the loader child re-executes.  /proc/self/exe is the agent's own
 * even if the file on disk was replaced since it started.  valgrind refuses
 * to exec that path (it would be valgrind), so a benchmark that counts the
 * agent's instructions under callgrind names the binary in JCW_LOADER_EXE.
 */
static const char *loader_exe(void)
{
	const char *exe = getenv("JCW_LOADER_EXE");

	if (!exe || !*exe)
		return "/proc/self/exe";
	log_warn("procmon", "test only: the BPF loader runs %s (JCW_LOADER_EXE)", exe);
	return exe;
}

/* The BTF the loader reads struct offsets from: the running kernel's,
 * unless a test names another (a missing file forces the kernel-header
 * fallback, the path of nodes without BTF). */
static const char *btf_path(void)
{
	const char *path = getenv("JCW_TEST_BTF_PATH");

	if (!path || !*path)
		return NULL;
	log_warn("procmon", "test only: struct offsets from the BTF at %s (JCW_TEST_BTF_PATH)",
		 path);
	return path;
}

/* procmon -> filemon, one way: a student container ran something here.
 * filemon starts after procmon, and may not run at all. */
static void student_seen(void *arg, const struct identity *id)
{
	struct agent *a = arg;

	filemon_student_seen(a->filemon, id);
}

/* What one capture root may send from the kernel: the most the agent
 * keeps of it, with room for what comes before a traceback; never less
 * than 64 KiB, which protects the ring (4 MiB) from a chatty program. */
static long long kernel_capture_budget(const struct config *cfg)
{
	long long most = cfg->diag_max_bytes > cfg->traceback_max_bytes ? cfg->diag_max_bytes :
			 cfg->traceback_max_bytes;

	return most * 4 > 65536 ? most * 4 : 65536;
}

static int start_procmon(struct agent *a)
{
	struct collector_config cc = {
		.host_prefix = a->cfg.host_prefix,
		.ringbuf_bytes = a->cfg.ringbuf_bytes,
		.perf_pages = a->cfg.perf_pages,
		.max_processes = a->cfg.max_processes,
		.capture = a->cfg.capture,
		.capture_budget = kernel_capture_budget(&a->cfg),
		.exe = loader_exe(),
		.btf_path = btf_path(),
	};
	struct pipeline_config pc = {
		.host_prefix = a->cfg.host_prefix,
		.hw_max = a->cfg.hw_max,
		.sender = a->sender,
		.workspace_roots = a->cfg.workspace_roots.v,
		.n_workspace_roots = a->cfg.workspace_roots.n,
		.max_processes = a->cfg.max_processes,
		.capture = a->cfg.capture,
		.diag_max_bytes = (size_t)a->cfg.diag_max_bytes,
		.traceback_max_bytes = (size_t)a->cfg.traceback_max_bytes,
		.trace = a->trace,
		.student_seen = (a->cfg.monitors & MONITOR_FILEMON) ? student_seen : NULL,
		.student_seen_arg = a,
	};
	char err[4096], *text;

	if (a->cfg.ringbuf_bytes & (a->cfg.ringbuf_bytes - 1)) {
		log_error("procmon", "RINGBUF_BYTES=%lld is not a power of two", a->cfg.ringbuf_bytes);
		return -EINVAL;
	}
	cc.ringbuf = use_ringbuf(&a->cfg);
	a->classifier = build_classifier(&a->cfg);
	if (!a->classifier)
		return -ENOMEM;
	pc.classifier = a->classifier;
	a->pipeline = pipeline_create(&pc);
	if (!a->pipeline)
		return -ENOMEM;
	text = test_bpf_text();
	cc.bpf_text = text;
	a->collector = collector_open(a->loop, &cc, pipeline_record, a->pipeline, err, sizeof(err));
	free(text);
	if (!a->collector) {
		log_error("procmon", "%s", err);
		return -EIO;
	}
	log_info("procmon", "probes attached to sched:sched_process_exec/exit, "
		 "hostnames \"%s*\", offsets from %s, records through the %s", a->cfg.host_prefix,
		 collector_uses_btf(a->collector) ? "BTF" : "kernel headers",
		 collector_uses_ringbuf(a->collector) ? "ring buffer" : "per-CPU perf buffer");
	metrics_set_ready(SERVICE_PROCMON, true);
	return 0;
}

static int start_filemon(struct agent *a)
{
	struct snapshot_perms perms = { .mode = (unsigned)a->cfg.snapshot_mode,
					.uid = a->cfg.snapshot_uid, .gid = a->cfg.snapshot_gid };
	struct filemon_config fc = {
		.watch_root = a->cfg.watch_root,
		.snapshot_base = a->cfg.snapshot_base,
		.max_file_size = a->cfg.max_file_size,
		.debounce_window_ms = a->cfg.debounce_window_ms,
		.debounce_max_wait_ms = a->cfg.debounce_max_wait_ms,
		.hw_max = a->cfg.hw_max,
		.watches_per_student = a->cfg.watches_per_student,
		.perms = &perms,
		.scoped = config_scoped(&a->cfg),
		.all_if_blind = a->cfg.watch_all == CONFIG_AUTO,
		.students = a->cfg.watch_students.v,
		.nstudents = a->cfg.watch_students.n,
		.max_workspaces = a->cfg.max_workspaces,
		.workspace_idle_ms = a->cfg.workspace_idle_ms,
		.host_prefix = a->cfg.host_prefix,
		.marker_dir = config_scoped(&a->cfg) ? a->cfg.state_dir : NULL,
	};
	char err[512];
	int rc = fc.marker_dir ? fs_mkdir_p(fc.marker_dir, 0755) : 0;

	if (rc < 0)
		log_warn("filemon", "STATE_DIR=%s: %s (the restart marker cannot be kept)",
			 fc.marker_dir, strerror(-rc));
	a->filemon = filemon_start(a->loop, &fc, a->sender, err, sizeof(err));
	if (!a->filemon) {
		log_error("filemon", "%s", err);
		return -EIO;
	}
	log_info("filemon", "watching %s (%zu directories), snapshots in %s", a->cfg.watch_root,
		 filemon_watch_count(a->filemon), a->cfg.snapshot_base);
	return 0;
}

/* TRACE_SOCKET: a setting that cannot be served stops the agent (exit 2),
 * as a busy METRICS_PORT does. */
static int start_trace(struct agent *a)
{
	struct trace_hub_config tc = {
		.path = a->cfg.trace_socket,
		.max_clients = a->cfg.trace_max_clients,
		.client_buffer = (size_t)a->cfg.trace_buffer_bytes,
	};
	char err[512];

	if (!tc.path)
		return 0;
	a->trace = trace_hub_open(a->loop, &tc, err, sizeof(err));
	if (!a->trace) {
		log_error("main", "TRACE_SOCKET=%s", err);
		return -EINVAL;
	}
	return 0;
}

static bool spooling(const struct config *cfg)
{
	return cfg->api_server && *cfg->api_server && cfg->spool_dir && *cfg->spool_dir;
}

/* sender_create() says why only in its log; with a spool configured, the
 * spool is what fails (its other failure is running out of memory at
 * start), and its error line above says how. */
static int sender_failed(const struct config *cfg)
{
	if (!spooling(cfg)) {
		log_error("main", "cannot start the sender");
		return -ENOMEM;
	}
	log_error("main", "SPOOL_DIR=%s: cannot open the spool (see the line above)",
		  cfg->spool_dir);
	return -EINVAL;
}

static int start(struct agent *a)
{
	struct sender_config sc = {
		.api_server = a->cfg.api_server,
		.timeout_ms = a->cfg.api_timeout_ms,
		.max_inflight = a->cfg.max_inflight,
		.queue_max = a->cfg.queue_max,
		.spool_dir = a->cfg.spool_dir,
		.spool_max_bytes = a->cfg.spool_max_bytes,
		.dead_letter_max_bytes = a->cfg.dead_letter_max_bytes,
	};
	struct metrics_server_opts mo = {
		.addr = a->cfg.metrics_addr,
		.port = a->cfg.metrics_port,
		.max_conns = a->cfg.metrics_max_conns,
		.max_per_ip = a->cfg.metrics_max_per_ip,
		.timeout_ms = a->cfg.metrics_timeout_ms,
	};
	char err[256];
	int rc;

	a->loop = loop_create();
	rc = a->loop ? setup_signals(a) : -errno;
	if (rc < 0) {
		log_error("main", "event loop: %s", strerror(-rc));
		return rc == -EINVAL ? -EIO : rc;	/* not a setting's fault */
	}
	if (a->cfg.monitors & MONITOR_PROCMON)
		metrics_require_ready(SERVICE_PROCMON);
	if (a->cfg.monitors & MONITOR_FILEMON)
		metrics_require_ready(SERVICE_FILEMON);
	a->metrics = metrics_server_start(&mo, err, sizeof(err));
	if (!a->metrics) {
		log_error("main", "METRICS_PORT=%d%s%s: metrics server: %s", a->cfg.metrics_port,
			  a->cfg.metrics_addr ? ", METRICS_ADDR=" : "",
			  a->cfg.metrics_addr ? a->cfg.metrics_addr : "", err);
		return -EINVAL;
	}
	a->sender = sender_create(a->loop, &sc);
	if (!a->sender)
		return sender_failed(&a->cfg);
	if ((rc = start_trace(a)) < 0)
		return rc;
	beat(a);
	loop_add_timer(a->loop, 1000, heartbeat, a);
	if ((a->cfg.monitors & MONITOR_PROCMON) && (rc = start_procmon(a)) < 0)
		return rc;
	if ((a->cfg.monitors & MONITOR_FILEMON) && (rc = start_filemon(a)) < 0)
		return rc;
	log_info("main", "jcode-watcher %s running: events to %s, metrics on port %d",
		 JCW_VERSION, a->cfg.api_server && *a->cfg.api_server ? a->cfg.api_server : "stdout",
		 metrics_server_port(a->metrics));
	return 0;
}

/* Detach first so nothing new arrives, then give what is queued a bounded
 * time to reach the API. */
static void stop(struct agent *a)
{
	size_t left;

	collector_close(a->collector);
	a->collector = NULL;
	/* Pending debounced saves are snapshotted now, not lost. */
	filemon_stop(a->filemon);
	a->filemon = NULL;
	if (a->sender) {
		left = sender_drain(a->sender, SHUTDOWN_FLUSH_MS);
		if (left)
			log_warn("main", "%zu events still unsent at shutdown", left);
		sender_destroy(a->sender);
	}
	pipeline_destroy(a->pipeline);
	trace_hub_close(a->trace);
	classifier_free(a->classifier);
	metrics_server_stop(a->metrics);
	if (a->signal_fd >= 0)
		close(a->signal_fd);
	loop_destroy(a->loop);
}

/* path must be a directory, or (missing_ok) not exist yet below one. */
static int check_dir(const char *key, const char *path, bool missing_ok)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
	} else if (missing_ok && errno == ENOENT) {
		return 0;
	}
	log_error("main", "%s=%s: %s", key, path, strerror(errno));
	return -EINVAL;
}

/*
 * Paths the settings name, checked before anything starts so that a typo
 * stops the agent with exit 2 and the key, as a bad value does, instead of
 * a component's error and exit 1.  SNAPSHOT_BASE may be missing (a volume
 * not mounted yet: filemon stays not ready until it is writable).
 */
static int check_settings(const struct config *cfg)
{
	if (spooling(cfg) && check_dir("SPOOL_DIR", cfg->spool_dir, true) < 0)
		return -EINVAL;
	if (!(cfg->monitors & MONITOR_FILEMON))
		return 0;
	if (check_dir("WATCH_ROOT", cfg->watch_root, false) < 0)
		return -EINVAL;
	return check_dir("SNAPSHOT_BASE", cfg->snapshot_base, true);
}

static int preflight(const struct config *cfg, FILE *out)
{
	struct check_env env;

	check_env_from_config(&env, cfg);
	return check_run(out, &env, cfg->monitors);
}

/* Before any thread starts: this sets BCC_KERNEL_SOURCE for libbcc. */
static int use_headers(const struct config *cfg)
{
	struct check_env env;

	if (!(cfg->monitors & MONITOR_PROCMON))
		return 0;
	check_env_from_config(&env, cfg);
	return check_use_headers(&env);
}

static int setup_logging(const struct config *cfg)
{
	log_set_level(cfg->log_level);
	log_set_json(cfg->log_json);
	log_detect_journal();
	if (cfg->log_file && log_open_file(cfg->log_file, cfg->log_max_bytes,
					   cfg->log_backup_count) < 0) {
		fprintf(stderr, "jcode-watcher: LOG_FILE_PATH %s: %s\n", cfg->log_file,
			strerror(errno));
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct agent a = { .signal_fd = -1 };
	char err[512];
	int rc = 0;

	/* The BPF loader: this binary again, in a fresh image (bpf_loader.h). */
	if (argc > 1 && !strcmp(argv[1], BPF_LOADER_ARG))
		return bpf_loader_main(argc, argv);
	/* A client of the running agent, with its own flags (trace_cli.h). */
	if (argc > 1 && !strcmp(argv[1], "trace"))
		return trace_cli_main(argc - 1, argv + 1);
	rc = config_load(&a.cfg, argc, argv, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "jcode-watcher: %s\n", err);
		return exit_status(rc);
	}
	switch (a.cfg.command) {
	case CONFIG_HELP:
		config_usage(stdout, argv[0]);
		goto out;
	case CONFIG_VERSION:
		printf("jcode-watcher %s\n", JCW_VERSION);
		goto out;
	case CONFIG_CHECK:
		rc = preflight(&a.cfg, stdout) ? 1 : 0;
		goto out;
	case CONFIG_RUN:
		break;
	}
	rc = setup_logging(&a.cfg);
	if (rc == 0)
		rc = check_settings(&a.cfg);
	if (rc < 0) {
		rc = exit_status(rc);
		goto out;
	}
	if (!a.cfg.skip_check && preflight(&a.cfg, stderr) > 0) {
		log_error("main", "preflight failed; fix the FAIL lines above "
			  "(or run `jcode-watcher check`)");
		rc = 1;
		goto out;
	}
	if (use_headers(&a.cfg) < 0) {
		rc = 1;
		goto out;
	}
	metrics_reset();
	rc = start(&a);
	if (rc == 0) {
		/* Probes attached, filemon watching: systemd may call us started. */
		notify_send("READY=1");
		loop_run(a.loop);
		notify_send("STOPPING=1");
	}
	rc = exit_status(rc);
	stop(&a);
	log_info("main", "stopped");
out:
	config_free(&a.cfg);
	log_close();
	return rc;
}

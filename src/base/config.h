/*
 * config.h - every setting of the agent, in one struct.
 *
 * Sources, lowest to highest precedence: built-in defaults < JSON config file
 * (--config FILE or JCW_CONFIG) < environment variables < command-line flags.
 * The environment names are the upstream Python agents' names, so an existing
 * deployment's manifest keeps working unchanged; JSON keys are the same names
 * in lower case and each flag is the same name as --lower-case-with-dashes.
 */
#ifndef JCW_CONFIG_H
#define JCW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define MONITOR_PROCMON 0x1u
#define MONITOR_FILEMON 0x2u

/* CAPTURE: whose stderr the kernel reads (build: compilers and what they
 * start; python: interpreters; binary: any other student program). */
#define CAPTURE_BUILD 0x1u
#define CAPTURE_PYTHON 0x2u
#define CAPTURE_BINARY 0x4u

/* Exit status for a configuration the agent refuses to start with (main.c
 * maps -EINVAL from config_load() and start-up to it). */
#define CONFIG_EXIT_BAD 2

/* A tri-state setting left to the agent (RING_BUFFER=auto). */
#define CONFIG_AUTO (-1)

enum config_command { CONFIG_RUN, CONFIG_CHECK, CONFIG_HELP, CONFIG_VERSION };

/* A list setting: WORKSPACE_ROOTS, KERNEL_HEADERS_SEARCH, WATCH_STUDENTS. */
struct strlist {
	char **v;
	size_t n;
};

struct config_rule {		/* classifier override */
	char *type;
	char *pattern;
};

struct config {
	enum config_command command;
	char *config_file;
	int log_level;            /* enum log_level; LOG_LEVEL, default INFO */
	char *log_file;           /* LOG_FILE_PATH, default NULL */
	long long log_max_bytes;  /* LOG_MAX_BYTES, 10485760 */
	int log_backup_count;     /* LOG_BACKUP_COUNT, 0 */
	char *api_server;         /* API_SERVER; NULL = JSON lines on stdout; no trailing slash */
	long api_timeout_ms;      /* API_TIMEOUT / API_TIMEOUT_TOTAL seconds, 20 s */
	int max_inflight;         /* API_MAX_INFLIGHT, 8 (1..256) */
	int queue_max;            /* QUEUE_MAX, 100000 events held in memory */
	char *metrics_addr;       /* METRICS_ADDR, NULL = all interfaces */
	int metrics_port;         /* METRICS_PORT, 3000 (0 = ephemeral, for tests) */
	int metrics_max_conns;    /* METRICS_MAX_CONNECTIONS, 512 */
	int metrics_max_per_ip;   /* METRICS_MAX_PER_IP, 16 (0 = no limit) */
	long metrics_timeout_ms;  /* METRICS_TIMEOUT seconds, 3 s: idle connections closed */
	char *host_prefix;        /* HOST_PREFIX, "jcode-"; [A-Za-z0-9._-]{1,32} */
	int hw_max;               /* HW_MAX, 20 (0..1000) */
	struct strlist workspace_roots; /* WORKSPACE_ROOTS, --workspace-root (repeatable) */
	struct config_rule *rules;/* JSON "classifier"; NULL = built-in rules */
	size_t nrules;
	unsigned monitors;        /* MONITORS, MONITOR_* bits; default procmon */
	int log_json;             /* LOG_FORMAT: 0 text, 1 json */
	int ring_buffer;          /* RING_BUFFER: CONFIG_AUTO (probe the kernel), 1 on, 0 off */
	long long ringbuf_bytes;  /* RINGBUF_BYTES, 4 MiB, a power of two */
	int perf_pages;           /* PERF_PAGES per CPU, 64, power of two 8..16384 */
	int max_processes;        /* MAX_PROCESSES, 65536 (256..1048576) */
	char *kernel_headers;     /* KERNEL_HEADERS, NULL = search (see kheaders.h) */
	struct strlist headers_search; /* KERNEL_HEADERS_SEARCH, dirs holding linux-headers-* */
	char *state_dir;          /* STATE_DIR, /var/lib/jcode-watcher: what the agent builds */
	long long diag_max_bytes; /* DIAG_MAX_BYTES, 16 KiB (1 KiB..1 MiB): head of a build's stderr */
	long long traceback_max_bytes; /* TRACEBACK_MAX_BYTES, 4 KiB (256 B..1 MiB): tail of Python's */
	unsigned capture;         /* CAPTURE, CAPTURE_* bits; default build,python; 0 = no write probe */
	/* filemon */
	char *watch_root;         /* WATCH_ROOT, /watcher/codes */
	char *snapshot_base;      /* SNAPSHOT_BASE, /watcher/snapshots */
	long long max_file_size;  /* MAX_CAPTURABLE_FILE_SIZE, 65536 */
	long debounce_window_ms;  /* DEBOUNCE_WINDOW seconds, 0.6 s */
	long debounce_max_wait_ms;/* DEBOUNCE_MAX_WAIT seconds, 3 s */
	int snapshot_mode;        /* SNAPSHOT_MODE, octal, 0640 */
	char *snapshot_owner;     /* SNAPSHOT_OWNER, "user[:group]" or ids, NULL = the agent's */
	long snapshot_uid;        /* resolved from SNAPSHOT_OWNER; -1 = leave as created */
	long snapshot_gid;        /* likewise; -1 = leave as created */
	int watches_per_student;  /* WATCHES_PER_STUDENT, 4096 (0 = no budget) */
	int watch_all;            /* WATCH_ALL, 1 or 0; "auto" is resolved by config_load():
				   * 0 with WATCH_STUDENTS, 1 when nothing names students,
				   * CONFIG_AUTO with procmon (filemon decides, see filemon.h) */
	struct strlist watch_students; /* WATCH_STUDENTS, workspace names always watched */
	int max_workspaces;       /* MAX_WORKSPACES, 1024 learned from procmon at once */
	long workspace_idle_ms;   /* WORKSPACE_IDLE_SECONDS, 3600 s */
	/* durable delivery */
	char *spool_dir;          /* SPOOL_DIR, /var/lib/jcode-watcher/spool */
	long long spool_max_bytes;/* SPOOL_MAX_BYTES, 256 MiB */
	long long dead_letter_max_bytes; /* DEAD_LETTER_MAX_BYTES, 16 MiB, then rotated once */
	bool skip_check;          /* --no-check: skip the start-up preflight */
	/* jcode-watcher trace */
	char *trace_socket;       /* TRACE_SOCKET, /run/jcode-watcher/trace.sock; "" = none */
	int trace_max_clients;    /* TRACE_MAX_CLIENTS, 4 */
	long long trace_buffer_bytes; /* TRACE_BUFFER_BYTES per client, 256 KiB */
};

/*
 * Fill cfg from defaults, file, environment (getenv) and argv.  Returns 0, or
 * -EINVAL with a one-line message in err that names the bad key
 * (env var, JSON key or --flag) and the value.  With --help or --version the
 * command is set and nothing but argv is looked at.  On error cfg is already
 * released; calling config_free() on it again is harmless.  argv is not
 * modified.
 */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
void config_free(struct config *cfg);

/* filemon watches only the students on this node (WATCH_ALL 0 or auto),
 * not every workspace below WATCH_ROOT. */
static inline bool config_scoped(const struct config *cfg)
{
	return cfg->watch_all != 1;
}

/* Is this a valid workspace root: absolute, normalised, "{subject}",
 * "{division}" and "{student_id}" each at most once and no other braces?
 * 0, or -EINVAL with the reason in err. */
int config_check_root(const char *root, char *err, size_t errlen);

/* The --help text: every flag, its env var and its default. */
void config_usage(FILE *out, const char *argv0);

#endif

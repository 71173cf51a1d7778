/*
 * config.c - defaults < JSON file < environment < flags, validated strictly.
 *
 * Every setting is one row of opts[]: its environment name (the upstream
 * agents' names), the flag and JSON key derived from it, how to parse it and
 * its default as text.  Defaults go through the same parser as user input,
 * so --help can never disagree with what the agent really uses.
 *
 * A bad value stops the agent with exit status 2 and a message naming where
 * the value came from: an agent that silently fell back to a default would
 * post to the wrong server or watch the wrong tree, and nobody would notice
 * until data was missing.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "classifier.h"
#include "config.h"
#include "identity.h"
#include "log.h"
#include "scope.h"

enum opt_kind {
	K_STR,		/* non-empty string */
	K_NSTR,		/* string, "" = NULL */
	K_URL,		/* http(s) URL, "" = NULL */
	K_PREFIX,	/* host name prefix, spliced into BPF C code */
	K_LEVEL,	/* log level name */
	K_INT,		/* int in [min, max] */
	K_PORT,		/* TCP port, 0 allowed for tests */
	K_POW2,		/* int power of two in [min, max] */
	K_SIZE,		/* long long bytes, optional K/M/G suffix */
	K_MS,		/* seconds (float) stored as long milliseconds */
	K_MONITORS,	/* "procmon,filemon" */
	K_CAPTURE,	/* "build,python,binary", any subset, "" = none */
	K_ROOTS,	/* list of workspace roots, "a,b" or a JSON array; flag repeatable */
	K_DIRS,		/* list of absolute directories, likewise */
	K_MODE,		/* file mode in octal, 0..0777 */
	K_OWNER,	/* "user[:group]", names or numeric ids, "" = NULL */
	K_AUTO,		/* "auto", "on" or "off": CONFIG_AUTO, 1, 0 */
	K_LOGFMT,	/* "text" or "json": 0, 1 */
	K_TRISTATE,	/* "auto", "1" or "0": CONFIG_AUTO, 1, 0 */
	K_NAMES,	/* list of workspace names {subject}-{division}-{student_id} */
};

enum opt_src { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG };

struct opt {
	const char *env;
	const char *flag;	/* long option without "--"; NULL = env/file only */
	const char *arg;	/* placeholder in --help */
	enum opt_kind kind;
	size_t off;
	long long min, max;
	const char *def;	/* NULL = leave zero/NULL */
	const char *help;
};

#define OPT(env, flag, arg, kind, field, min, max, def, help) \
	{ env, flag, arg, kind, offsetof(struct config, field), min, max, def, help }

#define MIB (1024LL * 1024)
#define TIB (MIB * MIB)

/* A default another module owns, as the string a row's def is. */
#define NUMBER(macro) NUMBER_(macro)
#define NUMBER_(x) #x

/*
 * API_TIMEOUT_TOTAL comes before API_TIMEOUT so that, with both set, our own
 * name wins: rows are applied in order within each source.
 */
static const struct opt opts[] = {
	OPT("LOG_LEVEL", "log-level", "LEVEL", K_LEVEL, log_level, 0, 0, "INFO",
	    "DEBUG, INFO, WARN or ERROR"),
	OPT("LOG_FORMAT", "log-format", "text|json", K_LOGFMT, log_json, 0, 0, "text",
	    "json: one JSON object a line (ts, level, module, msg)"),
	OPT("LOG_FILE_PATH", "log-file", "FILE", K_NSTR, log_file, 0, 0, NULL,
	    "also log to FILE, rotated by size"),
	OPT("LOG_MAX_BYTES", "log-max-bytes", "BYTES", K_SIZE, log_max_bytes, 0, TIB, "10MiB",
	    "rotate the log file at this size (0 = never)"),
	OPT("LOG_BACKUP_COUNT", "log-backup-count", "N", K_INT, log_backup_count, 0, 100000, "0",
	    "rotated log files kept (0 = keep all, timestamped)"),
	OPT("API_SERVER", "api-server", "URL", K_URL, api_server, 0, 0, NULL,
	    "analytics API base URL; empty = print events as JSON lines on stdout"),
	OPT("API_TIMEOUT_TOTAL", NULL, NULL, K_MS, api_timeout_ms, 1, 3600000, NULL,
	    "upstream filemon name of API_TIMEOUT"),
	OPT("API_TIMEOUT", "api-timeout", "SECONDS", K_MS, api_timeout_ms, 1, 3600000, "20",
	    "timeout of one API request (env API_TIMEOUT_TOTAL works too)"),
	OPT("API_MAX_INFLIGHT", "max-inflight", "N", K_INT, max_inflight, 1, 256, "8",
	    "API requests in flight at once"),
	OPT("QUEUE_MAX", "queue-max", "N", K_INT, queue_max, 1, 100000000, "100000",
	    "events held in memory before spooling/dropping"),
	OPT("METRICS_ADDR", "metrics-addr", "ADDR", K_NSTR, metrics_addr, 0, 0, NULL,
	    "address of the Prometheus endpoint (default: all interfaces)"),
	OPT("METRICS_PORT", "metrics-port", "PORT", K_PORT, metrics_port, 0, 65535, "3000",
	    "port of the Prometheus endpoint"),
	OPT("METRICS_MAX_CONNECTIONS", "metrics-max-connections", "N", K_INT, metrics_max_conns,
	    4, 65536, "512", "connections the metrics endpoint serves at once"),
	OPT("METRICS_MAX_PER_IP", "metrics-max-per-ip", "N", K_INT, metrics_max_per_ip, 0, 65536,
	    "16", "connections one client address may hold (0 = no limit)"),
	OPT("METRICS_TIMEOUT", "metrics-timeout", "SECONDS", K_MS, metrics_timeout_ms, 1000,
	    600000, "3", "close a metrics connection idle this long"),
	OPT("HOST_PREFIX", "host-prefix", "PREFIX", K_PREFIX, host_prefix, 1, 32, "jcode-",
	    "only containers whose hostname starts with PREFIX are watched"),
	OPT("HW_MAX", "hw-max", "N", K_INT, hw_max, 0, 1000, "20",
	    "highest homework number hwN that counts"),
	OPT("WORKSPACE_ROOTS", "workspace-root", "DIR", K_ROOTS, workspace_roots, 0, 0,
	    "/home/coder/project,/config/workspace,/workspace/{subject}-{division}-{student_id}",
	    "workspace root inside a student container (repeat the flag for more; "
	    "{subject} {division} {student_id} must match the hostname)"),
	OPT("MONITORS", "monitors", "LIST", K_MONITORS, monitors, 0, 0, "procmon",
	    "procmon, filemon or procmon,filemon"),
	OPT("RING_BUFFER", "ring-buffer", "auto|on|off", K_AUTO, ring_buffer, 0, 0, "auto",
	    "one BPF ring buffer for every CPU (kernel 5.8+); off: the per-CPU perf buffer"),
	OPT("RINGBUF_BYTES", "ringbuf-bytes", "BYTES", K_SIZE, ringbuf_bytes, 65536, 1LL << 30,
	    "4MiB", "size of the ring buffer, a power of two"),
	OPT("PERF_PAGES", "perf-pages", "N", K_POW2, perf_pages, 8, 16384, "64",
	    "perf buffer pages per CPU, a power of two (RING_BUFFER=off or kernels before 5.8)"),
	OPT("MAX_PROCESSES", "max-processes", "N", K_INT, max_processes, 256, 1048576, "65536",
	    "student processes followed at once from exec to exit"),
	OPT("KERNEL_HEADERS", "kernel-headers", "DIR", K_NSTR, kernel_headers, 0, 0, NULL,
	    "kernel headers for libbcc (default: /lib/modules/$(uname -r)/build, else searched)"),
	OPT("KERNEL_HEADERS_SEARCH", "kernel-headers-search", "DIRS", K_DIRS, headers_search, 0, 0,
	    "/usr/src,/opt/jcode-watcher/kernel-headers",
	    "directories searched for linux-headers-* when the kernel's own are missing"),
	OPT("STATE_DIR", "state-dir", "DIR", K_STR, state_dir, 0, 0, "/var/lib/jcode-watcher",
	    "the agent's own files (kernel headers it assembles)"),
	OPT("DIAG_MAX_BYTES", "diag-max-bytes", "BYTES", K_SIZE, diag_max_bytes, 1024, MIB, "16KiB",
	    "a build's stderr kept (its head) for the payload and its diagnostics"),
	OPT("TRACEBACK_MAX_BYTES", "traceback-max-bytes", "BYTES", K_SIZE, traceback_max_bytes,
	    256, MIB, "4KiB", "a Python run's stderr kept (its tail: the traceback)"),
	OPT("CAPTURE", "capture", "LIST", K_CAPTURE, capture, 0, 0, "build,python",
	    "whose stderr is read in the kernel: build, python, binary, any of them; "
	    "empty = none (no write probe attached)"),
	OPT("WATCH_ROOT", "watch-root", "DIR", K_STR, watch_root, 0, 0, "/watcher/codes",
	    "filemon: root of the student workspaces"),
	OPT("SNAPSHOT_BASE", "snapshot-base", "DIR", K_STR, snapshot_base, 0, 0,
	    "/watcher/snapshots", "filemon: where snapshots are written"),
	OPT("MAX_CAPTURABLE_FILE_SIZE", "max-file-size", "BYTES", K_SIZE, max_file_size, 1,
	    1024 * MIB, "65536", "filemon: larger files are skipped"),
	OPT("DEBOUNCE_WINDOW", "debounce-window", "SECONDS", K_MS, debounce_window_ms, 0, 60000,
	    "0.6", "filemon: flush a file this long after its last change"),
	OPT("DEBOUNCE_MAX_WAIT", "debounce-max-wait", "SECONDS", K_MS, debounce_max_wait_ms, 0,
	    600000, "3", "filemon: flush at the latest this long after the first change"),
	OPT("SNAPSHOT_MODE", "snapshot-mode", "MODE", K_MODE, snapshot_mode, 1, 0777, "0640",
	    "filemon: permission bits of snapshot files, octal"),
	OPT("SNAPSHOT_OWNER", "snapshot-owner", "USER[:GROUP]", K_OWNER, snapshot_owner, 0, 0, NULL,
	    "filemon: owner of snapshot files, for the backend that serves them"),
	OPT("WATCHES_PER_STUDENT", "watches-per-student", "N", K_INT, watches_per_student, 0,
	    100000000, "4096", "filemon: inotify watches one workspace may take (0 = no budget)"),
	OPT("WATCH_ALL", "watch-all", "auto|1|0", K_TRISTATE, watch_all, 0, 0, "auto",
	    "filemon: 1 watches every workspace (single server); 0 only those of students on "
	    "this node; auto: 0 with procmon (1 if it cannot read the node's namespaces) or "
	    "WATCH_STUDENTS, else 1"),
	OPT("WATCH_STUDENTS", "watch-student", "WORKSPACE", K_NAMES, watch_students, 0, 0, NULL,
	    "filemon: a workspace always watched, {subject}-{division}-{student_id} (repeat the "
	    "flag for more)"),
	OPT("MAX_WORKSPACES", "max-workspaces", "N", K_INT, max_workspaces, 1, 1000000,
	    NUMBER(SCOPE_DEFAULT_MAX),
	    "filemon: workspaces learned from procmon watched at once"),
	OPT("WORKSPACE_IDLE_SECONDS", "workspace-idle-seconds", "SECONDS", K_MS,
	    workspace_idle_ms, 1000, 30LL * 24 * 3600 * 1000, NUMBER(SCOPE_DEFAULT_IDLE_S),
	    "filemon: a workspace whose student has been gone from this node this long is dropped"),
	OPT("SPOOL_DIR", "spool-dir", "DIR", K_STR, spool_dir, 0, 0, "/var/lib/jcode-watcher/spool",
	    "events the API has not taken yet are kept here across restarts"),
	OPT("SPOOL_MAX_BYTES", "spool-max-bytes", "BYTES", K_SIZE, spool_max_bytes, 0, TIB,
	    "256MiB", "spool size limit"),
	OPT("DEAD_LETTER_MAX_BYTES", "dead-letter-max-bytes", "BYTES", K_SIZE,
	    dead_letter_max_bytes, 4096, TIB, "16MiB",
	    "dead-letter.jsonl is rotated to dead-letter.jsonl.1 at this size"),
	OPT("TRACE_SOCKET", "trace-socket", "PATH", K_NSTR, trace_socket, 0, 0,
	    "/run/jcode-watcher/trace.sock",
	    "Unix socket `jcode-watcher trace` reads from (mode 0600; empty = none)"),
	OPT("TRACE_MAX_CLIENTS", "trace-max-clients", "N", K_INT, trace_max_clients, 1, 64, "4",
	    "trace clients served at once"),
	OPT("TRACE_BUFFER_BYTES", "trace-buffer-bytes", "BYTES", K_SIZE, trace_buffer_bytes,
	    4096, 64 * MIB, "256KiB",
	    "lines held for one trace client; past that its lines are dropped and counted"),
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* getopt_long values for the flags that are not rows of opts[] */
enum { FLAG_CONFIG = 1, FLAG_NO_CHECK, FLAG_ROW = 256 };

struct loader {
	struct config *cfg;
	char *err;
	size_t errlen;
	const char *file;	/* config file, for messages */
};

static int fail(struct loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->errlen) {
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A value shown in a message: bounded, and no control bytes to forge lines. */
static const char *quote(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	for (; *s && o + 8 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += snprintf(buf + o, n - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (*s)
		o += snprintf(buf + o, n - o, "...");
	buf[o] = '\0';
	return buf;
}

/* The name the user wrote: METRICS_PORT, --metrics-port or the JSON key. */
static const char *key_name(const struct loader *ld, const struct opt *o, enum opt_src src,
			    char *buf, size_t n)
{
	size_t i, o_len;

	switch (src) {
	case SRC_FLAG:
		snprintf(buf, n, "--%s", o->flag);
		break;
	case SRC_FILE:
		o_len = (size_t)snprintf(buf, n, "config file %s: ", ld->file);
		for (i = 0; o->env[i] && o_len + 1 < n; i++)
			buf[o_len++] = (char)tolower((unsigned char)o->env[i]);
		if (o_len < n)
			buf[o_len] = '\0';
		break;
	default:
		snprintf(buf, n, "%s", o->env);
	}
	return buf;
}

/* Strict decimal: no blanks, no '+', whole digits; *end gets what follows. */
static int parse_ll(const char *s, long long *v, char **end)
{
	if (!isdigit((unsigned char)s[0]) && !(s[0] == '-' && isdigit((unsigned char)s[1])))
		return -EINVAL;
	errno = 0;
	*v = strtoll(s, end, 10);
	return errno ? -EINVAL : 0;
}

static int parse_int(const char *s, const struct opt *o, int *out)
{
	long long v;
	char *end;

	if (parse_ll(s, &v, &end) || *end || v < o->min || v > o->max)
		return -EINVAL;
	if (o->kind == K_POW2 && (v & (v - 1)))
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static const struct {
	const char *suffix;
	long long mult;
} size_suffixes[] = {
	{ "", 1 }, { "B", 1 },
	{ "K", 1024 }, { "k", 1024 }, { "KiB", 1024 }, { "KB", 1000 }, { "kB", 1000 },
	{ "M", MIB }, { "MiB", MIB }, { "MB", 1000000 },
	{ "G", 1024 * MIB }, { "GiB", 1024 * MIB }, { "GB", 1000000000 },
	{ "T", TIB }, { "TiB", TIB }, { "TB", 1000000000000LL },
};

static int parse_size(const char *s, const struct opt *o, long long *out)
{
	long long v;
	char *end;
	size_t i;

	if (parse_ll(s, &v, &end) || v < 0)
		return -EINVAL;
	for (i = 0; i < sizeof(size_suffixes) / sizeof(size_suffixes[0]); i++) {
		if (strcmp(end, size_suffixes[i].suffix))
			continue;
		if (v > LLONG_MAX / size_suffixes[i].mult)
			return -EINVAL;
		v *= size_suffixes[i].mult;
		if (v < o->min || v > o->max)
			return -EINVAL;
		*out = v;
		return 0;
	}
	return -EINVAL;
}

/* Seconds as upstream takes them ("0.6"), or with an explicit s/ms unit. */
static int parse_ms(const char *s, const struct opt *o, long *out)
{
	double v;
	char *end;

	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || !isfinite(v))
		return -EINVAL;
	if (!strcmp(end, "ms"))
		v /= 1000;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	v *= 1000;
	if (v < (double)o->min || v > (double)o->max)
		return -EINVAL;
	*out = lround(v);
	return 0;
}

struct set_name {
	const char *name;
	unsigned bit;
};

static const struct set_name monitor_names[] = {
	{ "procmon", MONITOR_PROCMON }, { "filemon", MONITOR_FILEMON }, { NULL, 0 },
};

static const struct set_name capture_names[] = {
	{ "build", CAPTURE_BUILD }, { "python", CAPTURE_PYTHON }, { "binary", CAPTURE_BINARY },
	{ NULL, 0 },
};

/* "a,b": the bits of the names, each one of names[]; "" only when allowed. */
static int parse_set(const char *s, const struct set_name *names, bool empty_ok, unsigned *out)
{
	unsigned m = 0;
	const char *p = s;

	if (!*s) {
		if (!empty_ok)
			return -EINVAL;
		*out = 0;
		return 0;
	}
	for (;;) {
		size_t n = strcspn(p, ",");
		const struct set_name *k = names;

		while (k->name && (strlen(k->name) != n || strncmp(p, k->name, n)))
			k++;
		if (!k->name)
			return -EINVAL;
		m |= k->bit;
		if (!p[n])
			break;
		p += n + 1;
	}
	*out = m;
	return 0;
}

/* The scheme decides the transport, the sender appends "/api/..." itself. */
static int parse_url(const char *s, char **out)
{
	const char *host;
	size_t n, i;

	if (!strncasecmp(s, "http://", 7))
		host = s + 7;
	else if (!strncasecmp(s, "https://", 8))
		host = s + 8;
	else
		return -EINVAL;
	if (!*host || *host == '/')
		return -EINVAL;
	/* A fragment, query or user info would be sent nowhere or to the wrong
	 * place once "/api/..." is appended: refuse them. */
	if (strpbrk(s, "#?") || memchr(host, '@', strcspn(host, "/")))
		return -EINVAL;
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return -EINVAL;
	n = strlen(s);
	while (n > (size_t)(host - s) && s[n - 1] == '/')
		n--;
	*out = strndup(s, n);
	return *out ? 0 : -ENOMEM;
}

/* One of the list's items: 0, or -1 with nothing changed. */
static int strlist_push(struct strlist *l, const char *item)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n] = strdup(item);
	if (!v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static void strlist_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const char *const root_fields[] = { "{subject}", "{division}", "{student_id}" };

/* A placeholder at s, or -1; its length in *len. */
static int root_field_at(const char *s, size_t *len)
{
	for (int i = 0; i < 3; i++) {
		*len = strlen(root_fields[i]);
		if (!strncmp(s, root_fields[i], *len))
			return i;
	}
	return -EINVAL;
}

int config_check_root(const char *r, char *err, size_t errlen)
{
	bool seen[3] = { false, false, false };
	const char *why = NULL;
	size_t len;
	int f;

	if (r[0] != '/' || !r[1])
		why = "is not an absolute directory below /";
	else if (strstr(r, "//") || strstr(r, "/./") || strstr(r, "/../") ||
		 r[strlen(r) - 1] == '/' || !strcmp(r + strlen(r) - 2, "/.") ||
		 (strlen(r) >= 3 && !strcmp(r + strlen(r) - 3, "/..")))
		why = "is not normalised (no //, ., .. or trailing /)";
	for (const char *p = r; !why && *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			why = "has a control character";
		else if (*p == '}')
			why = "has a '}' that closes no placeholder";
		else if (*p == '{' && (f = root_field_at(p, &len)) < 0)
			why = "has a placeholder other than {subject}, {division}, {student_id}";
		else if (*p == '{' && seen[f])
			why = "names a placeholder twice";
		else if (*p == '{') {
			seen[f] = true;
			p += len - 1;
		}
	}
	if (!why)
		return 0;
	if (errlen)
		snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

/* One item of a list setting, in an env value, a flag or a config file's
 * array; when it is bad, why (errlen bytes, may be 0) says so. */
static bool list_item_ok(enum opt_kind kind, const char *item, char *why, size_t errlen)
{
	const char *bad;

	if (kind == K_ROOTS)
		return config_check_root(item, why, errlen) == 0;
	if (kind == K_NAMES && !identity_is_workspace(item))
		bad = "is not a workspace name ({subject}-{division}-{student_id})";
	else if (kind == K_DIRS && item[0] != '/')
		bad = "is not an absolute directory";
	else
		return true;
	if (errlen)
		snprintf(why, errlen, "%s", bad);
	return false;
}

/* Split "a,b" into a list, checking each item; append to l or replace it. */
static int parse_list(const char *s, enum opt_kind kind, struct strlist *l, bool append)
{
	struct strlist nl = { 0 };
	char *copy = strdup(s), *save = NULL, *item;
	int rc = copy ? 0 : -ENOMEM;

	for (item = copy ? strtok_r(copy, ",", &save) : NULL; item && !rc;
	     item = strtok_r(NULL, ",", &save)) {
		if (!list_item_ok(kind, item, NULL, 0))
			rc = -EINVAL;
		else
			rc = strlist_push(&nl, item);
	}
	free(copy);
	if (!rc && !nl.n)
		rc = -EINVAL;	/* an empty list would watch nothing: say so */
	if (rc) {
		strlist_clear(&nl);
		return -EINVAL;
	}
	if (!append)
		strlist_clear(l);
	for (size_t i = 0; i < nl.n && !rc; i++)
		rc = strlist_push(l, nl.v[i]);
	strlist_clear(&nl);
	return rc;
}

static int parse_mode(const char *s, const struct opt *o, int *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 8);
	if (errno || *end || v < o->min || v > o->max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* A user or group: a name the system knows, or a numeric id. */
static long lookup_id(const char *name, bool group)
{
	char *end;
	long v;

	if (isdigit((unsigned char)name[0])) {
		errno = 0;
		v = strtol(name, &end, 10);
		return errno || *end || v > INT_MAX ? -EINVAL : v;
	}
	if (group) {
		struct group *g = getgrnam(name);

		return g ? (long)g->gr_gid : -ENOENT;
	}
	struct passwd *pw = getpwnam(name);

	return pw ? (long)pw->pw_uid : -ENOENT;
}

static int parse_owner(struct config *cfg, const char *s)
{
	char user[256];
	const char *colon = strchr(s, ':');
	size_t ulen = colon ? (size_t)(colon - s) : strlen(s);
	long uid = -1, gid = -1;

	if (!*s) {
		free(cfg->snapshot_owner);
		cfg->snapshot_owner = NULL;
		cfg->snapshot_uid = cfg->snapshot_gid = -1;
		return 0;
	}
	if (ulen >= sizeof(user))
		return -EINVAL;
	memcpy(user, s, ulen);
	user[ulen] = '\0';
	if (ulen && (uid = lookup_id(user, false)) < 0)
		return -EINVAL;
	if (colon && (!colon[1] || (gid = lookup_id(colon + 1, true)) < 0))
		return -EINVAL;
	if (!ulen && !colon)
		return -EINVAL;
	free(cfg->snapshot_owner);
	cfg->snapshot_owner = strdup(s);
	if (!cfg->snapshot_owner)
		return -EINVAL;
	cfg->snapshot_uid = uid;
	cfg->snapshot_gid = gid;
	return 0;
}

/* The prefix is pasted into the BPF program's C text: only safe characters. */
static int parse_prefix(const char *s, char **out)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789._-") != n)
		return -EINVAL;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int parse_string(const char *s, enum opt_kind kind, char **out)
{
	switch (kind) {
	case K_URL:
		if (!*s) {
			*out = NULL;
			return 0;
		}
		return parse_url(s, out);
	case K_PREFIX:
		return parse_prefix(s, out);
	case K_NSTR:
		if (!*s) {
			*out = NULL;
			return 0;
		}
		break;
	default:
		if (!*s)
			return -EINVAL;
	}
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static bool is_string_kind(enum opt_kind k)
{
	return k == K_STR || k == K_NSTR || k == K_URL || k == K_PREFIX || k == K_OWNER;
}

static bool is_list_kind(enum opt_kind k)
{
	return k == K_ROOTS || k == K_DIRS || k == K_NAMES;
}

/* A set of names, "a,b" or a JSON array: MONITORS, CAPTURE. */
static bool is_set_kind(enum opt_kind k)
{
	return k == K_MONITORS || k == K_CAPTURE;
}

static int parse_auto(const char *s, int *out)
{
	if (!strcmp(s, "auto"))
		*out = CONFIG_AUTO;
	else if (!strcmp(s, "on"))
		*out = 1;
	else if (!strcmp(s, "off"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int parse_tristate(const char *s, int *out)
{
	if (!strcmp(s, "auto"))
		*out = CONFIG_AUTO;
	else if (!strcmp(s, "1"))
		*out = 1;
	else if (!strcmp(s, "0"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

/* Parse s into the field of o; 0 or a negative errno (bad value, no memory). */
static int parse_value(struct config *cfg, const struct opt *o, const char *s)
{
	void *field = (char *)cfg + o->off;
	int level;

	if (o->kind == K_OWNER)
		return parse_owner(cfg, s);
	if (is_string_kind(o->kind)) {
		char *v;

		if (parse_string(s, o->kind, &v))
			return -EINVAL;
		free(*(char **)field);
		*(char **)field = v;
		return 0;
	}
	switch (o->kind) {
	case K_LEVEL:
		level = log_level_parse(s);
		if (level < 0)
			return -EINVAL;
		*(int *)field = level;
		return 0;
	case K_INT:
	case K_PORT:
	case K_POW2:
		return parse_int(s, o, field);
	case K_SIZE:
		return parse_size(s, o, field);
	case K_MS:
		return parse_ms(s, o, field);
	case K_MONITORS:
		return parse_set(s, monitor_names, false, field);
	case K_CAPTURE:
		return parse_set(s, capture_names, true, field);
	case K_ROOTS:
	case K_DIRS:
	case K_NAMES:
		return parse_list(s, o->kind, field, false);
	case K_MODE:
		return parse_mode(s, o, field);
	case K_AUTO:
		return parse_auto(s, field);
	case K_TRISTATE:
		return parse_tristate(s, field);
	case K_LOGFMT:
		if (strcmp(s, "text") && strcmp(s, "json"))
			return -EINVAL;
		*(int *)field = !strcmp(s, "json");
		return 0;
	default:
		return -EINVAL;
	}
}

/* What a value of this kind must look like, for the error message. */
static const char *expected(const struct opt *o, char *buf, size_t n)
{
	switch (o->kind) {
	case K_STR:
		return "is empty";
	case K_URL:
		return "is not an http:// or https:// URL without user info, query or fragment";
	case K_PREFIX:
		return "is not a hostname prefix (1-32 characters of A-Z a-z 0-9 . _ -)";
	case K_LEVEL:
		return "is not a log level (DEBUG, INFO, WARN, ERROR)";
	case K_PORT:
		return "is not a port number (1-65535)";
	case K_MONITORS:
		return "is not a monitor list (procmon, filemon or procmon,filemon)";
	case K_CAPTURE:
		return "is not a capture list (build, python, binary, comma-separated, or empty)";
	case K_AUTO:
		return "is not auto, on or off";
	case K_TRISTATE:
		return "is not auto, 1 or 0";
	case K_NAMES:
		return "is not a list of workspace names ({subject}-{division}-{student_id})";
	case K_LOGFMT:
		return "is not text or json";
	case K_ROOTS:
		return "is not a list of workspace roots (absolute, normalised, placeholders "
		       "{subject} {division} {student_id} at most once each)";
	case K_DIRS:
		return "is not a list of absolute directories";
	case K_MODE:
		return "is not a file mode in octal (0..0777)";
	case K_OWNER:
		return "is not a known user[:group] (names or numeric ids)";
	case K_POW2:
		snprintf(buf, n, "is not a power of two in %lld..%lld", o->min, o->max);
		return buf;
	case K_SIZE:
		snprintf(buf, n, "is not a size in bytes in %lld..%lld (suffixes K, M, G, KiB, MiB, GiB, KB, MB, GB)",
			 o->min, o->max);
		return buf;
	case K_MS:
		snprintf(buf, n, "is not a duration in seconds in %g..%g", o->min / 1000.0,
			 o->max / 1000.0);
		return buf;
	default:
		snprintf(buf, n, "is not an integer in %lld..%lld", o->min, o->max);
		return buf;
	}
}

static int set_value(struct loader *ld, const struct opt *o, enum opt_src src, const char *s)
{
	char key[512], val[96], why[128];

	if (!parse_value(ld->cfg, o, s))
		return 0;
	return fail(ld, "%s: \"%s\" %s", key_name(ld, o, src, key, sizeof(key)),
		    quote(s, val, sizeof(val)), expected(o, why, sizeof(why)));
}

static void config_set_defaults(struct config *cfg)
{
	struct loader ld = { .cfg = cfg };
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->snapshot_uid = cfg->snapshot_gid = -1;
	for (i = 0; i < NOPTS; i++)
		if (opts[i].def)
			set_value(&ld, &opts[i], SRC_DEFAULT, opts[i].def);
}

/* ---- JSON file ---- */

static const struct opt *opt_by_json_key(const char *key)
{
	size_t i, j;

	for (i = 0; i < NOPTS; i++) {
		const char *e = opts[i].env;

		for (j = 0; e[j] && key[j] == tolower((unsigned char)e[j]); j++)
			;
		if (!e[j] && !key[j])
			return &opts[i];
	}
	return NULL;
}

/* monitors may be ["procmon", "filemon"]: join it to the env syntax. */
static int json_join_array(const json_t *arr, char *buf, size_t n)
{
	size_t i, o = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return -EINVAL;
		o += snprintf(buf + o, o < n ? n - o : 0, "%s%s", i ? "," : "", json_string_value(v));
		if (o >= n)
			return -EINVAL;
	}
	return 0;
}

/* Render a JSON scalar as the text an env var would hold; -1 = wrong type. */
static int json_to_text(const struct opt *o, const json_t *v, char *buf, size_t n)
{
	if (json_is_string(v)) {
		snprintf(buf, n, "%s", json_string_value(v));
		return strlen(json_string_value(v)) < n ? 0 : -ENAMETOOLONG;
	}
	if (json_is_null(v) && (o->kind == K_NSTR || o->kind == K_URL)) {
		buf[0] = '\0';
		return 0;
	}
	if (is_string_kind(o->kind) || o->kind == K_LEVEL || o->kind == K_AUTO ||
	    o->kind == K_LOGFMT || is_list_kind(o->kind))
		return -EINVAL;
	if (json_is_boolean(v) && o->kind == K_TRISTATE) {
		snprintf(buf, n, "%d", json_is_true(v) ? 1 : 0);
		return 0;
	}
	if (json_is_array(v) && is_set_kind(o->kind))
		return json_join_array(v, buf, n);
	if (json_is_integer(v) && !is_set_kind(o->kind)) {
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return 0;
	}
	if (json_is_real(v) && !is_set_kind(o->kind)) {
		snprintf(buf, n, "%.17g", json_real_value(v));
		return 0;
	}
	return -EINVAL;
}

static const char *json_type_wanted(const struct opt *o)
{
	if (is_list_kind(o->kind))
		return "a string or an array of strings";
	if (is_set_kind(o->kind))
		return "a string or an array of strings";
	if (o->kind == K_NSTR || o->kind == K_URL)
		return "a string or null";
	if (is_string_kind(o->kind) || o->kind == K_LEVEL || o->kind == K_AUTO ||
	    o->kind == K_LOGFMT)
		return "a string";
	return "a number or a string";
}

static int file_rule(struct loader *ld, struct classifier *cl, size_t idx, const json_t *r)
{
	struct config_rule *rule = &ld->cfg->rules[idx];
	const char *key, *type, *pattern;
	char msg[256], val[96];
	json_t *v;
	int t;

	if (!json_is_object(r))
		return fail(ld, "config file %s: classifier[%zu]: expected an object {\"type\", \"pattern\"}",
			    ld->file, idx);
	json_object_foreach((json_t *)r, key, v) {
		if (strcmp(key, "type") && strcmp(key, "pattern"))
			return fail(ld, "config file %s: classifier[%zu]: unknown key \"%s\"",
				    ld->file, idx, quote(key, val, sizeof(val)));
		if (!json_is_string(v))
			return fail(ld, "config file %s: classifier[%zu].%s: expected a string",
				    ld->file, idx, key);
	}
	type = json_string_value(json_object_get(r, "type"));
	pattern = json_string_value(json_object_get(r, "pattern"));
	if (!type || !pattern)
		return fail(ld, "config file %s: classifier[%zu]: needs both \"type\" and \"pattern\"",
			    ld->file, idx);
	/* Only classifying types make sense: "binary" is decided by path, not exe. */
	t = process_type_parse(type);
	if (t < 0 || !(process_type_is_compiler(t) || t == PROCESS_PYTHON))
		return fail(ld, "config file %s: classifier[%zu].type: \"%s\" is not a process type (gcc, g++, clang, python)",
			    ld->file, idx, quote(type, val, sizeof(val)));
	if (classifier_add(cl, t, pattern, msg, sizeof(msg)))
		return fail(ld, "config file %s: classifier[%zu].pattern: %s", ld->file, idx, msg);
	rule->type = strdup(type);
	rule->pattern = strdup(pattern);
	if (!rule->type || !rule->pattern)
		return fail(ld, "config file %s: out of memory", ld->file);
	return 0;
}

static int file_rules(struct loader *ld, const json_t *arr)
{
	struct classifier *cl;
	size_t i, n;
	int rc = 0;

	if (!json_is_array(arr))
		return fail(ld, "config file %s: classifier: expected an array of {\"type\", \"pattern\"}",
			    ld->file);
	n = json_array_size(arr);
	if (!n)
		return 0;	/* an empty list means the built-in rules */
	cl = classifier_create();
	ld->cfg->rules = calloc(n, sizeof(*ld->cfg->rules));
	if (!cl || !ld->cfg->rules) {
		classifier_free(cl);
		return fail(ld, "config file %s: out of memory", ld->file);
	}
	ld->cfg->nrules = n;
	for (i = 0; i < n && !rc; i++)
		rc = file_rule(ld, cl, i, json_array_get(arr, i));
	classifier_free(cl);
	return rc;
}

/* A list as a JSON array: one item each, so a path may hold a comma. */
static int file_list(struct loader *ld, const struct opt *o, const char *key, const json_t *arr)
{
	struct strlist *l = (struct strlist *)((char *)ld->cfg + o->off);
	char why[256], val[96];
	size_t i;
	json_t *v;

	if (!json_array_size(arr))
		return fail(ld, "config file %s: %s: the list is empty", ld->file, key);
	strlist_clear(l);
	json_array_foreach(arr, i, v) {
		const char *item = json_string_value(v);

		if (!item)
			return fail(ld, "config file %s: %s[%zu]: expected a string", ld->file, key, i);
		if (!list_item_ok(o->kind, item, why, sizeof(why)))
			return fail(ld, "config file %s: %s[%zu]: \"%s\" %s", ld->file, key, i,
				    quote(item, val, sizeof(val)), why);
		if (strlist_push(l, item))
			return fail(ld, "config file %s: out of memory", ld->file);
	}
	return 0;
}

static int file_key(struct loader *ld, const char *key, const json_t *v)
{
	const struct opt *o;
	char text[4096], val[96];

	if (!strcmp(key, "classifier"))
		return file_rules(ld, v);
	o = opt_by_json_key(key);
	if (!o)
		return fail(ld, "config file %s: unknown key \"%s\"", ld->file,
			    quote(key, val, sizeof(val)));
	if (is_list_kind(o->kind) && json_is_array(v))
		return file_list(ld, o, key, v);
	if (json_to_text(o, v, text, sizeof(text)))
		return fail(ld, "config file %s: %s: expected %s", ld->file, key,
			    json_type_wanted(o));
	return set_value(ld, o, SRC_FILE, text);
}

static int load_file(struct loader *ld, const char *path)
{
	json_error_t je;
	const char *key;
	json_t *root, *v;
	int rc = 0;

	ld->file = path;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		char why[160];

		/* jansson's "near '...'" quotes the file's own bytes: a newline
		 * there would forge a second log line. */
		quote(je.text, why, sizeof(why));
		if (je.line > 0)
			return fail(ld, "config file %s: %s (line %d, column %d)", path, why,
				    je.line, je.column);
		return fail(ld, "config file %s: %s", path, why);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(ld, "config file %s: expected a JSON object at the top level", path);
	}
	json_object_foreach(root, key, v) {
		rc = file_key(ld, key, v);
		if (rc)
			break;
	}
	json_decref(root);
	return rc;
}

/* ---- command line ---- */

struct flag_value {
	const struct opt *o;
	const char *value;
};

struct args {
	struct flag_value *vals;
	size_t nvals;
	const char *config_file;
};

static void build_longopts(struct option *lo)
{
	size_t i, n = 0;

	for (i = 0; i < NOPTS; i++) {
		if (!opts[i].flag)
			continue;
		lo[n++] = (struct option){ opts[i].flag, required_argument, NULL, FLAG_ROW + (int)i };
	}
	lo[n++] = (struct option){ "config", required_argument, NULL, FLAG_CONFIG };
	lo[n++] = (struct option){ "no-check", no_argument, NULL, FLAG_NO_CHECK };
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
}

static int take_command(struct loader *ld, char **rest, int nrest)
{
	char val[96];

	if (nrest == 0)
		return 0;
	if (!strcmp(rest[0], "run"))
		ld->cfg->command = CONFIG_RUN;
	else if (!strcmp(rest[0], "check"))
		ld->cfg->command = CONFIG_CHECK;
	else if (!strcmp(rest[0], "trace"))	/* main.c runs it only as argv[1] */
		return fail(ld, "trace takes its own options: jcode-watcher trace [--help]");
	else
		return fail(ld, "unknown command \"%s\" (commands: run, check, trace; see --help)",
			    quote(rest[0], val, sizeof(val)));
	if (nrest > 1)
		return fail(ld, "unexpected argument \"%s\" (see --help)",
			    quote(rest[1], val, sizeof(val)));
	return 0;
}

static int getopt_error(struct loader *ld, int c, char **av)
{
	char val[96];
	const char *arg = optind > 0 ? av[optind - 1] : "?";

	if (c == ':')
		return fail(ld, "option %s needs a value", quote(arg, val, sizeof(val)));
	/* a long option is unknown, ambiguous, or given a value it does not take */
	if (!strncmp(arg, "--", 2))
		return fail(ld, "unknown option %s (see --help)", quote(arg, val, sizeof(val)));
	return fail(ld, "unknown option -%c (see --help)", isprint(optopt) ? optopt : '?');
}

/* getopt_long permutes its argv, so work on a copy: the caller's stays intact. */
static int parse_args(struct loader *ld, int argc, char **argv, struct args *a)
{
	struct option lo[NOPTS + 5];
	bool help = false, version = false;
	char **av;
	int c, rc = 0;

	av = calloc((size_t)argc + 1, sizeof(*av));
	a->vals = calloc((size_t)argc + 1, sizeof(*a->vals));
	if (!av || !a->vals) {
		free(av);
		return fail(ld, "out of memory");
	}
	memcpy(av, argv, (size_t)argc * sizeof(*av));
	build_longopts(lo);
	optind = 0;	/* 0, not 1: glibc then resets its state for a fresh argv */
	opterr = 0;
	while (!rc && (c = getopt_long(argc, av, ":hV", lo, NULL)) != -1) {
		if (c >= FLAG_ROW)
			a->vals[a->nvals++] = (struct flag_value){ &opts[c - FLAG_ROW], optarg };
		else if (c == FLAG_CONFIG)
			a->config_file = optarg;
		else if (c == FLAG_NO_CHECK)
			ld->cfg->skip_check = true;
		else if (c == 'h')
			help = true;
		else if (c == 'V')
			version = true;
		else
			rc = getopt_error(ld, c, av);
	}
	if (!rc)
		rc = take_command(ld, av + optind, argc - optind);
	if (!rc && version)
		ld->cfg->command = CONFIG_VERSION;
	if (!rc && help)
		ld->cfg->command = CONFIG_HELP;
	free(av);
	return rc;
}

/* ---- putting it together ---- */

static int load_env(struct loader *ld)
{
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		const char *v = getenv(opts[i].env);

		if (v && set_value(ld, &opts[i], SRC_ENV, v))
			return -EINVAL;
	}
	return 0;
}

/*
 * WATCH_ALL=auto: filemon learns whose workspaces to watch from procmon
 * (left CONFIG_AUTO: filemon falls back to every workspace when it cannot
 * read the node's namespaces) or from WATCH_STUDENTS (0); with neither
 * (filemon alone, upstream's single-server setup) it watches them all (1).
 * WATCH_ALL=0 with neither would watch nothing: refused, not silently idle.
 */
static int resolve_watch_all(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	bool procmon = cfg->monitors & MONITOR_PROCMON;

	if (cfg->watch_all == CONFIG_AUTO && !cfg->watch_students.n)
		cfg->watch_all = procmon ? CONFIG_AUTO : 1;
	else if (cfg->watch_all == CONFIG_AUTO)
		cfg->watch_all = 0;
	if (cfg->watch_all || procmon || cfg->watch_students.n ||
	    !(cfg->monitors & MONITOR_FILEMON))
		return 0;
	return fail(ld, "WATCH_ALL=0: filemon would watch no workspace: MONITORS has no "
		    "procmon to learn the students on this node from, and WATCH_STUDENTS is "
		    "empty (set WATCH_ALL=1, add procmon, or list WATCH_STUDENTS)");
}

static int check_consistency(struct loader *ld)
{
	const struct config *cfg = ld->cfg;

	if (cfg->debounce_max_wait_ms < cfg->debounce_window_ms)
		return fail(ld, "DEBOUNCE_MAX_WAIT: %g s is shorter than DEBOUNCE_WINDOW (%g s)",
			    cfg->debounce_max_wait_ms / 1000.0, cfg->debounce_window_ms / 1000.0);
	return resolve_watch_all(ld);
}

/* A list flag given again adds to what the first one set: --workspace-root A
 * --workspace-root B is the list A,B, replacing file and environment. */
static int set_flag(struct loader *ld, const struct args *a, size_t i)
{
	const struct flag_value *fv = &a->vals[i];
	char key[512], val[96], why[256];
	bool again = false;

	if (!is_list_kind(fv->o->kind))
		return set_value(ld, fv->o, SRC_FLAG, fv->value);
	for (size_t j = 0; j < i; j++)
		again |= a->vals[j].o == fv->o;
	if (!parse_list(fv->value, fv->o->kind, (void *)((char *)ld->cfg + fv->o->off), again))
		return 0;
	if (fv->o->kind == K_ROOTS && !strchr(fv->value, ',') &&
	    config_check_root(fv->value, why, sizeof(why)))
		return fail(ld, "%s: \"%s\" %s", key_name(ld, fv->o, SRC_FLAG, key, sizeof(key)),
			    quote(fv->value, val, sizeof(val)), why);
	return fail(ld, "%s: \"%s\" %s", key_name(ld, fv->o, SRC_FLAG, key, sizeof(key)),
		    quote(fv->value, val, sizeof(val)), expected(fv->o, why, sizeof(why)));
}

static int load_layers(struct loader *ld, const struct args *a)
{
	const char *file = a->config_file;
	size_t i;

	if (!file) {
		file = getenv("JCW_CONFIG");
		if (file && !*file)
			file = NULL;
	}
	if (file) {
		ld->cfg->config_file = strdup(file);
		if (!ld->cfg->config_file)
			return fail(ld, "out of memory");
		if (load_file(ld, file))
			return -EINVAL;
	}
	if (load_env(ld))
		return -EINVAL;
	for (i = 0; i < a->nvals; i++)
		if (set_flag(ld, a, i))
			return -EINVAL;
	return check_consistency(ld);
}

int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct loader ld = { .cfg = cfg, .err = err, .errlen = err ? errlen : 0 };
	struct args a = { 0 };
	int rc;

	if (ld.errlen)
		err[0] = '\0';
	config_set_defaults(cfg);
	rc = parse_args(&ld, argc, argv, &a);
	/* --help and --version must work even when the environment is broken */
	if (!rc && cfg->command != CONFIG_HELP && cfg->command != CONFIG_VERSION)
		rc = load_layers(&ld, &a);
	free(a.vals);
	if (!rc)
		return 0;
	config_free(cfg);
	return -EINVAL;
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		if (is_string_kind(opts[i].kind))
			free(*(char **)((char *)cfg + opts[i].off));
		if (is_list_kind(opts[i].kind))
			strlist_clear((struct strlist *)((char *)cfg + opts[i].off));
	}
	for (i = 0; i < cfg->nrules; i++) {
		free(cfg->rules[i].type);
		free(cfg->rules[i].pattern);
	}
	free(cfg->rules);
	free(cfg->config_file);
	memset(cfg, 0, sizeof(*cfg));
}

void config_usage(FILE *out, const char *argv0)
{
	char flag[64];
	size_t i;

	fprintf(out,
		"Usage: %s [run] [options]   watch processes and files, report to the API\n"
		"       %s check [options]   check that this host can run the agent\n"
		"       %s trace [--all] [--student ID] [--type build|run|python|binary|other]\n"
		"                    [-o table|json] [--socket PATH]\n"
		"                                 what the running agent sees, live\n"
		"\n"
		"Settings come from (later wins): defaults, the JSON config file (keys are the\n"
		"environment names in lower case, plus \"classifier\": [{\"type\", \"pattern\"}]),\n"
		"the environment, then these flags.\n"
		"\n"
		"  --config FILE\n"
		"        JSON config file\n"
		"        env JCW_CONFIG, default none\n",
		argv0, argv0, argv0);
	for (i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];

		if (!o->flag)
			continue;
		snprintf(flag, sizeof(flag), "--%s %s", o->flag, o->arg);
		fprintf(out, "  %s\n        %s\n        env %s, default %s\n", flag, o->help,
			o->env, o->def ? o->def : "none");
	}
	fprintf(out,
		"  --no-check\n"
		"        skip the start-up preflight (see the check command)\n"
		"  -h, --help\n"
		"        print this text\n"
		"  -V, --version\n"
		"        print the version\n"
		"\n"
		"A bad setting stops the agent with exit status 2.\n");
}

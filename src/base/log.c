/*
 * log.c - leveled logging to stderr and an optional size-rotated file.
 *
 * One mutex serialises whole lines: the event loop and libmicrohttpd's
 * thread both log, and interleaved halves of two lines would be worse than
 * the (tiny) contention.  The level is an atomic so that log_debug() in a
 * hot path costs one load when debugging is off.
 *
 * A full disk or a dead API can make one call site fire per record; each
 * site (level, module, format) gets LOG_BURST lines per LOG_WINDOW_MS and
 * the rest are counted and reported with its next line, so a flood is a
 * line a second, and nothing goes unsaid.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "utf8.h"

#define LOG_LINE_MAX 4096

#define RATE_SLOTS 512	/* call sites that log; far more than the agent has */
#define RATE_PROBE 16
#define SUFFIX_MAX 64	/* room kept for " (N similar messages suppressed)" */

static atomic_int log_level = LOG_INFO;
static bool log_json;		/* LOG_FORMAT=json: one JSON object a line */
static bool log_journal;	/* stderr is journald's: <N> priority prefixes */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* One call site's window; guarded by log_lock.  Sites are told apart by
 * their format and module pointers: string literals, so no copies. */
struct rate {
	const char *fmt;	/* NULL: free slot */
	const char *module;
	enum log_level level;
	int lines;		/* written in this window */
	long long start_ms;	/* the window's start, monotonic */
	unsigned long long suppressed;
};

static struct rate rates[RATE_SLOTS];
static int rate_burst = LOG_BURST;
static long long rate_window_ms = LOG_WINDOW_MS;

/* The file sink; every field below is guarded by log_lock. */
static struct {
	int fd;			/* -1 when logging to stderr only */
	char path[PATH_MAX];
	long long max_bytes;	/* <= 0: never rotate */
	int backup_count;
	long long size;		/* bytes in the current file */
	bool rotatable;		/* only regular files are renamed */
	bool failing;		/* last write failed: report once, not per line */
} sink = { .fd = -1 };

static const char *const level_names[] = {
	[LOG_DEBUG] = "DEBUG",
	[LOG_INFO] = "INFO ",
	[LOG_WARN] = "WARN ",
	[LOG_ERROR] = "ERROR",
};

int log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} map[] = {
		{ "DEBUG", LOG_DEBUG },
		{ "INFO", LOG_INFO },
		{ "WARNING", LOG_WARN },
		{ "WARN", LOG_WARN },
		{ "ERROR", LOG_ERROR },
		/* Python's logging has CRITICAL; upstream configs may use it. */
		{ "CRITICAL", LOG_ERROR },
		{ "FATAL", LOG_ERROR },
	};
	size_t i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(name, map[i].name) == 0)
			return map[i].level;
	return -EINVAL;
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void log_set_json(bool on)
{
	log_json = on;
}

/* journald sets JOURNAL_STREAM to the device and inode of the stream it
 * gave us; only when that is still our stderr do the prefixes belong. */
bool log_detect_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_journal = v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 &&
		      fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
		      (unsigned long long)st.st_ino == ino;
	return log_journal;
}

static int open_sink(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Rename path to path.YYYYMMDDTHHMMSS, adding .1, .2... when taken.
 * link()+unlink() instead of rename() because link never clobbers. */
static int rotate_timestamped(void)
{
	char stamp[32], dst[PATH_MAX + 48];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (n = 0; n < 1000; n++) {
		if (n == 0)
			snprintf(dst, sizeof(dst), "%s.%s", sink.path, stamp);
		else
			snprintf(dst, sizeof(dst), "%s.%s.%d", sink.path, stamp, n);
		if (link(sink.path, dst) == 0)
			return unlink(sink.path);
		if (errno != EEXIST)
			return -errno;
	}
	errno = EEXIST;
	return -EEXIST;
}

/* path.N-1 -> path.N ... path -> path.1; path.N (the oldest) is dropped. */
static int rotate_numbered(void)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];
	int i;

	snprintf(to, sizeof(to), "%s.%d", sink.path, sink.backup_count);
	unlink(to);
	for (i = sink.backup_count - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", sink.path, i);
		snprintf(to, sizeof(to), "%s.%d", sink.path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			return -errno;
	}
	snprintf(to, sizeof(to), "%s.1", sink.path);
	return rename(sink.path, to);
}

/* Called with log_lock held.  On failure keep appending to the old file:
 * an oversized log beats a lost one. */
static void rotate(void)
{
	int r, fd;

	r = sink.backup_count > 0 ? rotate_numbered() : rotate_timestamped();
	if (r < 0) {
		dprintf(STDERR_FILENO, "log: cannot rotate %s: %s\n", sink.path,
			strerror(errno));
		return;
	}
	fd = open_sink(sink.path);
	if (fd < 0) {
		dprintf(STDERR_FILENO, "log: cannot reopen %s: %s\n", sink.path,
			strerror(errno));
		return;
	}
	close(sink.fd);
	sink.fd = fd;
	sink.size = 0;
}

int log_open_file(const char *path, long long max_bytes, int backup_count)
{
	struct stat st;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sink.path) || backup_count < 0) {
		errno = EINVAL;
		return -EINVAL;
	}
	fd = open_sink(path);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -e;
	}
	pthread_mutex_lock(&log_lock);
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = fd;
	strcpy(sink.path, path);
	sink.max_bytes = max_bytes;
	sink.backup_count = backup_count;
	sink.size = st.st_size;
	/* Renaming /dev/null or a FIFO away would be a disaster. */
	sink.rotatable = S_ISREG(st.st_mode);
	sink.failing = false;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

static void flush_suppressed(void);

void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	flush_suppressed();
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = -1;
	pthread_mutex_unlock(&log_lock);
}

/* Called with log_lock held. */
static void write_file(const char *line, size_t len)
{
	if (sink.fd < 0)
		return;
	if (sink.rotatable && sink.max_bytes > 0 && sink.size > 0 &&
	    sink.size + (long long)len > sink.max_bytes)
		rotate();
	if (fs_write_all(sink.fd, line, len) < 0) {
		/* Say so on stderr once, not once per line, and carry on. */
		if (!sink.failing)
			dprintf(STDERR_FILENO, "log: write to %s failed: %s\n",
				sink.path, strerror(errno));
		sink.failing = true;
		return;
	}
	sink.failing = false;
	sink.size += (long long)len;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void log_set_rate_limit(int burst, long long window_ms)
{
	pthread_mutex_lock(&log_lock);
	rate_burst = burst;
	rate_window_ms = window_ms;
	memset(rates, 0, sizeof(rates));
	pthread_mutex_unlock(&log_lock);
}

static struct rate *rate_slot(enum log_level level, const char *module, const char *fmt)
{
	size_t h = ((uintptr_t)fmt >> 3) * 31 + ((uintptr_t)module >> 3) * 7 + (size_t)level;

	for (int i = 0; i < RATE_PROBE; i++) {
		struct rate *r = &rates[(h + (size_t)i) % RATE_SLOTS];

		if (!r->fmt) {
			*r = (struct rate){ .fmt = fmt, .module = module, .level = level,
					    .start_ms = mono_ms() };
			return r;
		}
		if (r->fmt == fmt && r->module == module && r->level == level)
			return r;
	}
	return NULL;
}

/* Called with log_lock held.  True when the line is to be suppressed;
 * else *told is how many from its site were suppressed before it. */
static bool rate_limited(enum log_level level, const char *module, const char *fmt,
			 unsigned long long *told)
{
	struct rate *r;
	long long now;

	*told = 0;
	if (rate_burst <= 0 || !fmt)
		return false;
	r = rate_slot(level, module, fmt);
	if (!r)
		return false;	/* no slot: better an unlimited line than a lost one */
	now = mono_ms();
	if (now - r->start_ms >= rate_window_ms) {
		r->start_ms = now;
		r->lines = 0;
	}
	if (r->lines >= rate_burst) {
		r->suppressed++;
		return true;
	}
	r->lines++;
	*told = r->suppressed;
	r->suppressed = 0;
	return false;
}

/* The level names without the text format's padding. */
static const char *const json_levels[] = {
	[LOG_DEBUG] = "DEBUG", [LOG_INFO] = "INFO", [LOG_WARN] = "WARN", [LOG_ERROR] = "ERROR",
};

/* sd-daemon(3) priorities: err, warning, info, debug. */
static const char journal_prefix[][4] = {
	[LOG_DEBUG] = "<7>", [LOG_INFO] = "<6>", [LOG_WARN] = "<4>", [LOG_ERROR] = "<3>",
};

/* "2026-11-23T16:19:40.123Z" into buf (at least 25 bytes). */
static void timestamp(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, n - len, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* The line for msg, newline included: text, or one JSON object. */
static size_t format_line(char *line, size_t n, enum log_level level, const char *module,
			  const char *msg)
{
	char ts[32], *json = NULL;
	json_t *o;
	int r;

	timestamp(ts, sizeof(ts));
	if (log_json) {
		o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", json_levels[level],
			      "module", module ? module : "-", "msg", msg);
		json = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
		/* The message was made valid UTF-8 by its writer or escaped;
		 * if jansson refuses it anyway, say so rather than drop it. */
		r = snprintf(line, n, "%s\n", json ? json :
			     "{\"level\":\"ERROR\",\"msg\":\"log line not valid UTF-8\"}");
		free(json);
	} else {
		r = snprintf(line, n, "%s %s %s: %s\n", ts, level_names[level],
			     module ? module : "-", msg);
	}
	if (r < 0)
		return 0;
	if ((size_t)r >= n) {
		line[n - 2] = '\n';
		return n - 1;
	}
	return (size_t)r;
}

/* One line to stderr (with journald's priority when it listens) and to
 * the log file; called with log_lock held. */
static void emit(enum log_level level, const char *module, const char *msg)
{
	char line[LOG_LINE_MAX + 128];
	size_t len = format_line(line, sizeof(line), level, module, msg);

	if (log_journal)
		fs_write_all(STDERR_FILENO, journal_prefix[level], 3);
	fs_write_all(STDERR_FILENO, line, len);
	write_file(line, len);
}

static const char *plural(unsigned long long n)
{
	return n == 1 ? "" : "s";
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	const size_t room = sizeof(msg) - SUFFIX_MAX;
	unsigned long long told;
	va_list ap;
	size_t len = 0;
	bool drop;
	int r;

	if ((unsigned)level > LOG_ERROR)
		level = LOG_ERROR;
	if (level < log_get_level())
		return;
	pthread_mutex_lock(&log_lock);
	drop = rate_limited(level, module, fmt, &told);
	pthread_mutex_unlock(&log_lock);
	if (drop)
		return;
	va_start(ap, fmt);
	r = vsnprintf(msg, room, fmt, ap);
	va_end(ap);
	if (r > 0)
		len = (size_t)r < room ? (size_t)r : room - 1;
	/* A caller's trailing newline must not produce an empty line. */
	if (len > 0 && msg[len - 1] == '\n')
		len--;
	msg[len] = '\0';
	if (told)
		snprintf(msg + len, SUFFIX_MAX, " (%llu similar message%s suppressed)", told,
			 plural(told));
	pthread_mutex_lock(&log_lock);
	emit(level, module, msg);
	pthread_mutex_unlock(&log_lock);
}

/* Called with log_lock held: say what is still suppressed, and forget. */
static void flush_suppressed(void)
{
	for (size_t i = 0; i < RATE_SLOTS; i++) {
		const struct rate *x = &rates[i];
		char msg[LOG_LINE_MAX], fmt[LOG_LINE_MAX / 2];

		if (!x->fmt || !x->suppressed)
			continue;
		snprintf(msg, sizeof(msg), "%llu similar message%s suppressed: \"%s\"",
			 x->suppressed, plural(x->suppressed), log_escape(x->fmt, fmt, sizeof(fmt)));
		emit(x->level, x->module, msg);
	}
	memset(rates, 0, sizeof(rates));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid.
 * The rules (overlongs, surrogates, > U+10FFFF) are utf8.c's. */
static int utf8_len(const unsigned char *s)
{
	int len, i;

	if (s[0] < 0x80)
		return 1;
	len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	/* Do not read past the terminator of a truncated sequence. */
	for (i = 1; i < len; i++)
		if (!s[i])
			return 0;
	return utf8_valid((const char *)s, (size_t)len) ? len : 0;
}

char *log_escape(const char *s, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t o = 0;

	if (n == 0)
		return out;
	while (*p) {
		char esc[4];
		const char *src = esc;
		size_t len;
		int u = utf8_len(p);

		if (*p == '\\' || *p == '\n' || *p == '\t' || *p == '\r') {
			esc[0] = '\\';
			esc[1] = *p == '\\' ? '\\' : *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
			len = 2;
		} else if (u == 0 || *p < 0x20 || *p == 0x7f) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 0xf];
			len = 4;
		} else {
			src = (const char *)p;
			len = (size_t)u;
		}
		/* Never cut an escape or a character in half. */
		if (o + len >= n)
			break;
		memcpy(out + o, src, len);
		o += len;
		p += u ? u : 1;
	}
	out[o] = '\0';
	return out;
}

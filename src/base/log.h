/*
 * log.h - leveled logging to stderr, and to a size-rotated file when asked.
 *
 * Lines look like: 2026-11-23T16:19:40.123Z WARN  sender: POST /api/... -> 503
 * Fields that come from students (paths, argv) must go through log_escape()
 * first so a newline in a file name cannot forge a log line.
 */
#ifndef JCW_LOG_H
#define JCW_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parse "DEBUG", "info", "WARNING", "error"... Returns -EINVAL when unknown. */
int log_level_parse(const char *name);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Also write to path, rotating when it would exceed max_bytes (<= 0: never;
 * only regular files are rotated).  With
 * backup_count N > 0 the rotated files are path.1 .. path.N (oldest dropped);
 * with 0 (upstream: "no limit") each rotated file is kept as
 * path.YYYYMMDDTHHMMSS[.n].  Returns 0, or -errno. */
int log_open_file(const char *path, long long max_bytes, int backup_count);
void log_close(void);

/* LOG_FORMAT=json: every line one JSON object {"ts","level","module","msg"},
 * on stderr and in the file. */
void log_set_json(bool on);

/* Under journald (JOURNAL_STREAM names our stderr) stderr lines carry the
 * <N> priority prefix of sd-daemon(3), so journald keeps the level.
 * Returns whether it does. */
bool log_detect_journal(void);

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Repeated lines are rate-limited: of the lines from one call site (the
 * same level, module and format string, whatever the arguments) at most
 * burst are written per window_ms; the rest are counted, and the next line
 * written from that site says "(N similar messages suppressed)" at its
 * end.  log_close() reports what is still suppressed then.  burst <= 0
 * turns the limit off.  Default: LOG_BURST lines per LOG_WINDOW_MS. */
#define LOG_BURST 10
#define LOG_WINDOW_MS 10000
void log_set_rate_limit(int burst, long long window_ms);

#define log_debug(mod, ...) do { if (log_get_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

/* Copy s into out (size n) with backslash, newline, tab and CR written as
 * \\, \n, \t, \r, and other control characters and bytes that are not valid
 * UTF-8 as \xNN (lower-case hex).  Valid UTF-8 is copied as is.  Stops
 * before an escape or character that would not fit; NUL-terminates when
 * n > 0.  Returns out. */
char *log_escape(const char *s, char *out, size_t n);

#endif

/*
 * stdout_sink.h - the sender without an API server: records as JSON lines.
 *
 * One line per record, {"endpoint": path, "body": body}, flushed at once so
 * a pipe reader sees each record as it comes.
 */
#ifndef JCW_STDOUT_SINK_H
#define JCW_STDOUT_SINK_H

#include <stdio.h>

/* Print one record to out and free path and body in every case.  Returns
 * 0, or -EIO when the line could not be built or written (logged). */
int stdout_sink_print(FILE *out, char *path, char *body);

#endif

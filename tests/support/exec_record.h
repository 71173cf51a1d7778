/*
 * exec_record.h - an exec record laid out as the kernel writes it
 * (bpf_text/procmon.h: exe, cwd and argv packed in data), for the tests and
 * benches that feed the user side without the kernel.
 */
#ifndef JCW_EXEC_RECORD_H
#define JCW_EXEC_RECORD_H

#include <stddef.h>
#include <string.h>

#include "procmon.h"

/* Fill ev's data; the record's size.  The strings must fit their fields. */
static inline size_t exec_record_pack(struct procmon_exec *ev, const char *exe, const char *cwd,
				      const void *args, size_t args_len)
{
	size_t e = strlen(exe) + 1, c = strlen(cwd) + 1;

	memcpy(ev->data, exe, e);
	memcpy(ev->data + e, cwd, c);
	memcpy(ev->data + e + c, args, args_len);
	ev->exe_size = (__u16)e;
	ev->cwd_size = (__u16)c;
	ev->args_size = (__u32)args_len;
	return offsetof(struct procmon_exec, data) + e + c + args_len;
}

#endif

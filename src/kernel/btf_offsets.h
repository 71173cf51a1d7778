/*
 * btf_offsets.h - struct field offsets of the running kernel, from its BTF.
 *
 * Kernel headers on a node rarely match its kernel exactly (on our CI
 * machines they are 6.1 for a 6.18 kernel).  A struct read compiled against
 * such headers loads fine and silently returns garbage, so the BPF text never
 * dereferences kernel structs itself: it reads base + OFF_x, and OFF_x comes
 * from here as a -D flag.  Without BTF the BPF text falls back to offsetof()
 * on the headers (see procmon.bpf.c).
 */
#ifndef JCW_BTF_OFFSETS_H
#define JCW_BTF_OFFSETS_H

#include <stddef.h>

struct btf_field {
	const char *macro;   /* "OFF_task_struct__tgid", or "SIZE_upid" */
	const char *type;    /* "task_struct" */
	const char *member;  /* "tgid", a dotted path "d_name.name", or NULL:
			      * the size of the type (an array's stride) */
};

/* The fields the BPF text reads; NULL-terminated. */
extern const struct btf_field btf_fields[];

/* Offset in bytes of a (possibly dotted, possibly inside anonymous
 * struct/union) member of struct/union `type` in BTF file `btf_path`
 * (NULL: the running kernel's), or the type's size when member is NULL.
 * -ENOENT when not found. */
long btf_offset(const char *btf_path, const char *type, const char *member);

/*
 * Append "-DOFF_x=N" flags for every field in btf_fields to flags (each a
 * malloc'd string).  Returns the number of flags added, or a negative errno when the BTF
 * cannot be loaded (err says why) or a field is missing from it.
 */
int btf_offsets_cflags(const char *btf_path, char **flags, int max_flags,
		       char *err, size_t errlen);

#endif

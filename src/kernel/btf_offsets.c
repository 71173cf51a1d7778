/*
 * btf_offsets.c - see btf_offsets.h.  Uses libbpf's BTF API only; no bcc
 * headers here, the two libraries declare overlapping names.
 */
#define _GNU_SOURCE
#include "btf_offsets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

const struct btf_field btf_fields[] = {
	{ "OFF_task_struct__real_parent", "task_struct", "real_parent" },
	{ "OFF_task_struct__group_leader", "task_struct", "group_leader" },
	{ "OFF_task_struct__tgid", "task_struct", "tgid" },
	{ "OFF_task_struct__start_time", "task_struct", "start_time" },
	{ "OFF_task_struct__exit_code", "task_struct", "exit_code" },
	{ "OFF_task_struct__signal", "task_struct", "signal" },
	{ "OFF_task_struct__nsproxy", "task_struct", "nsproxy" },
	{ "OFF_task_struct__fs", "task_struct", "fs" },
	{ "OFF_task_struct__mm", "task_struct", "mm" },
	{ "OFF_signal_struct__live", "signal_struct", "live" },
	{ "OFF_signal_struct__flags", "signal_struct", "flags" },
	{ "OFF_signal_struct__group_exit_code", "signal_struct", "group_exit_code" },
	{ "OFF_nsproxy__uts_ns", "nsproxy", "uts_ns" },
	{ "OFF_uts_namespace__nodename", "uts_namespace", "name.nodename" },
	{ "OFF_fs_struct__root", "fs_struct", "root" },
	{ "OFF_fs_struct__pwd", "fs_struct", "pwd" },
	{ "OFF_path__mnt", "path", "mnt" },
	{ "OFF_path__dentry", "path", "dentry" },
	{ "OFF_dentry__d_parent", "dentry", "d_parent" },
	{ "OFF_dentry__d_name_name", "dentry", "d_name.name" },
	{ "OFF_dentry__d_name_len", "dentry", "d_name.len" },
	{ "OFF_vfsmount__mnt_root", "vfsmount", "mnt_root" },
	{ "OFF_mount__mnt_parent", "mount", "mnt_parent" },
	{ "OFF_mount__mnt_mountpoint", "mount", "mnt_mountpoint" },
	{ "OFF_mount__mnt", "mount", "mnt" },
	{ "OFF_mm_struct__arg_start", "mm_struct", "arg_start" },
	{ "OFF_mm_struct__arg_end", "mm_struct", "arg_end" },
	{ "OFF_mm_struct__exe_file", "mm_struct", "exe_file" },
	{ "OFF_file__f_path", "file", "f_path" },
	/* issue #12: resources at the group's end, forks, capture marks */
	{ "OFF_task_struct__pid", "task_struct", "pid" },
	{ "OFF_task_struct__children", "task_struct", "children" },
	{ "OFF_task_struct__sibling", "task_struct", "sibling" },
	{ "OFF_task_struct__sum_exec_runtime", "task_struct", "se.sum_exec_runtime" },
	{ "OFF_task_struct__utime", "task_struct", "utime" },
	{ "OFF_task_struct__stime", "task_struct", "stime" },
	{ "OFF_task_struct__min_flt", "task_struct", "min_flt" },
	{ "OFF_task_struct__maj_flt", "task_struct", "maj_flt" },
	{ "OFF_task_struct__nvcsw", "task_struct", "nvcsw" },
	{ "OFF_task_struct__nivcsw", "task_struct", "nivcsw" },
	{ "OFF_task_struct__rchar", "task_struct", "ioac.rchar" },
	{ "OFF_task_struct__wchar", "task_struct", "ioac.wchar" },
	{ "OFF_signal_struct__nr_threads", "signal_struct", "nr_threads" },
	{ "OFF_signal_struct__sum_sched_runtime", "signal_struct", "sum_sched_runtime" },
	{ "OFF_signal_struct__utime", "signal_struct", "utime" },
	{ "OFF_signal_struct__stime", "signal_struct", "stime" },
	{ "OFF_signal_struct__min_flt", "signal_struct", "min_flt" },
	{ "OFF_signal_struct__maj_flt", "signal_struct", "maj_flt" },
	{ "OFF_signal_struct__nvcsw", "signal_struct", "nvcsw" },
	{ "OFF_signal_struct__nivcsw", "signal_struct", "nivcsw" },
	{ "OFF_signal_struct__maxrss", "signal_struct", "maxrss" },
	{ "OFF_signal_struct__rchar", "signal_struct", "ioac.rchar" },
	{ "OFF_signal_struct__wchar", "signal_struct", "ioac.wchar" },
	/* whose container an exec is in (container_uts) */
	{ "OFF_task_struct__thread_pid", "task_struct", "thread_pid" },
	{ "OFF_pid__level", "pid", "level" },
	{ "OFF_pid__numbers", "pid", "numbers" },
	{ "OFF_upid__ns", "upid", "ns" },
	{ "SIZE_upid", "upid", NULL },
	{ "OFF_pid_namespace__child_reaper", "pid_namespace", "child_reaper" },
	{ "OFF_pid_namespace__user_ns", "pid_namespace", "user_ns" },
	{ "OFF_pid_namespace__inum", "pid_namespace", "ns.inum" },
	{ "OFF_uts_namespace__user_ns", "uts_namespace", "user_ns" },
	{ NULL, NULL, NULL },
};

/* Skip typedefs and qualifiers to the struct/union underneath. */
static const struct btf_type *resolve(const struct btf *btf, __u32 *id)
{
	const struct btf_type *t = btf__type_by_id(btf, *id);

	while (t && (btf_is_typedef(t) || btf_is_mod(t))) {
		*id = t->type;
		t = btf__type_by_id(btf, *id);
	}
	return t;
}

/*
 * Find member `name` in composite type `id`, descending into anonymous
 * struct/union members (mm_struct keeps its fields in one, qstr's len sits in
 * a union).  On success sets *bits to the bit offset and *type_id to the
 * member's type.
 */
static int find_member(const struct btf *btf, __u32 id, const char *name,
		       long *bits, __u32 *type_id)
{
	const struct btf_type *t = resolve(btf, &id);
	const struct btf_member *m;

	if (!t || !btf_is_composite(t))
		return -ENOENT;
	m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *mname = btf__name_by_offset(btf, m->name_off);
		long off = btf_member_bit_offset(t, i);

		if (mname && *mname) {
			if (strcmp(mname, name) != 0)
				continue;
			*bits = off;
			*type_id = m->type;
			return 0;
		}
		if (find_member(btf, m->type, name, bits, type_id) == 0) {
			*bits += off;
			return 0;
		}
	}
	return -ENOENT;
}

static long offset_in(const struct btf *btf, const char *type, const char *member)
{
	char path[128], *save = NULL, *part;
	__s32 id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	__u32 cur;
	long total = 0;

	if (id < 0)
		id = btf__find_by_name_kind(btf, type, BTF_KIND_UNION);
	if (id < 0)
		return -ENOENT;
	if (!member)
		return btf__resolve_size(btf, id);
	if (strlen(member) >= sizeof(path))
		return -ENOENT;
	cur = (__u32)id;
	snprintf(path, sizeof(path), "%s", member);
	for (part = strtok_r(path, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		long bits;

		if (find_member(btf, cur, part, &bits, &cur) < 0)
			return -ENOENT;
		total += bits;
	}
	return total % 8 ? -EINVAL : total / 8;
}

static struct btf *load_btf(const char *btf_path)
{
	struct btf *btf = btf_path ? btf__parse(btf_path, NULL) : btf__load_vmlinux_btf();

	/* libbpf 1.x returns NULL and sets errno; older returned ERR_PTR. */
	if (libbpf_get_error(btf))
		return NULL;
	return btf;
}

long btf_offset(const char *btf_path, const char *type, const char *member)
{
	struct btf *btf = load_btf(btf_path);
	long off;

	if (!btf)
		return -ENOENT;
	off = offset_in(btf, type, member);
	btf__free(btf);
	return off;
}

int btf_offsets_cflags(const char *btf_path, char **flags, int max_flags,
		       char *err, size_t errlen)
{
	struct btf *btf = load_btf(btf_path);
	int n = 0, ret = -ENOENT;

	if (!btf) {
		snprintf(err, errlen, "cannot load BTF from %s: %s",
			 btf_path ? btf_path : "/sys/kernel/btf/vmlinux", strerror(errno));
		return -ENOENT;
	}
	for (const struct btf_field *f = btf_fields; f->macro; f++) {
		long off = offset_in(btf, f->type, f->member);

		if (off < 0 || n >= max_flags) {
			snprintf(err, errlen, "BTF has no %s.%s", f->type,
				 f->member ? f->member : "(size)");
			goto fail;
		}
		if (asprintf(&flags[n], "-D%s=%ld", f->macro, off) < 0) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto fail;
		}
		n++;
	}
	btf__free(btf);
	return n;
fail:
	while (n > 0)
		free(flags[--n]);
	btf__free(btf);
	return ret;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * procmon.bpf.c - kernel side of jcode-watcher's process monitor.
 *
 * Compiled by libbcc at agent start-up (in a short-lived child, see
 * src/kernel/bpf_loader.c).  Two tracepoints:
 *   sched:sched_process_exec  in a student container (UTS hostname with the
 *                             prefix): emits an exec record at once (argv,
 *                             exe, cwd, hostname, ids) and notes the tgid's
 *                             start time in `live`;
 *   sched:sched_process_exit  when the thread group's last task of a noted
 *                             process exits: emits a 32-byte exit record.
 * User space joins the two by (tgid, start time) (src/judge/proctable.c).
 *
 * Kernel structs are never dereferenced directly: headers on the node may
 * not match the running kernel.  Every read is base + OFF_x, where OFF_x is
 * passed by the agent from the kernel's BTF (btf_offsets.c); the offsetof()
 * fallbacks below are used only on kernels without BTF.
 *
 * Build-time -D parameters: HOST_PREFIX_MATCH(h) (the hostname prefix test,
 * spelled out byte by byte so no string constant lands in .rodata),
 * JCW_RINGBUF with RINGBUF_PAGES (the ring buffer; else the per-CPU perf
 * buffer, for kernels before 5.8) and MAX_PROCESSES (noted at once).
 */
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/fs_struct.h>
#include <linux/mount.h>
#include <linux/dcache.h>
#include <linux/nsproxy.h>
#include <linux/utsname.h>
#include <linux/mm_types.h>
#include <linux/fs.h>

#include "procmon.h"

/* The collector always passes -DMAX_PROCESSES from the config; this fallback
 * is the config's default (config.c), checked by test_collector. */
#ifndef MAX_PROCESSES
#define MAX_PROCESSES 65536
#endif
#ifndef RINGBUF_PAGES
#define RINGBUF_PAGES 1024
#endif
#ifndef HOST_PREFIX_MATCH
#define HOST_PREFIX_MATCH(h) ((h)[0] == 'j' && (h)[1] == 'c' && (h)[2] == 'o' && \
			      (h)[3] == 'd' && (h)[4] == 'e' && (h)[5] == '-')
#endif

/* Fallbacks for kernels without BTF.  struct mount is private to fs/; its
 * head has been the same since 3.3, so a local copy of it is enough. */
struct jcw_mount_head {
	struct hlist_node mnt_hash;
	void *mnt_parent;
	void *mnt_mountpoint;
	struct vfsmount mnt;
};
#define JCW_OFF(m, s, f) \
	((unsigned long)&((s *)0)->f)
#ifndef OFF_task_struct__real_parent
#define OFF_task_struct__real_parent JCW_OFF(0, struct task_struct, real_parent)
#define OFF_task_struct__group_leader JCW_OFF(0, struct task_struct, group_leader)
#define OFF_task_struct__tgid JCW_OFF(0, struct task_struct, tgid)
#define OFF_task_struct__start_time JCW_OFF(0, struct task_struct, start_time)
#define OFF_task_struct__exit_code JCW_OFF(0, struct task_struct, exit_code)
#define OFF_task_struct__signal JCW_OFF(0, struct task_struct, signal)
#define OFF_task_struct__nsproxy JCW_OFF(0, struct task_struct, nsproxy)
#define OFF_task_struct__fs JCW_OFF(0, struct task_struct, fs)
#define OFF_task_struct__mm JCW_OFF(0, struct task_struct, mm)
#define OFF_signal_struct__live JCW_OFF(0, struct signal_struct, live)
#define OFF_signal_struct__flags JCW_OFF(0, struct signal_struct, flags)
#define OFF_signal_struct__group_exit_code JCW_OFF(0, struct signal_struct, group_exit_code)
#define OFF_nsproxy__uts_ns JCW_OFF(0, struct nsproxy, uts_ns)
#define OFF_uts_namespace__nodename JCW_OFF(0, struct uts_namespace, name.nodename)
#define OFF_fs_struct__root JCW_OFF(0, struct fs_struct, root)
#define OFF_fs_struct__pwd JCW_OFF(0, struct fs_struct, pwd)
#define OFF_path__mnt JCW_OFF(0, struct path, mnt)
#define OFF_path__dentry JCW_OFF(0, struct path, dentry)
#define OFF_dentry__d_parent JCW_OFF(0, struct dentry, d_parent)
#define OFF_dentry__d_name_name JCW_OFF(0, struct dentry, d_name.name)
#define OFF_dentry__d_name_len JCW_OFF(0, struct dentry, d_name.len)
#define OFF_vfsmount__mnt_root JCW_OFF(0, struct vfsmount, mnt_root)
#define OFF_mount__mnt_parent JCW_OFF(0, struct jcw_mount_head, mnt_parent)
#define OFF_mount__mnt_mountpoint JCW_OFF(0, struct jcw_mount_head, mnt_mountpoint)
#define OFF_mount__mnt JCW_OFF(0, struct jcw_mount_head, mnt)
#define OFF_mm_struct__arg_start JCW_OFF(0, struct mm_struct, arg_start)
#define OFF_mm_struct__arg_end JCW_OFF(0, struct mm_struct, arg_end)
#define OFF_mm_struct__exe_file JCW_OFF(0, struct mm_struct, exe_file)
#define OFF_file__f_path JCW_OFF(0, struct file, f_path)
#endif

/* Per-CPU working space: the record is far larger than the 512-byte stack. */
struct scratch {
	struct procmon_exec ev;
	char path[2 * PROCMON_PATH_LEN];     /* twice the size: lets the verifier
					      * see every masked access in bounds */
};

BPF_PERCPU_ARRAY(scratch, struct scratch, 1);
BPF_PERCPU_ARRAY(stats, __u64, PROCMON_STAT__COUNT);
/* tgid -> start time of the student processes alive now: all the kernel
 * keeps per process (16 bytes, allocated as used), so that the exit probe
 * emits only for processes whose exec was reported. */
BPF_F_TABLE("hash", __u32, __u64, live, MAX_PROCESSES, BPF_F_NO_PREALLOC);
#ifdef JCW_RINGBUF
/* One ring for every CPU: records arrive in the order they were emitted.
 * No wakeup per record: the agent drains the ring every 10 ms. */
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
#else
BPF_PERF_OUTPUT(events);
#endif

/* One record out; 0, or negative when the buffer had no room.  (A
 * function, not a macro: libbcc rewrites map calls only outside macros.) */
static __always_inline int emit(void *ctx, void *rec, __u32 size)
{
#ifdef JCW_RINGBUF
	return events.ringbuf_output(rec, size, BPF_RB_NO_WAKEUP);
#else
	return events.perf_submit(ctx, rec, size);
#endif
}

static __always_inline void stat_inc(int idx)
{
	__u64 *v = stats.lookup(&idx);

	if (v)
		*v += 1;
}

/* Kernel pointers are plain integers here so that bcc never rewrites a
 * dereference behind our back. */
static __always_inline __u64 read_ptr(__u64 base, unsigned long off)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (void *)(base + off));
	return v;
}

static __always_inline __u32 read_u32(__u64 base, unsigned long off)
{
	__u32 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (void *)(base + off));
	return v;
}

/* Index into the path buffer.  The empty asm hides the value from clang,
 * which would otherwise drop a mask it can prove redundant; the verifier
 * cannot, and needs to see it. */
static __always_inline __u32 path_index(__u32 off)
{
	asm volatile("" : "+r"(off));
	return off & (PROCMON_PATH_LEN - 1);
}

/*
 * Write the path named by `path` (a struct path *) into out, as the task
 * whose root is `root` sees it: walk the dentries up to the root, crossing
 * mount points the way d_path() does (a mount's root dentry continues at
 * its mountpoint in the parent mount), and fill the buffer from its end.
 * One loop, one pass: the verifier checks each step once.  Returns false
 * when the walk could not reach the root (too deep, too long, a name that
 * could not be read); the path then holds the components nearest the leaf.
 */
static __always_inline bool read_path(struct scratch *s, __u64 path, __u64 root, char *out)
{
	__u64 dentry = read_ptr(path, OFF_path__dentry);
	__u64 vfsmnt = read_ptr(path, OFF_path__mnt);
	__u64 root_dentry = read_ptr(root, OFF_path__dentry);
	__u64 root_mnt = read_ptr(root, OFF_path__mnt);
	__u64 mnt = vfsmnt - OFF_mount__mnt;
	__u32 pos = PROCMON_PATH_LEN - 1;	/* the NUL; the path ends here */
	bool done = false;

	s->path[path_index(pos)] = '\0';
	for (int i = 0; i < PROCMON_PATH_DEPTH; i++) {
		__u64 mnt_root, parent, mnt_parent, name;
		__u32 len;

		if (dentry == root_dentry && vfsmnt == root_mnt) {
			done = true;
			break;
		}
		mnt_root = read_ptr(vfsmnt, OFF_vfsmount__mnt_root);
		parent = read_ptr(dentry, OFF_dentry__d_parent);
		if (dentry == mnt_root || dentry == parent) {
			mnt_parent = read_ptr(mnt, OFF_mount__mnt_parent);
			/* Global root, or a dentry disconnected from its
			 * mount: nothing above it to name. */
			if (dentry != mnt_root || mnt == mnt_parent || !mnt_parent) {
				done = true;
				break;
			}
			dentry = read_ptr(mnt, OFF_mount__mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = mnt + OFF_mount__mnt;
			continue;
		}
		len = read_u32(dentry, OFF_dentry__d_name_len);
		name = read_ptr(dentry, OFF_dentry__d_name_name);
		if (len + 1 > pos)
			break;			/* too long */
		pos -= len;
		if (bpf_probe_read_kernel(&s->path[path_index(pos)],
					  len & (PROCMON_PATH_LEN - 1), (void *)name) < 0)
			break;			/* unreadable name */
		/* Re-masked so that pos carries the same range whatever the
		 * mix of names and mount crossings so far: the verifier can
		 * then prune, one state per step. */
		pos = path_index(pos - 1);
		s->path[pos] = '/';
		dentry = parent;
	}
	if (pos == PROCMON_PATH_LEN - 1) {	/* the root itself */
		pos--;
		s->path[path_index(pos)] = '/';
	}
	bpf_probe_read_kernel(out, PROCMON_PATH_LEN, &s->path[path_index(pos)]);
	out[PROCMON_PATH_LEN - 1] = '\0';
	return done;
}

/* SIGNAL_GROUP_EXIT in include/linux/sched/signal.h, unchanged since 2.6. */
#define JCW_SIGNAL_GROUP_EXIT 0x00000004

/*
 * The status wait(2) will report.  On a group exit (exit_group(), a fatal
 * signal) that is the group's code, whichever thread happens to end last:
 * a worker's pthread_exit(0) racing main's exit(3) must not report 0.
 */
static __always_inline __u32 exit_status(__u64 task, __u64 signal)
{
	if (signal && (read_u32(signal, OFF_signal_struct__flags) & JCW_SIGNAL_GROUP_EXIT))
		return read_u32(signal, OFF_signal_struct__group_exit_code);
	return read_u32(task, OFF_task_struct__exit_code);
}

static __always_inline void read_args(struct procmon_exec *ev, __u64 mm)
{
	__u64 start = read_ptr(mm, OFF_mm_struct__arg_start);
	__u64 end = read_ptr(mm, OFF_mm_struct__arg_end);
	__u64 len = end > start ? end - start : 0;

	ev->args_total = len;
	if (len > PROCMON_ARGS_LEN) {
		len = PROCMON_ARGS_LEN;
		ev->flags |= PROCMON_F_ARGS_TRUNCATED;
	}
	ev->args_size = 0;
	if (len == 0)
		return;
	if (bpf_probe_read_user(ev->args, len, (void *)start) < 0) {
		ev->flags |= PROCMON_F_ARGS_FAULT;
		return;
	}
	ev->args_size = len;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	int zero = 0;
	struct scratch *s;
	struct procmon_exec *ev;
	__u64 task, uts, mm, fs, file, leader;
	__u32 tgid, n;

	stat_inc(PROCMON_STAT_EXEC_SEEN);
	s = scratch.lookup(&zero);
	if (!s)
		return 0;
	ev = &s->ev;
	task = bpf_get_current_task();
	uts = read_ptr(read_ptr(task, OFF_task_struct__nsproxy), OFF_nsproxy__uts_ns);
	if (!uts)
		return 0;
	bpf_probe_read_kernel_str(ev->hostname, sizeof(ev->hostname),
				  (void *)(uts + OFF_uts_namespace__nodename));
	/* The only work every exec on the node pays for. */
	if (!(HOST_PREFIX_MATCH(ev->hostname))) {
		stat_inc(PROCMON_STAT_EXEC_OTHER_HOST);
		return 0;
	}

	tgid = bpf_get_current_pid_tgid() >> 32;
	ev->head.kind = PROCMON_EXEC;
	ev->head.tgid = tgid;
	leader = read_ptr(task, OFF_task_struct__group_leader);
	ev->head.start_time = read_ptr(leader, OFF_task_struct__start_time);
	ev->ppid = read_u32(read_ptr(task, OFF_task_struct__real_parent), OFF_task_struct__tgid);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->exec_ns = bpf_ktime_get_ns();
	ev->flags = 0;
	ev->pad = 0;

	mm = read_ptr(task, OFF_task_struct__mm);
	read_args(ev, mm);

	fs = read_ptr(task, OFF_task_struct__fs);
	file = read_ptr(mm, OFF_mm_struct__exe_file);
	if (!file) {
		ev->flags |= PROCMON_F_NO_EXE;
		ev->exe[0] = '\0';
	} else if (!read_path(s, file + OFF_file__f_path, fs + OFF_fs_struct__root, ev->exe)) {
		ev->flags |= PROCMON_F_EXE_TRUNCATED;
	}
	if (!read_path(s, fs + OFF_fs_struct__pwd, fs + OFF_fs_struct__root, ev->cwd))
		ev->flags |= PROCMON_F_CWD_TRUNCATED;

	/* Noted first: an exit on another CPU right after must find it.  A
	 * second exec by the same process finds its entry and keeps it. */
	if (live.update(&tgid, &ev->head.start_time) != 0)
		stat_inc(PROCMON_STAT_MAP_FULL);
	n = ev->args_size;
	if (n > PROCMON_ARGS_LEN)
		n = PROCMON_ARGS_LEN;
	if (emit(args, ev, offsetof(struct procmon_exec, args) + n) != 0) {
		stat_inc(PROCMON_STAT_OUTPUT_FAILED);
		return 0;
	}
	stat_inc(PROCMON_STAT_EXEC_TRACKED);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *start = live.lookup(&tgid);
	struct procmon_exit ex = {};
	__u64 task, signal, leader;

	if (!start)
		return 0;
	task = bpf_get_current_task();
	/* Threads leaving a live group emit nothing: the process ends with
	 * its last task, whichever that is (the leader may go first). */
	signal = read_ptr(task, OFF_task_struct__signal);
	if (signal && read_u32(signal, OFF_signal_struct__live) != 0)
		return 0;
	ex.head.start_time = *start;
	/* Only the CPU whose delete succeeds emits, so two tasks of a group
	 * exiting at once cannot both report it. */
	if (live.delete(&tgid) != 0)
		return 0;
	leader = read_ptr(task, OFF_task_struct__group_leader);
	if (read_ptr(leader, OFF_task_struct__start_time) != ex.head.start_time) {
		/* The pid was reused by a process we never saw exec. */
		stat_inc(PROCMON_STAT_EXIT_STALE);
		return 0;
	}
	ex.head.kind = PROCMON_EXIT;
	ex.head.tgid = tgid;
	ex.exit_ns = bpf_ktime_get_ns();
	ex.exit_code = exit_status(task, signal);
	if (emit(args, &ex, sizeof(ex)) != 0) {
		stat_inc(PROCMON_STAT_OUTPUT_FAILED);
		return 0;
	}
	stat_inc(PROCMON_STAT_EXIT_EMITTED);
	return 0;
}

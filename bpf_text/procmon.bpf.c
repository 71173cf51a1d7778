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
 *                             process exits: emits an exit record with the
 *                             group's resource use;
 *   sched:sched_process_fork  counts a noted process's children and threads,
 *                             and passes a capture mark on to a child;
 *   syscalls:sys_{enter,exit}_{write,writev}
 *                             (only with CAPTURE_ON) what a marked task
 *                             wrote to fd 2, as output records.
 * User space joins them by (tgid, start time) (src/judge/proctable.c).
 *
 * Kernel structs are never dereferenced directly: headers on the node may
 * not match the running kernel.  Every read is base + OFF_x, where OFF_x is
 * passed by the agent from the kernel's BTF (btf_offsets.c); the offsetof()
 * fallbacks below are used only on kernels without BTF.
 *
 * Build-time -D parameters: HOST_PREFIX_MATCH(h) (the hostname prefix test,
 * spelled out byte by byte so no string constant lands in .rodata),
 * JCW_RINGBUF with RINGBUF_PAGES (the ring buffer; else the per-CPU perf
 * buffer, for kernels before 5.8) and MAX_PROCESSES (noted at once);
 * PAGE_KB (the page size in KiB); for stderr capture CAPTURE_ON,
 * CAPTURE_NAME_MATCH(s) (the compiler/interpreter names CAPTURE asks for),
 * CAPTURE_BINARY_ON (any other program outside the system directories) and
 * CAPTURE_BUDGET (bytes one capture root may send).
 */
#include "procmon.h"

/* The collector always passes -DMAX_PROCESSES from the config; this fallback
 * is the config's default (config.c), checked by test_collector. */
#ifndef MAX_PROCESSES
#define MAX_PROCESSES 65536
#endif
#ifndef RINGBUF_PAGES
#define RINGBUF_PAGES 1024
#endif
#ifndef PAGE_KB
#define PAGE_KB 4
#endif
#ifndef CAPTURE_BUDGET
#define CAPTURE_BUDGET 65536
#endif
#ifndef CAPTURE_NAME_MATCH
#define CAPTURE_NAME_MATCH(s) 0
#endif
/* Marked tasks at once: compilers, interpreters and what they start. */
#define CAPTURE_MARKS 8192
/* Pieces of one write(2) (each a record), and iovecs of one writev(2). */
#define CAPTURE_PIECES 4
#define CAPTURE_IOVECS 8
#ifndef HOST_PREFIX_MATCH
#define HOST_PREFIX_MATCH(h) ((h)[0] == 'j' && (h)[1] == 'c' && (h)[2] == 'o' && \
			      (h)[3] == 'd' && (h)[4] == 'e' && (h)[5] == '-')
#endif

/*
 * Fallbacks for kernels without BTF, the only reason to parse kernel
 * headers at all: with BTF the agent passes every OFF_x, and clang reads
 * only libbcc's helpers (a second or more off each start; README, "Offsets
 * from BTF").  struct mount is private to fs/; its head has been the same
 * since 3.3, so a local copy of it is enough.
 */
#ifndef OFF_task_struct__real_parent
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/fs_struct.h>
#include <linux/mount.h>
#include <linux/dcache.h>
#include <linux/nsproxy.h>
#include <linux/utsname.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/mm_types.h>
#include <linux/fs.h>

struct jcw_mount_head {
	struct hlist_node mnt_hash;
	void *mnt_parent;
	void *mnt_mountpoint;
	struct vfsmount mnt;
};
#define JCW_OFF(m, s, f) \
	((unsigned long)&((s *)0)->f)
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
#define OFF_uts_namespace__user_ns JCW_OFF(0, struct uts_namespace, user_ns)
#define OFF_task_struct__thread_pid JCW_OFF(0, struct task_struct, thread_pid)
#define OFF_pid__level JCW_OFF(0, struct pid, level)
#define OFF_pid__numbers JCW_OFF(0, struct pid, numbers)
#define OFF_upid__ns JCW_OFF(0, struct upid, ns)
#define SIZE_upid sizeof(struct upid)
#define OFF_pid_namespace__child_reaper JCW_OFF(0, struct pid_namespace, child_reaper)
#define OFF_pid_namespace__user_ns JCW_OFF(0, struct pid_namespace, user_ns)
#define OFF_pid_namespace__inum JCW_OFF(0, struct pid_namespace, ns.inum)
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
#define OFF_task_struct__pid JCW_OFF(0, struct task_struct, pid)
#define OFF_task_struct__children JCW_OFF(0, struct task_struct, children)
#define OFF_task_struct__sibling JCW_OFF(0, struct task_struct, sibling)
#define OFF_task_struct__sum_exec_runtime JCW_OFF(0, struct task_struct, se.sum_exec_runtime)
#define OFF_task_struct__utime JCW_OFF(0, struct task_struct, utime)
#define OFF_task_struct__stime JCW_OFF(0, struct task_struct, stime)
#define OFF_task_struct__min_flt JCW_OFF(0, struct task_struct, min_flt)
#define OFF_task_struct__maj_flt JCW_OFF(0, struct task_struct, maj_flt)
#define OFF_task_struct__nvcsw JCW_OFF(0, struct task_struct, nvcsw)
#define OFF_task_struct__nivcsw JCW_OFF(0, struct task_struct, nivcsw)
#define OFF_task_struct__rchar JCW_OFF(0, struct task_struct, ioac.rchar)
#define OFF_task_struct__wchar JCW_OFF(0, struct task_struct, ioac.wchar)
#define OFF_signal_struct__nr_threads JCW_OFF(0, struct signal_struct, nr_threads)
#define OFF_signal_struct__sum_sched_runtime JCW_OFF(0, struct signal_struct, sum_sched_runtime)
#define OFF_signal_struct__utime JCW_OFF(0, struct signal_struct, utime)
#define OFF_signal_struct__stime JCW_OFF(0, struct signal_struct, stime)
#define OFF_signal_struct__min_flt JCW_OFF(0, struct signal_struct, min_flt)
#define OFF_signal_struct__maj_flt JCW_OFF(0, struct signal_struct, maj_flt)
#define OFF_signal_struct__nvcsw JCW_OFF(0, struct signal_struct, nvcsw)
#define OFF_signal_struct__nivcsw JCW_OFF(0, struct signal_struct, nivcsw)
#define OFF_signal_struct__maxrss JCW_OFF(0, struct signal_struct, maxrss)
#define OFF_signal_struct__rchar JCW_OFF(0, struct signal_struct, ioac.rchar)
#define OFF_signal_struct__wchar JCW_OFF(0, struct signal_struct, ioac.wchar)
#endif

/* Levels the node's PID namespace may be at: 0 on a machine, 1 in a node
 * that is itself a container (kind), and two spare. */
#define PIDNS_DEPTH 4
/* The node's PID namespace (the agent's: hostPID), by inode number; the
 * collector always passes it.  0 matches none: every task keeps its own. */
#ifndef NODE_PIDNS_INUM
#define NODE_PIDNS_INUM 0
#endif

/* Per-CPU working space: the record is far larger than the 512-byte stack. */
struct scratch {
	struct procmon_exec ev;
	char path[2 * PROCMON_PATH_LEN];     /* twice the size: lets the verifier
					      * see every masked access in bounds */
};

/* What the kernel keeps of a student process alive now: its start time
 * (the exit probe emits only for processes whose exec was reported) and
 * what the fork probe counts. */
struct live_proc {
	__u64 start_time;
	__u32 threads;		/* most alive at once */
	__u32 children;		/* processes forked */
};

/*
 * A task whose stderr is captured.  The capture root (marked at exec) owns
 * the budget; its descendants point at it (root, root_start) and spend it.
 */
struct mark {
	__u64 root_start;
	__u32 root;
	__u32 left;		/* the root's entry: bytes it may still send */
	__u32 owed;		/* the root's entry: PROCMON_OUT_BUDGET for its next record */
	__u32 pad;
};

BPF_PERCPU_ARRAY(scratch, struct scratch, 1);
BPF_PERCPU_ARRAY(stats, __u64, PROCMON_STAT__COUNT);
/* tgid -> struct live_proc (allocated as used). */
BPF_F_TABLE("hash", __u32, struct live_proc, live, MAX_PROCESSES, BPF_F_NO_PREALLOC);
#ifdef CAPTURE_ON
/* tgid -> its mark.  Preallocated: the write probe's one lookup for every
 * write to fd 2 on the node should not walk an allocator's lists. */
BPF_HASH(marks, __u32, struct mark, CAPTURE_MARKS);
BPF_PERCPU_ARRAY(out_scratch, struct procmon_output, 1);
/*
 * A write to stderr in flight, from sys_enter to sys_exit.  The bytes are
 * read at the exit: at the entry they may not even be paged in (a string
 * literal no one has touched yet; a BPF probe cannot fault), and only the
 * exit knows how much was really written.
 */
struct pending_write {
	__u64 buf;		/* write: the buffer; writev: the iovec array */
	__u64 count;		/* write: bytes asked; writev: iovecs */
	__u32 vec;
	__u32 pad;
};

/* pid_tgid (the thread) -> its write to fd 2 in flight. */
BPF_HASH(pending, __u64, struct pending_write, CAPTURE_MARKS);
#endif
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

static __always_inline __u64 read_u64(__u64 base, unsigned long off)
{
	return read_ptr(base, off);
}

/* Index into the path buffer.  The empty asm hides the value from clang,
 * which would otherwise drop a mask it can prove redundant; the verifier
 * cannot, and needs to see it. */
static __always_inline __u32 path_index(__u32 off)
{
	asm volatile("" : "+r"(off));
	return off & (PROCMON_PATH_LEN - 1);
}

/* n, shown to the verifier to be at most max (the empty asm keeps clang
 * from dropping a test it can prove redundant; the verifier cannot). */
static __always_inline __u64 at_most(__u64 n, __u64 max)
{
	asm volatile("" : "+r"(n));
	if (n > max)
		n = max;
	return n;
}

/*
 * Spell the path named by `path` (a struct path *) in s->path, as the
 * task whose root is `root` sees it: walk the dentries up to the root,
 * crossing mount points the way d_path() does (a mount's root dentry
 * continues at its mountpoint in the parent mount), and fill the buffer
 * from its end.
 * One loop, one pass: the verifier checks each step once.  Returns where
 * in s->path the path starts (it ends with the buffer, NUL included), with
 * PATH_CUT set when the walk could not reach the root (too deep, too long,
 * a name that could not be read): the path then holds the components
 * nearest the leaf.  (One value, not a flag through a pointer: a stack
 * slot set on one branch only made the verifier check later walks twice.)
 */
#define PATH_CUT PROCMON_PATH_LEN	/* above every index path_index() gives */

static __always_inline __u32 walk_path(struct scratch *s, __u64 path, __u64 root)
{
	__u64 dentry = read_ptr(path, OFF_path__dentry);
	__u64 vfsmnt = read_ptr(path, OFF_path__mnt);
	__u64 root_dentry = read_ptr(root, OFF_path__dentry);
	__u64 root_mnt = read_ptr(root, OFF_path__mnt);
	__u64 mnt = vfsmnt - OFF_mount__mnt;
	__u64 mnt_root = read_ptr(vfsmnt, OFF_vfsmount__mnt_root);	/* per mount, not per step */
	__u32 pos = PROCMON_PATH_LEN - 1;	/* the NUL; the path ends here */
	bool done = false;

	s->path[path_index(pos)] = '\0';
	for (int i = 0; i < PROCMON_PATH_DEPTH; i++) {
		__u64 parent, mnt_parent, name;
		__u32 len;

		if (dentry == root_dentry && vfsmnt == root_mnt) {
			done = true;
			break;
		}
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
			mnt_root = read_ptr(vfsmnt, OFF_vfsmount__mnt_root);
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
	return path_index(pos) | (done ? 0 : PATH_CUT);
}

/* The path walk_path() left at s->path[pos], and its NUL, to out: the
 * bytes copied (1 to PROCMON_PATH_LEN). */
static __always_inline __u32 copy_path(struct scratch *s, __u32 pos, char *out)
{
	__u32 size = PROCMON_PATH_LEN - path_index(pos);

	bpf_probe_read_kernel(out, size, &s->path[path_index(pos)]);
	return size;
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

/* argv into out, the end of the record's data. */
static __always_inline void read_args(struct procmon_exec *ev, __u64 mm, char *out)
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
	if (bpf_probe_read_user(out, len, (void *)start) < 0) {
		ev->flags |= PROCMON_F_ARGS_FAULT;
		return;
	}
	ev->args_size = len;
}

static __always_inline void note_live(__u32 tgid, __u64 start_time)
{
	struct live_proc fresh = { .start_time = start_time, .threads = 1 };
	struct live_proc *old = live.lookup(&tgid);

	if (old && old->start_time == start_time)
		return;
	if (live.update(&tgid, &fresh) != 0)
		stat_inc(PROCMON_STAT_MAP_FULL);
}

#ifdef CAPTURE_ON
/* Not a program of the system's own directories: a student's binary, for
 * CAPTURE=binary (user space decides by its path rules what it reports). */
static __always_inline bool outside_system_dirs(const char *p)
{
	if (p[0] != '/')
		return false;
	if (p[1] == 'u' && p[2] == 's' && p[3] == 'r' && p[4] == '/')
		return false;
	if (p[1] == 'b' && p[2] == 'i' && p[3] == 'n' && p[4] == '/')
		return false;
	if (p[1] == 's' && p[2] == 'b' && p[3] == 'i' && p[4] == 'n' && p[5] == '/')
		return false;
	if (p[1] == 'l' && p[2] == 'i' && p[3] == 'b')
		return false;
	return true;
}

/*
 * Mark a student's compiler or interpreter at exec: by the name it was run
 * as (comm: "gcc", "python3") or the name of the file it really is
 * ("python3.11", "clang-14").  A task already marked keeps its mark: cc1,
 * as and ld belong to the gcc that started them.
 */
static __always_inline void mark_at_exec(__u32 tgid, __u64 start_time, __u64 mm,
					 const char *exe)
{
	struct mark m = { .root_start = start_time, .root = tgid, .left = CAPTURE_BUDGET };
	char comm[16] = {}, leaf[32] = {};
	__u64 dentry, file;
	bool hit;

	if (marks.lookup(&tgid))
		return;
	bpf_get_current_comm(comm, sizeof(comm));
	hit = CAPTURE_NAME_MATCH(comm);
	/* exe_file read again here, not kept from before the path walks: a
	 * value known to be 0 on one branch made the verifier check the cwd
	 * walk twice. */
	file = hit ? 0 : read_ptr(mm, OFF_mm_struct__exe_file);
	if (file) {
		dentry = read_ptr(file + OFF_file__f_path, OFF_path__dentry);
		bpf_probe_read_kernel_str(leaf, sizeof(leaf),
					  (void *)read_ptr(dentry, OFF_dentry__d_name_name));
		hit = CAPTURE_NAME_MATCH(leaf);
	}
#ifdef CAPTURE_BINARY_ON
	if (!hit)
		hit = outside_system_dirs(exe);
#endif
	/* A full map: this root's stderr is lost, counted as its writes would be. */
	if (hit && marks.update(&tgid, &m) != 0)
		stat_inc(PROCMON_STAT_OUTPUT_DROPPED);
}
#else
static __always_inline void mark_at_exec(__u32 tgid, __u64 start_time, __u64 mm,
					 const char *exe)
{
}
#endif

static __always_inline __u64 task_uts(__u64 task)
{
	return read_ptr(read_ptr(task, OFF_task_struct__nsproxy), OFF_nsproxy__uts_ns);
}

/* Where the node's PID namespace is among the task's (numbers[0] is the
 * outermost): its level, or -1 when the task is not below or in it. */
static __always_inline int node_level(__u64 pid, __u32 level)
{
	for (__u32 i = 0; i < PIDNS_DEPTH && i <= level; i++) {
		__u64 ns = read_ptr(pid, OFF_pid__numbers + i * SIZE_upid + OFF_upid__ns);

		if (read_u32(ns, OFF_pid_namespace__inum) == NODE_PIDNS_INUM)
			return (int)i;
	}
	return -1;
}

/*
 * The UTS namespace an exec is reported under (its hostname into host), 0
 * for none.  `unshare -Ur --uts` gives any student a UTS namespace of their
 * own with any hostname in it: another student's, or one without the
 * prefix to hide.  What they cannot rename is their container: the init
 * of its PID namespace (the first below the node's) holds the runtime's UTS
 * namespace, and renaming that takes CAP_SYS_ADMIN in the user namespace
 * owning it.  So a task below the node is reported under its container
 * init's hostname, however deep it nests (`unshare -p` makes it the init
 * of a namespace inside).  Only a student who is that init can swap its
 * UTS namespace, and then for one a user namespace of theirs owns, not the
 * one the runtime made both in: such a container names no one.  Neither
 * does a container whose init has already gone (it is being torn down).
 * A task in the node's namespace itself, or in none below it (an agent
 * without hostPID), keeps its own.
 */
static __always_inline __u64 container_uts(__u64 task, __u64 own, char *host)
{
	__u64 pid = read_ptr(task, OFF_task_struct__thread_pid);
	__u32 level = read_u32(pid, OFF_pid__level);
	int node = node_level(pid, level);
	__u64 ns, uts;

	host[0] = '\0';
	if (node < 0 || (__u32)node >= level) {
		uts = own;
	} else {
		ns = read_ptr(pid, OFF_pid__numbers + (node + 1) * SIZE_upid + OFF_upid__ns);
		uts = task_uts(read_ptr(ns, OFF_pid_namespace__child_reaper));
		if (!uts || read_ptr(uts, OFF_uts_namespace__user_ns) !=
			    read_ptr(ns, OFF_pid_namespace__user_ns))
			return 0;
	}
	bpf_probe_read_kernel_str(host, PROCMON_HOST_LEN,
				  (void *)(uts + OFF_uts_namespace__nodename));
	return uts;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	int zero = 0;
	struct scratch *s;
	struct procmon_exec *ev;
	__u64 task, own, uts, mm, fs, file, leader;
	__u32 tgid, pos;
	__u64 at, size;

	stat_inc(PROCMON_STAT_EXEC_SEEN);
	s = scratch.lookup(&zero);
	if (!s)
		return 0;
	ev = &s->ev;
	task = bpf_get_current_task();
	/* The only work every exec on the node pays for. */
	own = task_uts(task);
	if (!own)
		return 0;
	uts = container_uts(task, own, ev->hostname);
	if (!uts) {
		stat_inc(PROCMON_STAT_EXEC_UNTRUSTED);
		return 0;
	}
	if (!(HOST_PREFIX_MATCH(ev->hostname))) {
		stat_inc(PROCMON_STAT_EXEC_OTHER_HOST);
		return 0;
	}
	if (uts != own)
		stat_inc(PROCMON_STAT_EXEC_OWN_UTS);

	tgid = bpf_get_current_pid_tgid() >> 32;
	ev->head.kind = PROCMON_EXEC;
	ev->head.tgid = tgid;
	leader = read_ptr(task, OFF_task_struct__group_leader);
	ev->head.start_time = read_ptr(leader, OFF_task_struct__start_time);
	ev->ppid = read_u32(read_ptr(task, OFF_task_struct__real_parent), OFF_task_struct__tgid);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->exec_ns = bpf_ktime_get_ns();
	ev->flags = 0;

	/* exe, cwd and argv packed in data, in that order.  exe's size goes
	 * through the map value while cwd is walked: a local would carry into
	 * the walk a bound that differs with the branch taken (1 without an
	 * exe), and the verifier would check the walk once for each. */
	mm = read_ptr(task, OFF_task_struct__mm);
	fs = read_ptr(task, OFF_task_struct__fs);
	file = read_ptr(mm, OFF_mm_struct__exe_file);
	if (!file) {
		ev->flags |= PROCMON_F_NO_EXE;
		ev->data[0] = '\0';
		ev->exe_size = 1;
	} else {
		pos = walk_path(s, file + OFF_file__f_path, fs + OFF_fs_struct__root);
		ev->exe_size = copy_path(s, pos, ev->data);
		if (pos & PATH_CUT)
			ev->flags |= PROCMON_F_EXE_TRUNCATED;
	}
	pos = walk_path(s, fs + OFF_fs_struct__pwd, fs + OFF_fs_struct__root);
	if (pos & PATH_CUT)
		ev->flags |= PROCMON_F_CWD_TRUNCATED;
	at = at_most(ev->exe_size, PROCMON_PATH_LEN);
	ev->cwd_size = copy_path(s, pos, &ev->data[at]);
	at += at_most(ev->cwd_size, PROCMON_PATH_LEN);
	read_args(ev, mm, &ev->data[at]);

	/* Noted first: an exit on another CPU right after must find it.  A
	 * second exec by the same process finds its entry and keeps it, with
	 * what it counted so far. */
	note_live(tgid, ev->head.start_time);
	mark_at_exec(tgid, ev->head.start_time, mm, ev->data);
	/* Clamped once more as a whole: clang may add up copies of the parts
	 * whose bounds the verifier no longer has. */
	size = at_most(offsetof(struct procmon_exec, data) + at + ev->args_size, sizeof(*ev));
	if (emit(args, ev, size) != 0) {
		stat_inc(PROCMON_STAT_OUTPUT_FAILED);
		return 0;
	}
	stat_inc(PROCMON_STAT_EXEC_TRACKED);
	return 0;
}

/* a * num / den without overflowing 64 bits: both factors brought below
 * 2^32 by halving each with den (the ratio stays).  No overflow test clang
 * could turn into a 128-bit multiply, which BPF does not have. */
static __always_inline __u64 scale(__u64 a, __u64 num, __u64 den)
{
	for (int i = 0; i < 64 && ((a | num) >> 32); i++) {
		if (a >> 32)
			a >>= 1;
		else
			num >>= 1;
		den >>= 1;
	}
	return den ? a * num / den : 0;
}

/* What the task itself used, not yet in its signal_struct. */
static __always_inline void add_task_usage(struct procmon_usage *u, __u64 t)
{
	u->cpu_ns += read_u64(t, OFF_task_struct__sum_exec_runtime);
	u->utime_ns += read_u64(t, OFF_task_struct__utime);
	u->stime_ns += read_u64(t, OFF_task_struct__stime);
	u->min_flt += read_u64(t, OFF_task_struct__min_flt);
	u->maj_flt += read_u64(t, OFF_task_struct__maj_flt);
	u->ctx_switches += read_u64(t, OFF_task_struct__nvcsw) + read_u64(t, OFF_task_struct__nivcsw);
	u->read_bytes += read_u64(t, OFF_task_struct__rchar);
	u->write_bytes += read_u64(t, OFF_task_struct__wchar);
}

/*
 * The group's use at its last exit, as getrusage(RUSAGE_SELF) would say:
 * signal_struct holds the threads already released, the exiting task and
 * (when another thread ended last) the zombie leader add theirs; a leader's
 * stats reach signal_struct only when it is reaped.  utime and stime are
 * tick samples: scaled, as the kernel's cputime_adjust() does, so that
 * they add up to the precise scheduler runtime.  maxrss: do_exit() folds
 * the mm's high-water mark into signal->maxrss before this tracepoint on
 * every kernel (it fires after exit_mm() before 6.16, before it since).
 */
static __always_inline void read_usage(struct procmon_usage *u, __u64 task, __u64 leader,
				       __u64 signal)
{
	__u64 ticks, stime;

	u->cpu_ns = read_u64(signal, OFF_signal_struct__sum_sched_runtime);
	u->utime_ns = read_u64(signal, OFF_signal_struct__utime);
	u->stime_ns = read_u64(signal, OFF_signal_struct__stime);
	u->min_flt = read_u64(signal, OFF_signal_struct__min_flt);
	u->maj_flt = read_u64(signal, OFF_signal_struct__maj_flt);
	u->ctx_switches = read_u64(signal, OFF_signal_struct__nvcsw) +
			  read_u64(signal, OFF_signal_struct__nivcsw);
	u->read_bytes = read_u64(signal, OFF_signal_struct__rchar);
	u->write_bytes = read_u64(signal, OFF_signal_struct__wchar);
	u->max_rss_kb = read_u64(signal, OFF_signal_struct__maxrss) * PAGE_KB;
	add_task_usage(u, task);
	if (leader != task)
		add_task_usage(u, leader);
	ticks = u->utime_ns + u->stime_ns;
	stime = ticks ? scale(u->stime_ns, u->cpu_ns, ticks) : 0;
	if (stime > u->cpu_ns)
		stime = u->cpu_ns;
	u->stime_ns = stime;
	u->utime_ns = u->cpu_ns - stime;
}

/* Is the exiting task the last of its group?  Threads leaving a live group
 * emit nothing: the process ends with its last task, whichever that is
 * (the leader may go first).  (sched_process_exit's group_dead argument
 * is only in kernels since 6.16.) */
static __always_inline bool last_of_group(__u64 task)
{
	__u64 signal = read_ptr(task, OFF_task_struct__signal);

	return !signal || read_u32(signal, OFF_signal_struct__live) == 0;
}

/* A marked task's mark ends with its group (separately from `live`: not
 * every marked task exec'd, and clang cannot mix two map pointers). */
static __always_inline void unmark_at_exit(__u32 tgid)
{
#ifdef CAPTURE_ON
	__u64 id = bpf_get_current_pid_tgid();

	if (!marks.lookup(&tgid))
		return;
	pending.delete(&id);	/* a write it never returned from */
	if (last_of_group(bpf_get_current_task()))
		marks.delete(&tgid);
#endif
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct live_proc *lp;
	struct procmon_exit ex = {};
	__u64 task, signal, leader;

	unmark_at_exit(tgid);
	lp = live.lookup(&tgid);
	if (!lp)
		return 0;
	task = bpf_get_current_task();
	if (!last_of_group(task))
		return 0;
	signal = read_ptr(task, OFF_task_struct__signal);
	ex.head.start_time = lp->start_time;
	ex.usage.threads = lp->threads;
	ex.usage.children = lp->children;
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
	if (signal)
		read_usage(&ex.usage, task, leader, signal);
	if (emit(args, &ex, sizeof(ex)) != 0) {
		stat_inc(PROCMON_STAT_OUTPUT_FAILED);
		return 0;
	}
	stat_inc(PROCMON_STAT_EXIT_EMITTED);
	return 0;
}

/*
 * Was the task just forked a process of ours, or a thread?  A new process
 * is the last entry of its parent's children list (copy_process() adds it
 * there); a thread never is (only group leaders are children).
 */
static __always_inline bool forked_process(__u64 task, __u32 child_pid)
{
	__u64 last = read_ptr(task + OFF_task_struct__children, 8);	/* list_head.prev */

	if (!last || last == task + OFF_task_struct__children)
		return false;
	return read_u32(last - OFF_task_struct__sibling, OFF_task_struct__pid) == child_pid;
}

/* A noted process forked: count a child, or the threads alive now. */
static __always_inline void count_fork(__u32 tgid, __u32 child)
{
	struct live_proc *lp = live.lookup(&tgid);
	__u64 task;
	__u32 n;

	if (!lp)
		return;
	task = bpf_get_current_task();
	if (forked_process(task, child)) {
		__sync_fetch_and_add(&lp->children, 1);
		return;
	}
	n = read_u32(read_ptr(task, OFF_task_struct__signal), OFF_signal_struct__nr_threads);
	if (n > lp->threads)
		lp->threads = n;
}

/* A marked task forked a process: the child spends its root's budget
 * (only the root's entry holds one).  Threads share the tgid's mark. */
static __always_inline void inherit_mark(__u32 tgid, __u32 child)
{
#ifdef CAPTURE_ON
	struct mark *m = marks.lookup(&tgid);
	struct mark inherited = {};

	if (!m || !forked_process(bpf_get_current_task(), child))
		return;
	inherited.root_start = m->root_start;
	inherited.root = m->root;
	if (marks.update(&child, &inherited) != 0)
		stat_inc(PROCMON_STAT_OUTPUT_DROPPED);
#endif
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 child = args->child_pid;

	count_fork(tgid, child);
	inherit_mark(tgid, child);
	return 0;
}

#ifdef CAPTURE_ON
/*
 * One record of up to PROCMON_OUTPUT_LEN bytes of buf, charged to root.
 * Past the budget nothing is sent but one empty record flagged BUDGET, so
 * that user space knows the stderr it has is not whole.  Returns the
 * bytes taken from buf (all of len when dropped), 0 when nothing was sent.
 */
static __always_inline __u64 emit_piece(void *ctx, struct mark *root, __u32 writer,
					const char *buf, __u64 len, __u32 flags)
{
	int zero = 0;
	struct procmon_output *o = out_scratch.lookup(&zero);
	__u32 n = len > PROCMON_OUTPUT_LEN ? PROCMON_OUTPUT_LEN : (__u32)len;

	if (!o)
		return len;
	o->head.kind = PROCMON_OUTPUT;
	o->head.tgid = root->root;
	o->head.start_time = root->root_start;
	o->writer_tgid = writer;
	o->pad = 0;
	if (n > root->left) {
		stat_inc(PROCMON_STAT_OUTPUT_DROPPED);
		if (root->owed & PROCMON_OUT_BUDGET)
			return len;
		root->owed |= PROCMON_OUT_BUDGET;
		n = 0;
	}
	n = at_most(n, PROCMON_OUTPUT_LEN);
	if (n && bpf_probe_read_user(o->data, n, buf) < 0) {
		stat_inc(PROCMON_STAT_OUTPUT_DROPPED);	/* paged out since the write */
		return len;
	}
	o->size = n;
	o->flags = flags | root->owed;
	n = at_most(n, PROCMON_OUTPUT_LEN);
	if (emit(ctx, o, offsetof(struct procmon_output, data) + n) != 0) {
		stat_inc(PROCMON_STAT_OUTPUT_DROPPED);
		root->owed |= PROCMON_OUT_BUDGET;	/* the next record says it */
		return len;
	}
	if (n == 0)
		return len;
	root->left -= n;
	root->owed = 0;
	stat_inc(PROCMON_STAT_OUTPUT_EMITTED);
	if (flags & PROCMON_OUT_CUT)
		stat_inc(PROCMON_STAT_OUTPUT_CUT);
	return n;
}

/* The root whose budget a marked task's writes spend, or NULL (counted)
 * when that root has ended. */
static __always_inline struct mark *capture_root(__u32 tgid)
{
	struct mark *m = marks.lookup(&tgid), *root;

	if (!m)
		return NULL;
	if (m->root == tgid)
		return m;
	root = marks.lookup(&m->root);
	if (!root || root->root_start != m->root_start || root->root != m->root) {
		stat_inc(PROCMON_STAT_OUTPUT_DROPPED);
		return NULL;
	}
	return root;
}

/* At the entry: only fd 2 of a marked task is noted (the marks lookup). */
static __always_inline int note_write(__u64 fd, __u64 buf, __u64 count, __u32 vec)
{
	__u64 id;
	__u32 tgid;
	struct pending_write w = { .buf = buf, .count = count, .vec = vec };

	if (fd != 2)
		return 0;
	id = bpf_get_current_pid_tgid();
	tgid = id >> 32;
	if (!marks.lookup(&tgid))
		return 0;
	if (pending.update(&id, &w) != 0)
		stat_inc(PROCMON_STAT_OUTPUT_DROPPED);
	return 0;
}

/* What write(2) wrote: up to CAPTURE_PIECES records. */
static __always_inline void capture_buffer(void *ctx, struct mark *root, __u32 tgid,
					   __u64 buf, __u64 len)
{
	__u64 done = 0;

	for (int i = 0; i < CAPTURE_PIECES; i++) {
		__u64 rest = len - done;
		__u32 flags = 0;

		if (done >= len)
			break;
		if (i == CAPTURE_PIECES - 1 && rest > PROCMON_OUTPUT_LEN)
			flags = PROCMON_OUT_CUT;
		done += emit_piece(ctx, root, tgid, (const char *)(buf + done), rest, flags);
	}
}

struct jcw_iovec {
	__u64 base;
	__u64 len;
};

/* What writev(2) wrote: a record for each of the first CAPTURE_IOVECS
 * iovecs, as far as the written bytes reach. */
static __always_inline void capture_iovecs(void *ctx, struct mark *root, __u32 tgid,
					   __u64 vec, __u64 vlen, __u64 written)
{
	for (int i = 0; i < CAPTURE_IOVECS; i++) {
		struct jcw_iovec iov = {};
		__u64 n;

		if (i >= vlen || written == 0)
			return;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(vec + i * sizeof(iov))) < 0) {
			stat_inc(PROCMON_STAT_OUTPUT_DROPPED);
			return;
		}
		n = iov.len < written ? iov.len : written;
		written -= n;
		if (n)
			emit_piece(ctx, root, tgid, (const char *)iov.base, n,
				   n > PROCMON_OUTPUT_LEN ? PROCMON_OUT_CUT : 0);
	}
	if (written)
		stat_inc(PROCMON_STAT_OUTPUT_CUT);	/* iovecs past CAPTURE_IOVECS */
}

/* At the exit: the one lookup every write on the node pays for. */
static __always_inline int capture_written(void *ctx, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_write *p = pending.lookup(&id), w;
	struct mark *root;

	if (!p)
		return 0;
	w = *p;
	pending.delete(&id);
	if (ret <= 0)
		return 0;
	root = capture_root(id >> 32);
	if (!root)
		return 0;
	if (w.vec)
		capture_iovecs(ctx, root, id >> 32, w.buf, w.count, ret);
	else
		capture_buffer(ctx, root, id >> 32, w.buf, (__u64)ret < w.count ? ret : w.count);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_write)
{
	return note_write(args->fd, (__u64)args->buf, args->count, 0);
}

TRACEPOINT_PROBE(syscalls, sys_enter_writev)
{
	return note_write(args->fd, (__u64)args->vec, args->vlen, 1);
}

TRACEPOINT_PROBE(syscalls, sys_exit_write)
{
	return capture_written(args, args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_exit_writev)
{
	return capture_written(args, args->ret);
}
#endif

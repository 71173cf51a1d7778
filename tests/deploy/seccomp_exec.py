#!/usr/bin/python3
"""seccomp_exec.py UNIT COMMAND... - exec COMMAND under the unit's system call
filter, the part of the sandbox that systemd builds with seccomp, so the
sandbox test runs the agent under it without systemd as PID 1.

Read from the unit, so a change there changes the test:
  SystemCallFilter=      allow lists (groups expanded by systemd-analyze
                         syscall-filter, as systemd expands them) minus the
                         ~ deny lists; everything else fails with
  SystemCallErrorNumber= (EPERM when unset, as systemd's default kills)
  SystemCallArchitectures=native   other ABIs are killed
  RestrictAddressFamilies=         socket() of any other family: EAFNOSUPPORT
  RestrictNamespaces=yes           setns(), and unshare()/clone() asking for
                                   a namespace: EPERM; clone3() ENOSYS, as
                                   systemd does (its flags sit in memory)
Needs python3-seccomp (libseccomp's binding, Debian and Ubuntu) and
NoNewPrivileges or CAP_SYS_ADMIN in the caller, as systemd does.
"""
import errno
import os
import socket
import subprocess
import sys

import seccomp

NS_FLAGS = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 |  # NEWNS CGROUP UTS IPC
            0x10000000 | 0x20000000 | 0x40000000 | 0x00000080)  # USER PID NET TIME


def unit_values(path, key):
    """Every value of key= in the unit, in order (systemd merges repeats)."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith(key + "="):
                out.append(line[len(key) + 1:])
    return out


def expand(name, seen):
    """A syscall or @group as the list of syscalls systemd means by it."""
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    text = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                          capture_output=True, text=True).stdout
    calls = set()
    for line in text.splitlines()[1:]:
        word = line.strip()
        if word and not word.startswith("#"):
            calls |= expand(word, seen)
    return calls


def syscall_sets(unit):
    allow, deny = None, set()
    for value in unit_values(unit, "SystemCallFilter"):
        invert = value.startswith("~")
        names = set()
        for word in value.lstrip("~").split():
            names |= expand(word, set())
        if invert:
            deny |= names
        else:
            allow = names if allow is None else allow | names
    if allow is None:
        sys.exit("seccomp_exec: %s has no SystemCallFilter allow list" % unit)
    return allow - deny


def known(name):
    """A real system call of this ABI (libseccomp gives the others, such as
    socketcall on x86-64, negative pseudo numbers it will not filter)."""
    try:
        return seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) >= 0
    except (ValueError, RuntimeError):
        return False


def build(unit):
    err_name = (unit_values(unit, "SystemCallErrorNumber") or ["EPERM"])[-1]
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(getattr(errno, err_name)))
    calls = {c for c in syscall_sets(unit) if known(c)}
    restrict_ns = (unit_values(unit, "RestrictNamespaces") or ["no"])[-1] == "yes"
    families = (unit_values(unit, "RestrictAddressFamilies") or [""])[-1].split()
    special = {"socket"} if families else set()
    if restrict_ns:
        special |= {"setns", "unshare", "clone", "clone3"}
    for c in calls - special:
        f.add_rule(seccomp.ALLOW, c)
    if families and "socket" in calls:
        allowed = [getattr(socket, fam) for fam in families]
        for fam in allowed:
            f.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, fam))
        f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                   seccomp.Arg(0, seccomp.GT, max(allowed)))
        for fam in range(max(allowed)):
            if fam not in allowed:
                f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                           seccomp.Arg(0, seccomp.EQ, fam))
    if restrict_ns:
        for c in ("unshare", "clone"):
            if c in calls:
                f.add_rule(seccomp.ALLOW, c, seccomp.Arg(0, seccomp.MASKED_EQ, NS_FLAGS, 0))
        if "clone3" in calls:
            f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    return f, len(calls)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: seccomp_exec.py UNIT COMMAND...")
    f, n = build(sys.argv[1])
    print("seccomp_exec: %d system calls allowed by %s" % (n, sys.argv[1]), file=sys.stderr)
    f.load()
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()

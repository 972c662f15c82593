#!/usr/bin/env python3
"""Writes controller/seccomp/strict.json: pocket-dock's `strict` system-call filter.

It is Podman's default profile (containers-common's seccomp.json, passed as the first
argument; /usr/share/containers/seccomp.json by default) with the calls untrusted code has no
business making taken out of every allow rule and denied with EPERM, and namespace flags
refused on clone. Each rule carries a `comment` saying why (Podman and Docker read and ignore
it). Run it again when containers-common's profile changes; review the diff.
"""
import json
import sys

DENIED = {
    "ptrace": "debugging other processes: reads and writes their memory",
    "process_vm_readv": "reads another process's memory, as ptrace does",
    "process_vm_writev": "writes another process's memory, as ptrace does",
    "kcmp": "compares kernel objects of other processes, a ptrace-class probe",
    "bpf": "loads programs into the kernel, a frequent source of kernel exploits",
    "keyctl": "the kernel keyring is not namespaced: keys of the host's users can leak",
    "add_key": "the kernel keyring is not namespaced",
    "request_key": "the kernel keyring is not namespaced",
    "unshare": "new namespaces widen the kernel surface a sandbox can reach",
    "setns": "joining other namespaces",
    "mount": "mounting file systems",
    "umount": "unmounting file systems",
    "umount2": "unmounting file systems (the masks over .pocket-dock/ among them)",
    "mount_setattr": "the new mount API",
    "move_mount": "the new mount API",
    "open_tree": "the new mount API",
    "fsopen": "the new mount API",
    "fsconfig": "the new mount API",
    "fsmount": "the new mount API",
    "fspick": "the new mount API",
    "pivot_root": "changing the root file system",
    "chroot": "changing the root directory",
    "perf_event_open": "performance counters leak information across processes and have had exploits",
    "userfaultfd": "page-fault handling in user space, used to widen kernel race windows",
    "kexec_load": "loading a new kernel",
    "kexec_file_load": "loading a new kernel",
    "io_uring_setup": "io_uring bypasses system-call filtering and has had many exploits",
    "io_uring_enter": "io_uring bypasses system-call filtering and has had many exploits",
    "io_uring_register": "io_uring bypasses system-call filtering and has had many exploits",
    "name_to_handle_at": "file handles can reach files outside the container's view",
    "open_by_handle_at": "file handles can reach files outside the container's view",
    "syslog": "reads the kernel log",
    "acct": "process accounting of the host",
    "swapon": "host swap",
    "swapoff": "host swap",
    "reboot": "rebooting",
    "quotactl": "host disk quotas",
    "lookup_dcookie": "kernel profiling",
    "fanotify_init": "watching file systems beyond the sandbox",
}

# clone's namespace flags: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
CLONE_NAMESPACE_FLAGS = 0x7E020000


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    with open(source) as f:
        profile = json.load(f)
    rules = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in DENIED and n not in ("clone", "clone3")]
        if not names:
            continue
        rule = dict(rule, names=names)
        rule["comment"] = comment_for(rule)
        rules.append(rule)
    rules.append({
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                  "op": "SCMP_CMP_MASKED_EQ"}],
        "comment": "strict: threads and processes, without new namespaces",
    })
    rules.append({
        "names": ["clone3"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 38,
        "comment": "strict: clone3 passes its flags in memory a filter cannot read; ENOSYS "
                   "makes the C library fall back to clone, whose flags are checked above",
    })
    for name in sorted(DENIED):
        rules.append({
            "names": [name],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "comment": "strict: " + DENIED[name],
        })
    out = {k: v for k, v in profile.items() if k != "syscalls"}
    out["syscalls"] = rules
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


def comment_for(rule):
    action = rule["action"]
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("arches"):
        return "Podman's default: calls of " + "/".join(includes["arches"]) + " only"
    if includes.get("caps"):
        return "Podman's default: allowed with " + "/".join(includes["caps"]) + \
            " (which the locked profile drops)"
    if excludes.get("caps"):
        return "Podman's default: refused without " + "/".join(excludes["caps"])
    if rule.get("args"):
        return "Podman's default: " + rule["names"][0] + " with these arguments only"
    if action == "SCMP_ACT_ALLOW":
        return "Podman's default: the ordinary calls of a process"
    return "Podman's default: refused to every container"


if __name__ == "__main__":
    main()

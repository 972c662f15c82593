//! A static program the locked-sandbox tests run inside a sandbox: it makes each system call
//! named on its command line, with harmless arguments, and prints `name errno` (0 when the
//! call succeeded). Arguments are chosen so that an allowed call fails with its own errno
//! (EFAULT, EBADF, ESRCH, ...) or succeeds, while a seccomp denial is EPERM: compared with a
//! sandbox under Podman's default filter, the difference is the filter's.
//!
//! Built by the test with `rustc -C target-feature=+crt-static` (no crates, no libc needed
//! in the image). x86_64 numbers.

use std::os::raw::c_long;

unsafe extern "C" {
    fn syscall(number: c_long, ...) -> c_long;
}

fn number(name: &str) -> Option<(c_long, [c_long; 5])> {
    Some(match name {
        // PTRACE_PEEKDATA of a pid that does not exist: ESRCH when allowed.
        "ptrace" => (101, [2, 999_999, 0, 0, 0]),
        // An unknown command: EINVAL when allowed (EPERM when unprivileged bpf is off).
        "bpf" => (321, [9999, 0, 0, 0, 0]),
        // KEYCTL_GET_KEYRING_ID of the session keyring, not created.
        "keyctl" => (250, [0, -3, 0, 0, 0]),
        // A NULL key type: EFAULT when allowed.
        "add_key" => (248, [0, 0, 0, 0, 0]),
        // No flags: succeeds when allowed, changes nothing.
        "unshare" => (272, [0, 0, 0, 0, 0]),
        // NULL paths: EFAULT when allowed.
        "mount" => (165, [0, 0, 0, 0, 0]),
        // A bad file descriptor: EBADF when allowed.
        "setns" => (308, [-1, 0, 0, 0, 0]),
        // A NULL attribute: EFAULT when allowed.
        "perf_event_open" => (298, [0, 0, -1, -1, 0]),
        "userfaultfd" => (323, [0, 0, 0, 0, 0]),
        "kexec_load" => (246, [0, 0, 0, 0, 0]),
        "kexec_file_load" => (320, [-1, -1, 0, 0, 0]),
        _ => return None,
    })
}

fn main() {
    for name in std::env::args().skip(1) {
        let Some((nr, a)) = number(&name) else {
            println!("{name} unknown");
            continue;
        };
        // SAFETY: each call is given arguments that make it fail or do nothing.
        let result = unsafe { syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
        let errno = if result == -1 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
        } else {
            0
        };
        println!("{name} {errno}");
    }
}

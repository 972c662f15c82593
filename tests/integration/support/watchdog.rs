//! Runs a long-lived helper process (a Podman service, a registry) so that it can never
//! outlive the tests: a watchdog shell holds our stdin pipe, and when the pipe closes, for
//! whatever reason the test process ended, it runs a cleanup command, kills the helper by
//! PID and deletes its folder.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const WATCHDOG: &str = r#"
dir="$1"; cleanup="$2"; shift 2
"$@" >"$dir/service.log" 2>&1 &
pid=$!
echo "$pid" > "$dir/service.pid"
read -r _ || true
eval "$cleanup" >/dev/null 2>&1
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
# Exec sessions' conmons run a delayed `podman container cleanup` (exit_command_delay, 5 s
# in scripts/containers.conf) that mounts the store again; let them finish first.
sleep 7
# Once no service of this store is left (a restarted one may have made a container while
# the first cleanup ran), clean up again, and end any conmon of this store that remains:
# its container would otherwise outlive the store.
eval "$cleanup" >/dev/null 2>&1
killtree() { for c in $(pgrep -P "$1"); do killtree "$c"; done; kill -KILL "$1" 2>/dev/null; }
for p in $(pgrep -x conmon); do
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF "$dir/" && killtree "$p"
done
# Podman's storage driver leaves a bind mount of its own folder behind.
awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount "$m" 2>/dev/null; done
rm -rf "$dir"
"#;

pub struct Watched {
    pub dir: PathBuf,
    child: Child,
}

impl Watched {
    /// Starts `command` with its log and pid file in `dir`; on exit runs `cleanup` (a shell
    /// snippet), kills the command and removes `dir`.
    pub fn spawn(dir: &Path, cleanup: &str, command: &[String], env: &[(&str, &str)]) -> Watched {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(dir)
            .arg(cleanup)
            .args(command)
            // In its own folder: conmon writes an `oom` marker into its working directory
            // when a container is OOM-killed, which would otherwise land in cli/.
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            sh.env(k, v);
        }
        let child = sh.spawn().expect("start a watchdog shell");
        Watched {
            dir: dir.to_path_buf(),
            child,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("service.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> String {
        std::fs::read_to_string(self.dir.join("service.pid"))
            .expect("pid file")
            .trim()
            .to_string()
    }
}

impl Drop for Watched {
    /// Tells the watchdog to clean up; it finishes on its own (a few seconds), detached.
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
    }
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

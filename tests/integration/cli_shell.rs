//! `shell` driven through tmux, as a person would: a real terminal, keys sent with
//! send-keys, the screen read with capture-pane.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::workspace::{TestWorkspace, sandbox};
use crate::support::{Podman, require_tool};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Waits until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {text:?} on:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn an_interactive_shell_runs_commands_follows_resizes_and_restores_the_terminal() {
    require_tool(
        "tmux",
        "install it with `apt-get install tmux` (scripts/test.sh does)",
    );
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("box.yaml", &sandbox("box", ""));
    ws.pd_ok(&["apply"]);

    let before = ws.path("stty-before");
    let after = ws.path("stty-after");
    let script = format!(
        "stty -g > {before}; CONTAINER_HOST={host} {bin} -C {root} shell box; echo SHELL_EXIT=$?; stty -g > {after}; sleep 60",
        before = before.display(),
        after = after.display(),
        host = podman.host(),
        bin = crate::support::cli::binary(),
        root = ws.root().display(),
    );
    let tmux = Tmux {
        socket: format!("pd-shell-{}", std::process::id()),
    };
    tmux.tmux(&["new-session", "-d", "-x", "100", "-y", "30", &script]);
    tmux.wait_for("/ #");

    tmux.tmux(&["send-keys", "echo hello-$((6*7))", "Enter"]);
    tmux.wait_for("hello-42");

    // The sandbox's terminal follows the window.
    tmux.tmux(&["resize-window", "-x", "120", "-y", "40"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tmux.tmux(&["send-keys", "stty size", "Enter"]);
        std::thread::sleep(Duration::from_millis(300));
        if tmux.screen().contains("40 120") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the size never followed:\n{}",
            tmux.screen()
        );
    }

    // Ctrl-C goes to the sandbox (it stops the command there), not to pocket-dock.
    tmux.tmux(&["send-keys", "sleep 100", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    tmux.tmux(&["send-keys", "C-c"]);
    tmux.tmux(&["send-keys", "echo still-here", "Enter"]);
    tmux.wait_for("\nstill-here");

    tmux.tmux(&["send-keys", "exit 3", "Enter"]);
    tmux.wait_for("SHELL_EXIT=3");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !after.exists() {
        assert!(
            Instant::now() < deadline,
            "the pane's script did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&before).unwrap(),
        std::fs::read_to_string(&after).unwrap(),
        "the terminal settings are restored"
    );
    // The shell is in the event log: its command, exit code and duration (not what was typed).
    let (_, events) = ws.pd_json(&["events", "--source", "session"]);
    let shell = events
        .iter()
        .find(|e| e["action"] == "shell")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(shell["object"], "Sandbox/box");
    assert_eq!(shell["outcome"], "failed");
    assert_eq!(shell["detail"]["exit_code"], 3);
    assert_eq!(shell["detail"]["command"], serde_json::json!(["sh"]));
    assert!(shell["duration_ms"].is_i64());
    assert!(!shell.to_string().contains("hello"), "{shell}");
    ws.pd(&["delete", "--all"]);
}

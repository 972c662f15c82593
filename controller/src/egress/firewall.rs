//! Host firewall rules for egress networks: the sandbox reaches the host only at the
//! proxy's port on its gateway address.
//!
//! The gateway address is the host's, and so is the bridge's IPv6 link-local address: without
//! these rules a sandbox could reach any host service listening on all addresses. For each
//! egress network, `INPUT` gets (top first):
//!
//! - IPv4: accept TCP from the bridge to the gateway address on [`PROXY_PORT`];
//! - IPv4: drop everything else from the bridge;
//! - IPv6: drop everything from the bridge.
//!
//! Each rule carries the comment `pocket-dock egress <engine network name>`, by which it is
//! checked, replaced and removed. The rules are made with `iptables`/`ip6tables` (on
//! nf_tables hosts, a drop in `INPUT` holds whichever backend netavark uses). Ensuring
//! checks each rule (`-C`) and, unless all are there, removes this network's rules and
//! inserts them again (`-I`), so the accept always stands above the drop.
//!
//! Building the commands and reading the listings is pure; [`Runner`] does the I/O.

use std::net::IpAddr;

use super::PROXY_PORT;

/// What every rule's comment starts with; the engine's network name follows.
pub const COMMENT_PREFIX: &str = "pocket-dock egress ";
/// The chain the rules go in.
pub const CHAIN: &str = "INPUT";

/// The comment that tags `network`'s rules.
pub fn comment(network: &str) -> String {
    format!("{COMMENT_PREFIX}{network}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub fn program(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn host_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// One rule: its family and its specification (what follows the chain name), written in
/// the order `iptables -S` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub spec: Vec<String>,
}

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub program: &'static str,
    pub args: Vec<String>,
}

impl Command {
    fn new(family: Family, action: &str, rest: impl IntoIterator<Item = String>) -> Command {
        let mut args = vec!["-w".to_string(), action.to_string(), CHAIN.to_string()];
        args.extend(rest);
        Command {
            program: family.program(),
            args,
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.program)?;
        for arg in &self.args {
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                write!(f, " \"{arg}\"")?;
            } else {
                write!(f, " {arg}")?;
            }
        }
        Ok(())
    }
}

/// Whether `name` can be a Linux interface name (1 to 15 characters, no separators).
pub fn valid_interface(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `network`'s rules, top first: accept the proxy's port on `gateway` from `interface`,
/// then drop everything else from `interface`, in both families.
pub fn rules(network: &str, interface: &str, gateway: IpAddr) -> Vec<Rule> {
    let tag = || {
        [
            "-m".into(),
            "comment".into(),
            "--comment".into(),
            comment(network),
        ]
    };
    let family = Family::of(gateway);
    let mut accept = vec![
        "-d".to_string(),
        format!("{gateway}/{}", family.host_prefix()),
        "-i".into(),
        interface.into(),
        "-p".into(),
        "tcp".into(),
        "-m".into(),
        "tcp".into(),
        "--dport".into(),
        PROXY_PORT.to_string(),
    ];
    accept.extend(tag());
    accept.extend(["-j".into(), "ACCEPT".into()]);
    let mut all = vec![Rule {
        family,
        spec: accept,
    }];
    for family in Family::ALL {
        let mut drop = vec!["-i".to_string(), interface.into()];
        drop.extend(tag());
        drop.extend(["-j".into(), "DROP".into()]);
        all.push(Rule { family, spec: drop });
    }
    all
}

/// `-C`: exit 0 when the rule is there, 1 when not.
pub fn check_command(rule: &Rule) -> Command {
    Command::new(rule.family, "-C", rule.spec.iter().cloned())
}

/// `-I` at the top of the chain.
pub fn insert_command(rule: &Rule) -> Command {
    Command::new(rule.family, "-I", rule.spec.iter().cloned())
}

/// `-S`: the chain's rules, one a line.
pub fn list_command(family: Family) -> Command {
    Command::new(family, "-S", [])
}

/// The commands that delete every rule of `network` in a `-S` listing of the chain.
pub fn delete_commands(family: Family, listing: &str, network: &str) -> Vec<Command> {
    let tag = comment(network);
    listing
        .lines()
        .filter_map(|line| {
            let words = split_words(line)?;
            let (action, rest) = words.split_first()?;
            let (chain, spec) = rest.split_first()?;
            let tagged = spec.windows(2).any(|w| w[0] == "--comment" && w[1] == tag);
            (action == "-A" && chain == CHAIN && tagged)
                .then(|| Command::new(family, "-D", spec.iter().cloned()))
        })
        .collect()
}

/// The engine network names tagged in a `-S` listing (each once, in order).
pub fn tagged_networks(listing: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in listing.lines() {
        let Some(words) = split_words(line) else {
            continue;
        };
        for w in words.windows(2) {
            if w[0] == "--comment"
                && let Some(name) = w[1].strip_prefix(COMMENT_PREFIX)
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// Splits a line of `iptables -S` into words: blanks separate, double quotes group (with
/// `\"` and `\\` inside). `None` for an unterminated quote.
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => w.push(chars.next()?),
                        other => w.push(other),
                    }
                }
            }
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// Why the rules could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("{program} is not installed")]
    NotInstalled { program: &'static str },
    #[error("{program} was refused (pocket-dock is not root): {detail}")]
    NotPermitted {
        program: &'static str,
        detail: String,
    },
    #[error("network {network} has no usable bridge interface name ({interface:?})")]
    NoInterface { network: String, interface: String },
    #[error("cannot read network {network}'s bridge interface: {source}")]
    Inspect {
        network: String,
        #[source]
        source: Box<crate::engine::EngineError>,
    },
    #[error("the firewall task stopped: {0}")]
    Task(String),
    #[error("`{command}` could not run: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed (exit {code:?}): {detail}")]
    Failed {
        command: String,
        code: Option<i32>,
        detail: String,
    },
}

impl FirewallError {
    /// The firewall cannot be changed here at all (not root, no iptables): expected on
    /// some hosts, not a fault of one network.
    pub fn unavailable(&self) -> bool {
        matches!(
            self,
            FirewallError::NotInstalled { .. } | FirewallError::NotPermitted { .. }
        )
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs commands: the one place with I/O.
pub trait Runner {
    fn run(&self, command: &Command) -> std::io::Result<Ran>;
}

/// Runs them as processes.
pub struct System;

impl Runner for System {
    fn run(&self, command: &Command) -> std::io::Result<Ran> {
        let out = std::process::Command::new(command.program)
            .args(&command.args)
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Runs `command`; exit codes in `ok` are returned, anything else is an error.
fn run(runner: &dyn Runner, command: &Command, ok: &[i32]) -> Result<Ran, FirewallError> {
    let ran = runner.run(command).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            FirewallError::NotInstalled {
                program: command.program,
            }
        } else {
            FirewallError::Spawn {
                command: command.to_string(),
                source,
            }
        }
    })?;
    let detail = ran.stderr.trim();
    if detail.contains("Permission denied") || detail.contains("you must be root") {
        return Err(FirewallError::NotPermitted {
            program: command.program,
            detail: detail.to_string(),
        });
    }
    match ran.code {
        Some(code) if ok.contains(&code) => Ok(ran),
        code => Err(FirewallError::Failed {
            command: command.to_string(),
            code,
            detail: detail.to_string(),
        }),
    }
}

/// Makes sure `network`'s rules stand, in order. `Ok(true)` when they were (re)installed,
/// `Ok(false)` when all were there already. IPv4 first: when IPv6 fails, IPv4 holds.
pub fn ensure(
    runner: &dyn Runner,
    network: &str,
    interface: &str,
    gateway: IpAddr,
) -> Result<bool, FirewallError> {
    if !valid_interface(interface) {
        return Err(FirewallError::NoInterface {
            network: network.to_string(),
            interface: interface.to_string(),
        });
    }
    let all = rules(network, interface, gateway);
    let mut changed = false;
    for family in Family::ALL {
        let wanted: Vec<&Rule> = all.iter().filter(|r| r.family == family).collect();
        let mut present = true;
        for rule in &wanted {
            if run(runner, &check_command(rule), &[0, 1])?.code != Some(0) {
                present = false;
                break;
            }
        }
        if present {
            continue;
        }
        // One missing (or a stale set, say for an interface of an earlier network by this
        // name): all of this network's rules go, and the whole set is inserted again,
        // bottom first so that the accept ends up above the drop.
        remove_family(runner, family, network)?;
        for rule in wanted.iter().rev() {
            run(runner, &insert_command(rule), &[0])?;
        }
        changed = true;
    }
    Ok(changed)
}

/// Removes every rule tagged for `network`; returns how many were removed.
pub fn remove(runner: &dyn Runner, network: &str) -> Result<usize, FirewallError> {
    let mut removed = 0;
    for family in Family::ALL {
        removed += remove_family(runner, family, network)?;
    }
    Ok(removed)
}

fn remove_family(
    runner: &dyn Runner,
    family: Family,
    network: &str,
) -> Result<usize, FirewallError> {
    let listing = run(runner, &list_command(family), &[0])?;
    let deletes = delete_commands(family, &listing.stdout, network);
    for delete in &deletes {
        run(runner, delete, &[0])?;
    }
    Ok(deletes.len())
}

/// The networks that have rules on this host (either family), from the listings.
pub fn installed(runner: &dyn Runner) -> Result<Vec<String>, FirewallError> {
    let mut names = Vec::new();
    for family in Family::ALL {
        let listing = run(runner, &list_command(family), &[0])?;
        for name in tagged_networks(&listing.stdout) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// A chain per family, as iptables keeps it: rules in order, `-S` quoting comments.
    #[derive(Default)]
    struct Fake {
        chains: RefCell<BTreeMap<&'static str, Vec<Vec<String>>>>,
        log: RefCell<Vec<String>>,
        refuse: Option<&'static str>,
    }

    impl Runner for Fake {
        fn run(&self, command: &Command) -> std::io::Result<Ran> {
            self.log.borrow_mut().push(command.to_string());
            let ok = |stdout: String| Ran {
                code: Some(0),
                stdout,
                stderr: String::new(),
            };
            match self.refuse {
                Some("missing") => return Err(std::io::ErrorKind::NotFound.into()),
                Some("root") => {
                    return Ok(Ran {
                        code: Some(4),
                        stdout: String::new(),
                        stderr: "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n".into(),
                    });
                }
                _ => {}
            }
            let mut chains = self.chains.borrow_mut();
            let chain = chains.entry(command.program).or_default();
            assert_eq!(command.args[0], "-w");
            assert_eq!(command.args[2], CHAIN);
            let spec = command.args[3..].to_vec();
            Ok(match command.args[1].as_str() {
                "-C" if chain.contains(&spec) => ok(String::new()),
                "-C" => Ran {
                    code: Some(1),
                    stdout: String::new(),
                    stderr: "iptables: Bad rule (does a matching rule exist in that chain?).\n"
                        .into(),
                },
                "-I" => {
                    chain.insert(0, spec);
                    ok(String::new())
                }
                "-D" => {
                    let at = chain.iter().position(|r| *r == spec).expect("deleted rule");
                    chain.remove(at);
                    ok(String::new())
                }
                "-S" => {
                    let mut out = format!("-P {CHAIN} ACCEPT\n");
                    for rule in chain.iter() {
                        out.push_str(&format!("-A {CHAIN}"));
                        for w in rule {
                            if w.contains(' ') {
                                out.push_str(&format!(" \"{w}\""));
                            } else {
                                out.push_str(&format!(" {w}"));
                            }
                        }
                        out.push('\n');
                    }
                    ok(out)
                }
                other => panic!("unexpected {other}"),
            })
        }
    }

    impl Fake {
        fn chain(&self, program: &'static str) -> Vec<String> {
            self.chains
                .borrow()
                .get(program)
                .map(|c| c.iter().map(|r| r.join(" ")).collect())
                .unwrap_or_default()
        }
    }

    const NET: &str = "pd-egress.agent-0a1b2c3d";

    fn gw() -> IpAddr {
        "10.213.4.1".parse().unwrap()
    }

    #[test]
    fn the_rules_accept_the_proxy_port_then_drop_the_rest() {
        let all = rules(NET, "podman3", gw());
        let text: Vec<(Family, String)> =
            all.iter().map(|r| (r.family, r.spec.join(" "))).collect();
        assert_eq!(
            text,
            [
                (
                    Family::V4,
                    "-d 10.213.4.1/32 -i podman3 -p tcp -m tcp --dport 3128 -m comment --comment pocket-dock egress pd-egress.agent-0a1b2c3d -j ACCEPT".to_string()
                ),
                (
                    Family::V4,
                    "-i podman3 -m comment --comment pocket-dock egress pd-egress.agent-0a1b2c3d -j DROP".to_string()
                ),
                (
                    Family::V6,
                    "-i podman3 -m comment --comment pocket-dock egress pd-egress.agent-0a1b2c3d -j DROP".to_string()
                ),
            ]
        );
        // The comment is one argument; printed for people, quoted.
        let check = check_command(&all[0]);
        assert_eq!(check.program, "iptables");
        assert_eq!(&check.args[..3], ["-w", "-C", "INPUT"]);
        assert!(check.args.contains(&comment(NET)));
        assert!(
            check
                .to_string()
                .contains("--comment \"pocket-dock egress pd-egress.agent-0a1b2c3d\"")
        );
        assert_eq!(insert_command(&all[2]).program, "ip6tables");
        assert_eq!(insert_command(&all[2]).args[1], "-I");
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(valid_interface("podman3"));
        assert!(valid_interface("br-0123456789a"));
        assert!(!valid_interface(""));
        assert!(!valid_interface("a very long name!"));
        assert!(!valid_interface("-j ACCEPT"));
        let fake = Fake::default();
        assert!(matches!(
            ensure(&fake, NET, "", gw()),
            Err(FirewallError::NoInterface { .. })
        ));
        assert!(fake.log.borrow().is_empty());
    }

    #[test]
    fn a_real_listing_gives_exact_deletes_for_one_network_only() {
        let listing = concat!(
            "-P INPUT ACCEPT\n",
            "-A INPUT -d 10.213.4.1/32 -i podman3 -p tcp -m tcp --dport 3128 -m comment --comment \"pocket-dock egress pd-egress.a-1\" -j ACCEPT\n",
            "-A INPUT -i podman3 -m comment --comment \"pocket-dock egress pd-egress.a-1\" -j DROP\n",
            "-A INPUT -i podman4 -m comment --comment \"pocket-dock egress pd-egress.a-10\" -j DROP\n",
            "-A INPUT -i eth0 -p tcp -m tcp --dport 22 -j ACCEPT\n",
            "-A FORWARD -i podman3 -m comment --comment \"pocket-dock egress pd-egress.a-1\" -j DROP\n",
        );
        let deletes = delete_commands(Family::V4, listing, "pd-egress.a-1");
        assert_eq!(deletes.len(), 2);
        assert_eq!(
            deletes[0].args,
            [
                "-w",
                "-D",
                "INPUT",
                "-d",
                "10.213.4.1/32",
                "-i",
                "podman3",
                "-p",
                "tcp",
                "-m",
                "tcp",
                "--dport",
                "3128",
                "-m",
                "comment",
                "--comment",
                "pocket-dock egress pd-egress.a-1",
                "-j",
                "ACCEPT"
            ]
        );
        assert_eq!(
            tagged_networks(listing),
            ["pd-egress.a-1", "pd-egress.a-10"]
        );
        assert_eq!(
            split_words(r#"-A x --comment "a \"b\" c""#).unwrap(),
            ["-A", "x", "--comment", "a \"b\" c"]
        );
        assert!(split_words("-A \"open").is_none());
    }

    #[test]
    fn ensure_installs_once_in_order_and_remove_takes_only_that_network() {
        let fake = Fake::default();
        // Someone else's rule stays where it is, below ours.
        fake.chains.borrow_mut().insert(
            "iptables",
            vec![vec![
                "-i".into(),
                "eth0".into(),
                "-j".into(),
                "ACCEPT".into(),
            ]],
        );
        assert!(ensure(&fake, NET, "podman3", gw()).unwrap());
        let v4 = fake.chain("iptables");
        assert_eq!(v4.len(), 3);
        assert!(v4[0].ends_with("-j ACCEPT") && v4[0].contains("--dport 3128"));
        assert!(v4[1].ends_with("-j DROP"));
        assert_eq!(v4[2], "-i eth0 -j ACCEPT");
        assert_eq!(fake.chain("ip6tables").len(), 1);
        // Again: only checks.
        fake.log.borrow_mut().clear();
        assert!(!ensure(&fake, NET, "podman3", gw()).unwrap());
        assert!(fake.log.borrow().iter().all(|c| c.contains(" -C ")));
        // A second network's rules live next to the first's.
        ensure(
            &fake,
            "pd-egress.b-1",
            "podman4",
            "10.213.5.1".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(fake.chain("iptables").len(), 5);
        // One rule lost (say the accept): the set is put back whole, accept above drop.
        fake.chains
            .borrow_mut()
            .get_mut("iptables")
            .unwrap()
            .retain(|r| !(r.join(" ").contains(NET) && r.join(" ").ends_with("ACCEPT")));
        assert!(ensure(&fake, NET, "podman3", gw()).unwrap());
        let v4 = fake.chain("iptables");
        let ours: Vec<&String> = v4.iter().filter(|r| r.contains(NET)).collect();
        assert_eq!(ours.len(), 2);
        assert!(ours[0].ends_with("ACCEPT") && ours[1].ends_with("DROP"));
        // The network got a new interface: the old rules go.
        ensure(&fake, NET, "podman9", gw()).unwrap();
        assert!(!fake.chain("iptables").iter().any(|r| r.contains("podman3")));
        assert!(
            !fake
                .chain("ip6tables")
                .iter()
                .any(|r| r.contains("podman3"))
        );
        let mut networks = installed(&fake).unwrap();
        networks.sort();
        assert_eq!(networks, ["pd-egress.agent-0a1b2c3d", "pd-egress.b-1"]);
        // Removal: this network's rules, in both families, nothing else.
        assert_eq!(remove(&fake, NET).unwrap(), 3);
        assert_eq!(remove(&fake, NET).unwrap(), 0);
        assert!(!fake.chain("iptables").iter().any(|r| r.contains(NET)));
        assert!(
            fake.chain("ip6tables")
                .iter()
                .all(|r| r.contains("pd-egress.b-1"))
        );
        assert_eq!(fake.chain("iptables").len(), 3);
    }

    #[test]
    fn no_root_or_no_iptables_is_told_apart_from_a_failure() {
        let not_root = Fake {
            refuse: Some("root"),
            ..Fake::default()
        };
        let e = ensure(&not_root, NET, "podman3", gw()).unwrap_err();
        assert!(
            matches!(e, FirewallError::NotPermitted { .. }) && e.unavailable(),
            "{e}"
        );
        let missing = Fake {
            refuse: Some("missing"),
            ..Fake::default()
        };
        let e = remove(&missing, NET).unwrap_err();
        assert!(matches!(
            e,
            FirewallError::NotInstalled {
                program: "iptables"
            }
        ));
        assert!(e.unavailable());
        let failed = FirewallError::Failed {
            command: "iptables -w -I INPUT".into(),
            code: Some(2),
            detail: "Bad argument".into(),
        };
        assert!(!failed.unavailable());
    }
}

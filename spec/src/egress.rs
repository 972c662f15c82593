//! Egress allow-list entries (`network: {egress: [...]}`): parsing, shared by validation and
//! by the proxy that enforces them, and matching a requested destination against them.
//!
//! An entry is `HOST:PORT`, where HOST is one of
//! - a DNS name (`packages.example.org`), matched exactly, case-insensitively;
//! - a wildcard `*.example.com`: `*` only as the whole leftmost label, matching any name
//!   with one or more labels in front of `example.com` (not `example.com` itself); the
//!   suffix needs at least two labels (`*.com` is refused as too broad);
//! - an IPv4 literal (`10.1.2.3`) or an IPv6 literal in brackets (`[fd00::1]`), matched
//!   only by a request for that literal address, never by a name that resolves to it.
//!
//! The port is required (1 to 65535). Pure: no resolution, no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The host part of an allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressHost {
    /// A DNS name, lower-case, without a trailing dot.
    Name(String),
    /// `*.suffix`: the suffix, lower-case, without the `*.`.
    Wildcard(String),
    /// A literal address.
    Ip(IpAddr),
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    pub host: EgressHost,
    pub port: u16,
}

impl fmt::Display for EgressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            EgressHost::Name(n) => write!(f, "{n}:{}", self.port),
            EgressHost::Wildcard(s) => write!(f, "*.{s}:{}", self.port),
            EgressHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            EgressHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// The longest entry taken (a DNS name is at most 253 bytes).
const MAX_ENTRY: usize = 300;

impl EgressRule {
    /// Parses an entry; the error says what is wrong, for a diagnostic.
    pub fn parse(entry: &str) -> Result<EgressRule, String> {
        if entry.len() > MAX_ENTRY {
            return Err("is too long to be a host and port".into());
        }
        let (host, port) = split_host_port(entry).ok_or_else(|| {
            "needs a port: `HOST:PORT`, e.g. `packages.example.org:443`".to_string()
        })?;
        let port = parse_port(port)?;
        let host = if let Some(inner) = host.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| "an IPv6 address needs its closing `]`".to_string())?;
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| format!("`{inner}` is not an IPv6 address"))?;
            EgressHost::Ip(IpAddr::V6(ip))
        } else if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            EgressHost::Ip(IpAddr::V4(ip))
        } else if let Some(suffix) = host.strip_prefix("*.") {
            name_problem(suffix).map_err(|p| format!("after `*.`: {p}"))?;
            if !suffix.contains('.') {
                return Err(format!(
                    "`*.{suffix}` is too broad: a wildcard needs at least two labels after `*.`"
                ));
            }
            EgressHost::Wildcard(suffix.to_ascii_lowercase())
        } else {
            if host.contains('*') {
                return Err(
                    "`*` is allowed only as the whole leftmost label (`*.example.com`)".to_string(),
                );
            }
            if looks_numeric(host) {
                return Err(format!("`{host}` is not an IPv4 address"));
            }
            name_problem(host)?;
            EgressHost::Name(host.to_ascii_lowercase())
        };
        Ok(EgressRule { host, port })
    }

    /// Whether a request for `host`:`port` (as the client wrote it) is allowed by this rule.
    pub fn allows(&self, target: &Target) -> bool {
        if target.port != self.port {
            return false;
        }
        match (&self.host, &target.host) {
            (EgressHost::Ip(allowed), TargetHost::Ip(ip)) => allowed == ip,
            (EgressHost::Name(allowed), TargetHost::Name(name)) => allowed == name,
            (EgressHost::Wildcard(suffix), TargetHost::Name(name)) => name
                .strip_suffix(suffix.as_str())
                .and_then(|front| front.strip_suffix('.'))
                .is_some_and(|front| !front.is_empty()),
            _ => false,
        }
    }
}

/// A requested destination's host, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// Lower-case, without a trailing dot.
    Name(String),
    Ip(IpAddr),
}

/// A requested destination (`CONNECT host:port`, or an absolute URI's authority).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: TargetHost,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            TargetHost::Name(n) => write!(f, "{n}:{}", self.port),
            TargetHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            TargetHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

impl Target {
    /// Parses `host:port` (or `host` with `default_port`), as a client sends it. A name
    /// is lower-cased and loses one trailing dot; an IPv4-mapped IPv6 address is taken
    /// as the IPv4 address it maps. `None` for anything else.
    pub fn parse(authority: &str, default_port: Option<u16>) -> Option<Target> {
        if authority.is_empty() || authority.len() > MAX_ENTRY {
            return None;
        }
        let (host, port) = match split_host_port(authority) {
            Some((host, port)) => (host, parse_port(port).ok()?),
            None => (authority, default_port?),
        };
        let host = if let Some(inner) = host.strip_prefix('[') {
            let ip: Ipv6Addr = inner.strip_suffix(']')?.parse().ok()?;
            match ip.to_ipv4_mapped() {
                Some(v4) => TargetHost::Ip(IpAddr::V4(v4)),
                None => TargetHost::Ip(IpAddr::V6(ip)),
            }
        } else if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            TargetHost::Ip(IpAddr::V4(ip))
        } else {
            let name = host.strip_suffix('.').unwrap_or(host);
            if looks_numeric(name) {
                // `010.1.1.1`, `0x7f.1`, `2130706433`: forms some resolvers read as
                // addresses; never a name here.
                return None;
            }
            name_problem(name).ok()?;
            TargetHost::Name(name.to_ascii_lowercase())
        };
        Some(Target { host, port })
    }
}

/// Whether any of `rules` allows `target`.
pub fn allowed(rules: &[EgressRule], target: &Target) -> bool {
    rules.iter().any(|r| r.allows(target))
}

/// `host` and `port` text of `host:port` or `[v6]:port`; `None` without a port.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if text.starts_with('[') {
        let close = text.find(']')?;
        let rest = &text[close + 1..];
        let port = rest.strip_prefix(':')?;
        return Some((&text[..=close], port));
    }
    let (host, port) = text.rsplit_once(':')?;
    if host.contains(':') {
        // A bare IPv6 address: needs brackets.
        return None;
    }
    Some((host, port))
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a port (1 to 65535)"));
    }
    match text.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("port `{text}` is out of range (1 to 65535)")),
    }
}

/// Digits and dots only, or a `0x` form: what an address written oddly looks like.
fn looks_numeric(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit()) || last.to_ascii_lowercase().starts_with("0x"))
}

/// Why `name` is not a DNS name (labels of letters, digits and `-`, 1 to 63 bytes, not
/// starting or ending with `-`; 253 bytes in all).
fn name_problem(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the host is empty".into());
    }
    if name.len() > 253 {
        return Err("the host name is longer than 253 characters".into());
    }
    if name.ends_with('.') {
        return Err(format!("`{name}`: write the name without its trailing dot"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("`{name}` has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("`{label}` is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "`{name}` is not a host name (letters, digits, `-` and `.` only)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{label}` starts or ends with `-`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> EgressRule {
        EgressRule::parse(text).unwrap()
    }

    fn target(text: &str) -> Target {
        Target::parse(text, None).unwrap()
    }

    #[test]
    fn entries_parse_and_print_back() {
        for text in [
            "packages.example.org:443",
            "10.1.2.3:8080",
            "*.example.com:443",
            "[fd00::1]:80",
            "localhost:1",
            "a-b.c:65535",
        ] {
            assert_eq!(rule(text).to_string(), text);
        }
        assert_eq!(
            rule("Packages.Example.ORG:443").to_string(),
            "packages.example.org:443"
        );
    }

    #[test]
    fn bad_entries_say_why() {
        for (text, says) in [
            ("example.org", "needs a port"),
            ("example.org:", "not a port"),
            ("example.org:0", "out of range"),
            ("example.org:65536", "out of range"),
            ("example.org:http", "not a port"),
            ("example.org:+80", "not a port"),
            ("*.com:443", "too broad"),
            ("a.*.example.com:443", "leftmost"),
            ("*example.com:443", "leftmost"),
            ("**.example.com:443", "leftmost"),
            ("*.-a.example.com:443", "after `*.`"),
            ("*:443", "leftmost"),
            ("fd00::1:80", "needs a port"),
            ("[fd00::1:80", "needs a port"),
            ("[fd00::1:80]", "needs a port"),
            ("[nope]:80", "not an IPv6"),
            ("999.1.1.1:80", "not an IPv4"),
            ("example.org.:443", "trailing dot"),
            ("exa mple.org:443", "not a host name"),
            ("-a.org:443", "starts or ends"),
            (":443", "empty"),
            ("a..b:1", "empty label"),
        ] {
            let err = EgressRule::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert!(EgressRule::parse(&"a".repeat(400)).is_err());
    }

    #[test]
    fn names_match_exactly_and_case_insensitively_with_a_trailing_dot() {
        let r = rule("packages.example.org:443");
        assert!(r.allows(&target("packages.example.org:443")));
        assert!(r.allows(&target("PACKAGES.example.ORG.:443")));
        assert!(!r.allows(&target("packages.example.org:80")));
        assert!(!r.allows(&target("evil.packages.example.org:443")));
        assert!(!r.allows(&target("packages.example.org.evil.com:443")));
        assert!(!r.allows(&target("xpackages.example.org:443")));
    }

    #[test]
    fn wildcards_match_one_or_more_labels_in_front_only() {
        let r = rule("*.example.com:443");
        assert!(r.allows(&target("a.example.com:443")));
        assert!(r.allows(&target("a.b.example.com:443")));
        assert!(r.allows(&target("A.Example.Com.:443")));
        assert!(!r.allows(&target("example.com:443")));
        assert!(!r.allows(&target("badexample.com:443")));
        assert!(!r.allows(&target("a.example.com.evil.org:443")));
        assert!(!r.allows(&target("a.example.com:80")));
    }

    #[test]
    fn addresses_match_only_literal_addresses() {
        let r = rule("10.1.2.3:8080");
        assert!(r.allows(&target("10.1.2.3:8080")));
        assert!(r.allows(&target("[::ffff:10.1.2.3]:8080")));
        assert!(!r.allows(&target("10.1.2.3:8081")));
        assert!(!r.allows(&target("10.1.2.4:8080")));
        let v6 = rule("[fd00::1]:80");
        assert!(v6.allows(&target("[fd00:0::1]:80")));
        assert!(!v6.allows(&target("[fd00::2]:80")));
        // A name never matches an address rule, nor an address a name rule.
        assert!(!rule("localhost:80").allows(&target("127.0.0.1:80")));
    }

    #[test]
    fn odd_targets_are_refused_not_guessed() {
        for text in [
            "",
            ":80",
            "a:",
            "a:0",
            "a:99999",
            "[::1",
            "::1:80",
            "0x7f.1:80",
            "2130706433:80",
            "010.1.1.1:80",
            "a b:80",
            "a/b:80",
            "a@b:80",
            "*.example.com:443",
        ] {
            assert!(Target::parse(text, None).is_none(), "{text}");
        }
        assert_eq!(
            Target::parse("example.org", Some(80)),
            Some(target("example.org:80"))
        );
        assert!(Target::parse(&"a.".repeat(200), Some(80)).is_none());
    }
}

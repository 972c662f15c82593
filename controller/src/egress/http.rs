//! The proxy's request head: parsed from bytes a sandbox sent, so every length is capped and
//! nothing is trusted. Pure: no I/O.

use pocket_dock_spec::egress::Target;

/// The longest request head taken (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// The most header lines taken.
const MAX_HEADERS: usize = 100;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CONNECT host:port`: a tunnel (HTTPS).
    Connect { target: Target },
    /// `METHOD http://host[:port]/path VERSION`: one plain HTTP request, passed on in origin
    /// form (`METHOD /path VERSION`) with the headers kept (but the proxy's own).
    Http {
        target: Target,
        /// The head to send to the destination, `Connection: close` included.
        head: Vec<u8>,
        method: String,
    },
}

impl Request {
    pub fn target(&self) -> &Target {
        match self {
            Request::Connect { target } | Request::Http { target, .. } => target,
        }
    }

    pub fn method(&self) -> &str {
        match self {
            Request::Connect { .. } => "CONNECT",
            Request::Http { method, .. } => method,
        }
    }
}

/// Why a head was refused; the text is the 4xx response's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or malformed (400).
    Malformed(&'static str),
    /// Longer than [`MAX_HEAD`] or too many headers (431).
    TooLarge,
}

/// Where the head ends (the index after `\r\n\r\n`), if it has ended.
pub fn head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

/// Parses a complete head (up to and including the blank line).
pub fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    if head.len() > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed("not text"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("bad request line"));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Malformed("only HTTP/1.0 and HTTP/1.1"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadError::Malformed("bad method"));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        if headers.len() >= MAX_HEADERS {
            return Err(HeadError::TooLarge);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError::Malformed("bad header line"));
        };
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(HeadError::Malformed("bad header name"));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(HeadError::Malformed("bad header value"));
        }
        headers.push((name, value.trim()));
    }
    if method == "CONNECT" {
        let target = Target::parse(uri, None).ok_or(HeadError::Malformed("bad CONNECT target"))?;
        return Ok(Request::Connect { target });
    }
    let Some(rest) = strip_prefix_ignore_case(uri, "http://") else {
        return Err(HeadError::Malformed(
            "only absolute http:// URLs (use CONNECT for https)",
        ));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(HeadError::Malformed("credentials in the URL"));
    }
    let target = Target::parse(authority, Some(80)).ok_or(HeadError::Malformed("bad host"))?;
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let mut out = format!("{method} {path} {version}\r\n");
    for (name, value) in &headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "proxy-connection" | "proxy-authorization" | "connection" | "keep-alive"
        ) {
            continue;
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    // One request per connection: a second one on a kept-alive connection would reach the
    // same destination unchecked (harmless) but would not be logged.
    out.push_str("Connection: close\r\n\r\n");
    Ok(Request::Http {
        target,
        head: out.into_bytes(),
        method: method.to_string(),
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// A short response the proxy makes itself.
pub fn response(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Request, HeadError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn connect_gives_the_target() {
        let r =
            parse("CONNECT Example.org.:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n").unwrap();
        assert_eq!(r.target().to_string(), "example.org:443");
        assert_eq!(r.method(), "CONNECT");
        let v6 = parse("CONNECT [fd00::1]:8443 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(v6.target().to_string(), "[fd00::1]:8443");
    }

    #[test]
    fn plain_http_is_passed_on_in_origin_form_without_proxy_headers() {
        let r = parse(
            "GET http://a.example.org/x?y=1 HTTP/1.1\r\nHost: a.example.org\r\nProxy-Authorization: secret\r\nProxy-Connection: keep-alive\r\nUser-Agent: w\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.target().to_string(), "a.example.org:80");
        let Request::Http { head, .. } = r else {
            panic!("http")
        };
        let head = String::from_utf8(head).unwrap();
        assert_eq!(
            head,
            "GET /x?y=1 HTTP/1.1\r\nHost: a.example.org\r\nUser-Agent: w\r\nConnection: close\r\n\r\n"
        );
        let r = parse("GET HTTP://10.1.2.3:8080 HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(r.target().to_string(), "10.1.2.3:8080");
        let r = parse("GET http://h.example?q HTTP/1.0\r\n\r\n").unwrap();
        let Request::Http { head, .. } = r else {
            panic!("http")
        };
        assert!(head.starts_with(b"GET /?q HTTP/1.0\r\n"));
    }

    #[test]
    fn hostile_heads_are_refused_without_panicking() {
        for text in [
            "",
            "\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET https://a.example.org/ HTTP/1.1\r\n\r\n",
            "GET http://user:pw@a.example.org/ HTTP/1.1\r\n\r\n",
            "GET http://a.example.org/ HTTP/2\r\n\r\n",
            "GET  http://a.example.org/ HTTP/1.1\r\n\r\n",
            "get http://a.example.org/ HTTP/1.1\r\n\r\n",
            "CONNECT a.example.org HTTP/1.1\r\n\r\n",
            "CONNECT a.example.org:0 HTTP/1.1\r\n\r\n",
            "CONNECT :443 HTTP/1.1\r\n\r\n",
            "CONNECT [::1:443 HTTP/1.1\r\n\r\n",
            "CONNECT a.example.org:443 HTTP/1.1\r\nno colon\r\n\r\n",
            "CONNECT a.example.org:443 HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "CONNECT a.example.org:443 HTTP/1.1\r\nX: a\u{0}b\r\n\r\n",
            "GET http://a.exa mple.org/ HTTP/1.1\r\n\r\n",
            "GET http://%61.example.org/ HTTP/1.1\r\n\r\n",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        assert_eq!(
            parse_head(&[0xff, 0xfe, b'\r', b'\n']),
            Err(HeadError::Malformed("not text"))
        );
        let huge = format!(
            "CONNECT a.b:1 HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(parse(&huge), Err(HeadError::TooLarge));
        let many = format!("CONNECT a.b:1 HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(200));
        assert_eq!(parse(&many), Err(HeadError::TooLarge));
    }

    #[test]
    fn the_head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"CONNECT a:1 HTTP/1.1\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"CONNECT a:1 HTTP/1.1\r\n"), None);
    }
}

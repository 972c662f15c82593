//! `import compose` end to end: a two-service compose app (a busybox httpd serving a file
//! from a bind mount on a published port, and a client that waits for it to be healthy and
//! fetches the page) is imported, applied with `--wait`, works, and is deleted.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use crate::support::workspace::{TestWorkspace, port};
use crate::support::{Podman, TEST_IMAGE, poll};

fn compose(image: &str, host_port: u16) -> String {
    format!(
        r#"services:
  web:
    image: {image}
    command: ["httpd", "-f", "-p", "8080", "-h", "/srv"]
    ports:
      - "127.0.0.1:{host_port}:8080"
    volumes:
      - ./site:/srv:ro
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"]
      interval: 1s
      timeout: 2s
      retries: 30
    restart: unless-stopped
  client:
    image: {image}
    command: sh -c 'wget -q -O /tmp/page.html http://web:8080/index.html && exec sleep 3600'
    depends_on:
      web:
        condition: service_healthy
    privileged: true
"#
    )
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[tokio::test]
async fn an_imported_compose_app_is_applied_and_works() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let host_port = port(7);
    std::fs::write(ws.path("compose.yaml"), compose(TEST_IMAGE, host_port)).unwrap();
    std::fs::create_dir_all(ws.path("site")).unwrap();
    std::fs::write(ws.path("site/index.html"), "hello from compose\n").unwrap();

    // Imported: the files, then what was not carried over, with its line.
    let run = ws.pd_ok(&["import", "compose"]);
    let text = run.stdout_text();
    assert!(
        text.contains("wrote .pocket-dock/compose/client.yaml"),
        "{text}"
    );
    assert!(
        text.contains("wrote .pocket-dock/compose/web.yaml"),
        "{text}"
    );
    assert!(
        text.contains("compose.yaml:21: services.client.privileged: not carried over: pocket-dock never runs privileged sandboxes"),
        "{text}"
    );
    // The same as JSON, and the same bytes again (the files are the importer's to replace).
    let before = std::fs::read(ws.path(".pocket-dock/compose/web.yaml")).unwrap();
    let (run, values) = ws.pd_json(&["import", "compose", "compose.yaml"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(
        values[0]["written"].as_array().unwrap().len(),
        2,
        "{values:?}"
    );
    assert_eq!(values[0]["skipped"][0]["line"], 21, "{values:?}");
    assert_eq!(
        std::fs::read(ws.path(".pocket-dock/compose/web.yaml")).unwrap(),
        before
    );
    ws.pd_ok(&["validate"]);

    ws.pd_ok(&["apply", "--wait", "--timeout", "120s"]);
    // The page is served on the published port...
    poll::until_blocking(Duration::from_secs(30), "the page on the host port", || {
        http_get(host_port, "/index.html").is_some_and(|r| r.contains("hello from compose"))
    });
    // ...and the client, started once web was healthy, fetched it by the service's name.
    poll::until_blocking(Duration::from_secs(30), "the client's copy", || {
        let run = ws.pd(&["exec", "client", "--", "cat", "/tmp/page.html"]);
        run.code == Some(0) && run.stdout_text().contains("hello from compose")
    });

    ws.pd_ok(&["delete", "--all"]);
}

#[test]
fn an_invalid_compose_file_exits_2_with_its_line_and_writes_nothing() {
    let ws = TestWorkspace::new(Podman::shared());
    std::fs::write(
        ws.path("docker-compose.yml"),
        "services:\n  web:\n    image: a\n    volumes: [missing:/data]\n",
    )
    .unwrap();
    let run = ws.pd(&["import", "compose"]);
    assert_eq!(
        run.code,
        Some(2),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        run.stderr_text().contains("docker-compose.yml:4:"),
        "{}",
        run.stderr_text()
    );
    assert!(!ws.path(".pocket-dock/compose").exists());
    // A compose file that is not there is a wrong argument.
    let run = ws.pd(&["import", "compose", "nowhere.yaml"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("nowhere.yaml"),
        "{}",
        run.stderr_text()
    );
    // A file import did not write is left alone; --force replaces it.
    std::fs::write(
        ws.path("docker-compose.yml"),
        "services:\n  web:\n    image: a\n    command: [x]\n",
    )
    .unwrap();
    std::fs::create_dir_all(ws.path("out")).unwrap();
    std::fs::write(ws.path("out/web.yaml"), "# mine\n").unwrap();
    let run = ws.pd(&["import", "compose", "--out", "out"]);
    assert_eq!(
        run.code,
        Some(2),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("out/web.yaml")).unwrap(),
        "# mine\n"
    );
    ws.pd_ok(&["import", "compose", "--out", "out", "--force"]);
    assert!(
        std::fs::read_to_string(ws.path("out/web.yaml"))
            .unwrap()
            .contains("kind: Sandbox")
    );
}

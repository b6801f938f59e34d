//! `APP_LOG_LEVEL` directives reach the real binary's log output.

use std::time::Duration;

use crate::helpers::Binary;

#[tokio::test]
async fn a_per_target_directive_silences_request_lines_only() {
    let mut binary = Binary::start(&[("APP_LOG_LEVEL", "info,app::http=warn")]);
    let response = reqwest::get(binary.url("/health"))
        .await
        .expect("GET /health");
    assert_eq!(response.status(), 200);
    binary.signal("TERM");
    assert_eq!(binary.wait_exit(Duration::from_secs(5)).code(), Some(0));
    // Lines of other targets at info still arrive, in order; the request line never does.
    binary.wait_for_log(Duration::from_secs(2), |l| {
        l["message"] == "all requests finished; exiting"
    });
    let request_line = binary.find_log(|l| l["target"] == "app::http");
    assert!(
        request_line.is_none(),
        "app::http=warn must drop info request lines: {request_line:?}"
    );
}

/// Sends `request` as raw bytes on a connection of its own; the status line's code.
fn raw_request(binary: &Binary, request: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(binary.url("").trim_start_matches("http://"))
        .expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request).expect("sends");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
}

#[tokio::test]
async fn hostile_paths_and_request_ids_stay_escaped_in_the_json_log_line() {
    let mut binary = Binary::start(&[]);
    // Quotes, backslashes and braces in the path (hyper passes them on), and in the id.
    let status = raw_request(
        &binary,
        b"GET /quote\"back\\slash{} HTTP/1.1\r\nHost: x\r\nX-Request-Id: id-\"q\"\\b\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, Some(404));
    let line = binary.wait_for_log(Duration::from_secs(5), |l| {
        l["target"] == "app::http" && l["request_id"] == "id-\"q\"\\b"
    });
    assert_eq!(line["path"], "/quote\"back\\slash{}");
    assert_eq!(line["status"], 404);

    // UTF-8 and bytes that are not UTF-8, in the path and in the id: whatever the server
    // answers, every line it writes stays one valid JSON object (`wait_for_log` parses each).
    for (path, id) in [
        (&b"/caf\xc3\xa9"[..], &b"plain-id-1"[..]),
        (&b"/\xff\xfe\x80"[..], &b"plain-id-2"[..]),
        (&b"/health"[..], &b"\xff\xfe-not-utf8"[..]),
        (&b"/health"[..], &b"ctl\x01char"[..]),
    ] {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(path);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nX-Request-Id: ");
        request.extend_from_slice(id);
        request.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let status = raw_request(&binary, &request);
        assert!(status.is_some(), "an answer for {path:?} / {id:?}");
    }
    let health = reqwest::get(binary.url("/health"))
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);
    binary.signal("TERM");
    assert_eq!(binary.wait_exit(Duration::from_secs(5)).code(), Some(0));
    binary.wait_for_log(Duration::from_secs(2), |l| {
        l["message"] == "all requests finished; exiting"
    });
    let replaced = binary
        .find_log(|l| {
            l["path"] == "/health" && l["request_id"].as_str().is_some_and(|id| id.len() == 36)
        })
        .expect("a request line whose unacceptable id was replaced");
    assert_eq!(replaced["status"], 200);
}

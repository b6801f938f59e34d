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

//! The service with one production feature left out, for `cargo xtask cost`'s price list:
//! `priced FEATURE`, where FEATURE is one of `request-id`, `propagate-request-id`, `body-limit`,
//! `timeout`, `panic-recovery`, `compression` (tower-http's layers), `metrics`, or `none` (every
//! feature on: what the others are subtracted from, so that both sides of each difference are
//! the same binary). Everything else is `app serve` itself: the same configuration, telemetry,
//! routes and shutdown. The log line is priced on the service with `APP_LOG_LEVEL=off`.
//! `priced --list` prints the names, one a line.

use std::process::ExitCode;

use app::http::Features;
use app::startup::{self, EXIT_CONFIG};

fn main() -> ExitCode {
    let name = std::env::args().nth(1).unwrap_or_default();
    if name == "--list" {
        println!("{}", Features::NAMES.join("\n"));
        return ExitCode::SUCCESS;
    }
    if let Some(features) = Features::without(&name) {
        startup::serve(features)
    } else {
        eprintln!(
            "error: name the feature to leave out, one of: {}",
            Features::NAMES.join(", ")
        );
        ExitCode::from(EXIT_CONFIG)
    }
}

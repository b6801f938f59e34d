//! A configuration the service cannot use stops it before it binds anything.

use std::net::TcpListener;

use crate::helpers::app_command;

#[test]
fn an_invalid_value_exits_2_with_one_line_naming_variable_value_and_accepted_values() {
    // Hold the port while the app runs: had it tried to bind, it would fail with exit 1 and
    // "cannot listen"; exit 2 with the configuration message shows it stopped before binding.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let output = app_command()
        .env("APP_HOST", "127.0.0.1")
        .env("APP_PORT", port.to_string())
        .env("APP_LOG_FORMAT", "xml")
        .output()
        .expect("the app runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "error: invalid APP_LOG_FORMAT=\"xml\": expected json or pretty\n"
    );
    assert!(
        output.stdout.is_empty(),
        "nothing logged: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    drop(held);
}

#[test]
fn a_misspelled_variable_is_refused_rather_than_ignored() {
    let output = app_command()
        .env("APP_PROT", "9000")
        .output()
        .expect("the app runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: unknown variable APP_PROT: this service reads APP_HOST"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn every_variable_is_validated() {
    for (variable, value, accepted) in [
        ("APP_PORT", "http", "a port number from 0 to 65535"),
        ("APP_HOST", "example.com", "an IP address"),
        (
            "APP_LOG_LEVEL",
            "loud",
            "a level (trace, debug, info, warn, error, off)",
        ),
        ("APP_REQUEST_TIMEOUT", "ten", "a duration"),
        ("APP_SHUTDOWN_GRACE", "5", "a duration"),
        ("APP_SAMPLER_INTERVAL", "1ms", "at least 100ms"),
        ("APP_BODY_LIMIT", "-1", "a positive number of bytes"),
    ] {
        let output = app_command()
            .env(variable, value)
            .output()
            .expect("the app runs");
        assert_eq!(output.status.code(), Some(2), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(variable) && stderr.contains(value) && stderr.contains(accepted),
            "{variable}={value}: {stderr}"
        );
    }
}

#[test]
fn an_unknown_command_exits_2_and_points_to_help() {
    let output = app_command().arg("serv").output().expect("the app runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("app --help"));
}

//! The executable's own interface: version and help.

use crate::helpers::app_command;

#[test]
fn version_prints_version_and_revision() {
    let output = app_command()
        .arg("--version")
        .output()
        .expect("the app runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with(&format!("app {} (revision ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn help_lists_every_configuration_variable() {
    let output = app_command().arg("--help").output().expect("the app runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for (name, _, _) in app::config::VARIABLES {
        assert!(text.contains(name), "{name} missing from --help");
    }
}

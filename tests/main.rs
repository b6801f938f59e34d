//! End-to-end tests of the images, the stack and shipping, driven through `cargo xtask`, Docker
//! and the real tools. One binary, so that the tests that use the Docker engine take turns
//! whatever their area (see [`support::needs::docker_exclusive`]). Its runner is
//! [`support::harness`]: every test is listed here with what it needs, so one that cannot run on
//! this machine is reported as ignored, with its reason, not as passed.

mod cost;
mod daemonless;
mod ecs;
mod fresh;
mod images;
mod inspect;
mod oci_save;
mod report;
mod ship;
mod stack;
mod support;
mod workflows;

use std::process::ExitCode;

use support::harness::SystemTest;

/// Every system test, by module, with the engine and the programs it needs.
const TESTS: &[SystemTest] = &[
    SystemTest {
        name: "cost::cost_counts_the_service_the_bare_handler_and_every_feature",
        run: cost::cost_counts_the_service_the_bare_handler_and_every_feature,
        engine: false,
        tools: &["valgrind"],
    },
    SystemTest {
        name: "cost::cost_refuses_an_endpoint_it_does_not_count",
        run: cost::cost_refuses_an_endpoint_it_does_not_count,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "daemonless::a_daemonless_image_is_a_valid_oci_layout_that_docker_loads_and_test_image_passes",
        run: daemonless::a_daemonless_image_is_a_valid_oci_layout_that_docker_loads_and_test_image_passes,
        engine: true,
        tools: &["skopeo", "umoci"],
    },
    SystemTest {
        name: "daemonless::with_no_engine_the_distroless_base_is_read_from_its_registry_by_digest",
        run: daemonless::with_no_engine_the_distroless_base_is_read_from_its_registry_by_digest,
        engine: true,
        tools: &["docker-registry"],
    },
    SystemTest {
        name: "daemonless::push_daemonless_speaks_the_registry_api_anonymously_with_a_password_and_with_tokens",
        run: daemonless::push_daemonless_speaks_the_registry_api_anonymously_with_a_password_and_with_tokens,
        engine: true,
        tools: &["docker-registry", "htpasswd", "openssl"],
    },
    SystemTest {
        name: "daemonless::two_clean_builds_give_one_digest_and_a_source_change_another",
        run: daemonless::two_clean_builds_give_one_digest_and_a_source_change_another,
        engine: false,
        tools: &["git"],
    },
    SystemTest {
        name: "ecs::cfn_lint_passes_the_template_and_refuses_broken_copies",
        run: ecs::cfn_lint_passes_the_template_and_refuses_broken_copies,
        engine: false,
        tools: &["cfn-lint"],
    },
    SystemTest {
        name: "ecs::the_template_defaults_are_the_shutdown_settings",
        run: ecs::the_template_defaults_are_the_shutdown_settings,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "ecs::dry_run_without_aws_prints_resources_parameters_and_cost",
        run: ecs::dry_run_without_aws_prints_resources_parameters_and_cost,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "ecs::preflight_refuses_what_the_template_cannot_see",
        run: ecs::preflight_refuses_what_the_template_cannot_see,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "ecs::a_stack_on_moto_is_created_updated_and_deleted",
        run: ecs::a_stack_on_moto_is_created_updated_and_deleted,
        engine: false,
        tools: &["moto_server", "docker-registry", "sha256sum"],
    },
    SystemTest {
        name: "fresh::compare_gets_from_nothing_to_the_table_on_a_fresh_machine",
        run: fresh::compare_gets_from_nothing_to_the_table_on_a_fresh_machine,
        engine: true,
        tools: &["git"],
    },
    SystemTest {
        name: "images::without_an_engine_every_docker_command_says_so_in_one_line",
        run: images::without_an_engine_every_docker_command_says_so_in_one_line,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "images::multi_stage_images_pass_every_check",
        run: images::multi_stage_images_pass_every_check,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "images::both_dockerfiles_build_with_buildkit_and_with_the_legacy_builder",
        run: images::both_dockerfiles_build_with_buildkit_and_with_the_legacy_builder,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "images::the_multi_stage_image_builds_with_the_profile_asked_for",
        run: images::the_multi_stage_image_builds_with_the_profile_asked_for,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "images::the_single_stage_image_fails_the_checks_it_should",
        run: images::the_single_stage_image_fails_the_checks_it_should,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "images::compare_measures_every_image_and_records_history",
        run: images::compare_measures_every_image_and_records_history,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "images::bases_is_idempotent",
        run: images::bases_is_idempotent,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "images::analyze_and_scan_see_what_each_image_holds",
        run: images::analyze_and_scan_see_what_each_image_holds,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "images::the_scratch_images_sbom_lists_the_apps_crates_at_their_locked_versions",
        run: images::the_scratch_images_sbom_lists_the_apps_crates_at_their_locked_versions,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "inspect::analyze_reports_layers_waste_and_score_exactly",
        run: inspect::analyze_reports_layers_waste_and_score_exactly,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "inspect::scan_finds_the_planted_secrets_setuid_file_and_packages",
        run: inspect::scan_finds_the_planted_secrets_setuid_file_and_packages,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "inspect::a_clean_image_scores_100_on_both",
        run: inspect::a_clean_image_scores_100_on_both,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "inspect::secrets_in_the_configuration_and_remote_adds_fail_their_checks",
        run: inspect::secrets_in_the_configuration_and_remote_adds_fail_their_checks,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "inspect::bad_input_is_one_clear_error",
        run: inspect::bad_input_is_one_clear_error,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "inspect::trivys_findings_are_merged_scored_and_gated",
        run: inspect::trivys_findings_are_merged_scored_and_gated,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "oci_save::analyze_and_scan_read_docker_26s_oci_archives_as_the_older_layout",
        run: oci_save::analyze_and_scan_read_docker_26s_oci_archives_as_the_older_layout,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "oci_save::docker_26_loads_the_daemonless_archive_and_saves_the_same_files",
        run: oci_save::docker_26_loads_the_daemonless_archive_and_saves_the_same_files,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "ship::push_to_a_registry_then_pull_by_digest_and_run",
        run: ship::push_to_a_registry_then_pull_by_digest_and_run,
        engine: true,
        tools: &["docker-registry"],
    },
    SystemTest {
        name: "ship::tags_never_move",
        run: ship::tags_never_move,
        engine: true,
        tools: &["docker-registry"],
    },
    SystemTest {
        name: "ship::push_to_ecr_creates_the_repository_with_its_settings",
        run: ship::push_to_ecr_creates_the_repository_with_its_settings,
        engine: true,
        tools: &["docker-registry", "moto_server"],
    },
    SystemTest {
        name: "ship::a_transient_registry_failure_is_retried",
        run: ship::a_transient_registry_failure_is_retried,
        engine: true,
        tools: &["docker-registry"],
    },
    SystemTest {
        name: "ship::push_failures_are_one_clear_line_and_push_nothing",
        run: ship::push_failures_are_one_clear_line_and_push_nothing,
        engine: true,
        tools: &["docker-registry", "moto_server"],
    },
    SystemTest {
        name: "stack::nginx_config_passes_nginx_t_in_the_stacks_image",
        run: stack::nginx_config_passes_nginx_t_in_the_stacks_image,
        engine: true,
        tools: &[],
    },
    SystemTest {
        name: "stack::prometheus_config_rules_and_rule_tests_pass_promtool",
        run: stack::prometheus_config_rules_and_rule_tests_pass_promtool,
        engine: false,
        tools: &["promtool"],
    },
    SystemTest {
        name: "stack::compose_file_is_valid_for_the_compose_tool",
        run: stack::compose_file_is_valid_for_the_compose_tool,
        engine: false,
        tools: &["docker-compose"],
    },
    SystemTest {
        name: "stack::every_dashboard_panel_uses_the_provisioned_datasource",
        run: stack::every_dashboard_panel_uses_the_provisioned_datasource,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "stack::nginx_and_prometheus_on_loopback_in_front_of_the_real_app",
        run: stack::nginx_and_prometheus_on_loopback_in_front_of_the_real_app,
        engine: true,
        tools: &["prometheus", "wrk"],
    },
    SystemTest {
        name: "stack::compose_stack_starts_healthy_and_leaves_nothing_behind",
        run: stack::compose_stack_starts_healthy_and_leaves_nothing_behind,
        engine: true,
        tools: &["docker-compose"],
    },
    SystemTest {
        name: "stack::replicas_survive_a_roll_a_kill_a_restart_and_reloads_under_load",
        run: stack::replicas_survive_a_roll_a_kill_a_restart_and_reloads_under_load,
        engine: true,
        tools: &["docker-compose"],
    },
    SystemTest {
        name: "stack::a_roll_stops_at_a_replica_that_never_becomes_healthy",
        run: stack::a_roll_stops_at_a_replica_that_never_becomes_healthy,
        engine: true,
        tools: &["docker-compose"],
    },
    SystemTest {
        name: "workflows::actionlint_finds_nothing_in_the_pipeline_and_catches_a_broken_workflow",
        run: workflows::actionlint_finds_nothing_in_the_pipeline_and_catches_a_broken_workflow,
        engine: false,
        tools: &["npm"],
    },
    SystemTest {
        name: "support::proxy::tests::a_request_reads_its_method_path_and_headers",
        run: support::proxy::tests::a_request_reads_its_method_path_and_headers,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "support::proxy::tests::a_hook_answers_for_the_server",
        run: support::proxy::tests::a_hook_answers_for_the_server,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "support::proxy::tests::a_chunked_body_reaches_the_hook_whole_and_the_server_as_sent",
        run: support::proxy::tests::a_chunked_body_reaches_the_hook_whole_and_the_server_as_sent,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "support::proxy::tests::a_tls_hello_gets_a_plain_http_refusal",
        run: support::proxy::tests::a_tls_hello_gets_a_plain_http_refusal,
        engine: false,
        tools: &[],
    },
    SystemTest {
        name: "support::registry::base64_matches_the_rfc_examples",
        run: support::registry::base64_matches_the_rfc_examples,
        engine: false,
        tools: &[],
    },
];

fn main() -> ExitCode {
    support::harness::main(TESTS)
}

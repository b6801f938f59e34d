use std::fmt::Write;
use std::process::ExitCode;

use app::config::{Config, VARIABLES};
use app::startup::Application;
use app::{build_info, healthcheck, shutdown, telemetry};

/// Exit status for a configuration the service refuses to start with.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    if let Some(extra) = args.next() {
        eprintln!("error: unexpected argument {extra:?}; see `app --help`");
        return ExitCode::from(EXIT_CONFIG);
    }
    match command.as_deref() {
        None | Some("serve") => serve(),
        Some("healthcheck") => healthcheck::run(),
        Some("--version" | "-V") => {
            println!("{}", build_info::version_line());
            ExitCode::SUCCESS
        }
        Some("--help" | "-h" | "help") => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("error: unknown command {other:?}; see `app --help`");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let telemetry = match telemetry::init(config.log_format, &config.log_level) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: cannot start the log writer: {error}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::log_panics();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // Before anything else, so a signal during start-up is handled, not fatal.
        let signals = shutdown::Signals::register()
            .map_err(|error| format!("cannot listen for signals: {error}"))?;
        let application = Application::build(&config, Some(telemetry.dropped_lines()))
            .await
            .map_err(|error| {
                format!(
                    "cannot listen on {}:{}: {error}; set APP_HOST/APP_PORT to a free address",
                    config.host, config.port
                )
            })?;
        tracing::info!(
            address = %application.address(),
            version = build_info::VERSION,
            revision = build_info::GIT_REVISION,
            "listening"
        );
        application
            .run_until_signalled(signals)
            .await
            .map_err(|error| format!("server failed: {error}"))
    });
    // Dropping the runtime first ends its threads; dropping `telemetry` then flushes the logs.
    drop(runtime);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            drop(telemetry);
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> String {
    let mut text = format!(
        "{}\n\nUsage:\n  app [serve]     run the HTTP server (the default)\n  app healthcheck exit 0 if the local server's /health answers 200, else 1\n  app --version   print version and revision\n\nEnvironment:\n",
        build_info::version_line()
    );
    for (name, default, meaning) in VARIABLES {
        let _ = writeln!(text, "  {name:<22} {meaning} (default {default})");
    }
    text
}

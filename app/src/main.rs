use std::fmt::Write;
use std::process::ExitCode;

use app::config::VARIABLES;
use app::http::Features;
use app::startup::{self, EXIT_CONFIG};
use app::{build_info, healthcheck};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    if let Some(extra) = args.next() {
        eprintln!("error: unexpected argument {extra:?}; see `app --help`");
        return ExitCode::from(EXIT_CONFIG);
    }
    match command.as_deref() {
        None | Some("serve") => startup::serve(Features::ALL),
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

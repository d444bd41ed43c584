//! The `atrest` binary: parse, run, map the outcome to the contract's exit code.

mod cli;
mod exit;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let ui = cli::Ui { quiet: cli.quiet, verbose: cli.verbose };
    ui.init_logging();
    let result = match cli.command {
        cli::Command::Scan(args) => cli::run_scan(*args, ui),
        cli::Command::Diff(args) => cli::run_diff(args),
        cli::Command::Check(args) => cli::run_check(*args, ui),
        cli::Command::Rewrite(args) => cli::run_rewrite(*args, ui),
        cli::Command::Inspect(args) => cli::run_inspect(*args, ui),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(failure) => {
            eprintln!("atrest: error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

//! The `aiaas` binary: command-line parsing and wiring of the library crates.

mod cli;
mod client;
mod local;
mod output;
mod serve;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Die quietly when the reader of our output goes away (`aiaas predict ... | head`), as
    // command-line tools do, instead of panicking on the failed write. Not for the server: a
    // closed log pipe must not kill it.
    #[cfg(unix)]
    if !matches!(cli.command, cli::Command::Serve(_)) {
        // SAFETY: setting a signal disposition before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let result = match cli.command {
        cli::Command::Train(args) => local::train::run(args, threads),
        cli::Command::Eval(args) => local::eval::run(args, threads),
        cli::Command::Predict(args) => local::predict::run(args, threads),
        cli::Command::Optimize(args) => local::optimize::run(args.method, threads),
        cli::Command::Serve(args) => serve::run(args, cli.threads),
        cli::Command::Datasets(args) => client::datasets::run(args),
        cli::Command::Jobs(args) => client::jobs::run(args),
        cli::Command::Models(args) => client::models::run(args),
        cli::Command::Bench(args) => client::bench::run(args),
        cli::Command::Feedback(args) => client::monitor::feedback(args),
        cli::Command::Monitor(args) => client::monitor::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause added only if the message does not already say it
/// (library errors often include their source's text).
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

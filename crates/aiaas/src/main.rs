//! The `aiaas` binary: command-line parsing and wiring of the library crates.
//!
//! `cli` declares the commands and flags; `local` runs commands on this machine (`train`,
//! `eval`, `predict`, `optimize` on bundle directories); `client` runs them against an aiaas
//! server over HTTP; `output` is what both print (reports, tables, predictions CSV, the
//! progress bar) and imports neither; `serve` runs the server. [`run`] picks the side: `train`,
//! `predict` and `optimize` go to a server when one is given (`--server` or `AIAAS_URL`).

mod cli;
mod client;
mod files;
mod local;
mod output;
mod serve;

use clap::Parser;
use cli::Command;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a tenth of the server's CPU went to malloc and free on a
/// batch-1 infer load (see the serving bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Die quietly when the reader of our output goes away (`aiaas predict ... | head`), as
    // command-line tools do, instead of panicking on the failed write. Not for the server: a
    // closed log pipe must not kill it.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_)) {
        // SAFETY: setting a signal disposition before any thread starts. (std has no safe way
        // to restore SIGPIPE's default; this is the binary's one unsafe block.)
        #[allow(unsafe_code)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let access = client::Access {
        key: cli.api_key.as_deref(),
        ca_cert: cli.ca_cert.as_deref(),
    };
    let result = run(cli.command, cli.threads, &access);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// Runs one command. `threads` is `--threads` (`AIAAS_THREADS`): local commands take all cores
/// without it; `serve` passes it on as given. `access` (`--api-key`, `--ca-cert`) is for the
/// commands that call a server.
fn run(command: Command, threads: Option<usize>, access: &client::Access) -> anyhow::Result<()> {
    let compute =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    match command {
        Command::Train(args) => match cli::remote(args.server.as_deref()) {
            Some(server) => client::train::run(server, access, &args),
            None => local::train::run(&args, compute),
        },
        Command::Eval(args) => local::eval::run(args, compute),
        Command::Export(args) => local::export::run(&args),
        Command::Predict(args) => match cli::remote(args.server.as_deref()) {
            Some(server) => client::predict::run(server, access, &args),
            None => local::predict::run(&args, compute),
        },
        Command::Optimize(args) => {
            let (common, recipe) = args.method.into_recipe();
            match cli::remote(common.server.as_deref()) {
                Some(server) => client::optimize::run(server, access, &common, recipe),
                None => local::optimize::run(&common, &recipe, compute),
            }
        }
        Command::Serve(args) => serve::run(args, threads),
        Command::Datasets(args) => client::datasets::run(args, access),
        Command::Jobs(args) => client::jobs::run(args, access),
        Command::Sweep(args) => client::sweeps::run(args, access),
        Command::Models(args) => client::models::run(args, access),
        Command::Bench(args) => client::bench::run(args, access),
        Command::Feedback(args) => client::monitor::feedback(args, access),
        Command::Monitor(args) => client::monitor::run(args, access),
        Command::Keys(args) => client::keys::run(args, access),
        Command::Audit(args) => client::keys::audit(args, access),
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

//! A load generator for a running `escort serve`, from outside: it
//! registers copies of the `clean-khorgos-almaty` transit (`LOAD-000001`,
//! ...), drives each along its route at 60 km/h with a fix every 30 s, sends
//! the fixes in batches from several threads and prints the throughput and
//! the latency of a batch. `escort bench` runs the same load against a
//! server of its own; this is for a server you started, with your
//! configuration.
//!
//! Start the server on a fresh data folder (the ids are fixed, so a second
//! run sends fixes the server already holds, which it answers as duplicates
//! and this counts as errors), with an ingest token and without the tick:
//!
//! ```toml
//! listen = "127.0.0.1:0"
//! data = "data"
//! tick_seconds = 0
//! [[token]]
//! name = "load"
//! role = "ingest"
//! token = "load-generator-secret-0001"
//! ```
//!
//! ```sh
//! cargo build --release -p escort-cli -p escort-bench --example loadgen
//! target/release/escort serve --config escort.toml   # prints its address
//! target/release/examples/loadgen --url http://127.0.0.1:PORT --token load-generator-secret-0001 \
//!     --transits 64 --concurrency 16 --batch 100 --batches 20 [--json]
//! ```
//!
//! Only the sending is timed, not the registration. The exit status is 1
//! when a transit could not be registered, or a batch failed or was not
//! taken whole.

use std::process::ExitCode;

use clap::Parser;
use escort_bench::Load;

#[derive(Parser)]
#[command(about = "Load generator for a running `escort serve`")]
struct Args {
    /// The server's base URL, as `escort serve` prints it.
    #[arg(long)]
    url: String,
    /// A token of the ingest role.
    #[arg(long)]
    token: String,
    /// How many transits to register and feed.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    transits: u32,
    /// How many threads send batches side by side; at most one per transit.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Fixes per batch.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Batches per transit.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    batches: u32,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let load = Load {
        url: args.url.trim_end_matches('/').to_owned(),
        token: args.token,
        id_prefix: "LOAD".to_owned(),
        transits: args.transits as usize,
        concurrency: args.concurrency as usize,
        batch: args.batch as usize,
        batches: args.batches as usize,
    };
    let outcome = match load.run() {
        Ok(outcome) => outcome,
        Err(problem) => {
            eprintln!("loadgen: cannot register {problem}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&outcome).expect("the outcome is JSON"));
    } else {
        println!(
            "{} fixes in {} batches: {:.0} fixes/s; batch latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors",
            outcome.fixes,
            outcome.batches,
            outcome.fixes_per_s,
            outcome.p50_ms,
            outcome.p90_ms,
            outcome.p99_ms,
            outcome.max_ms,
            outcome.errors
        );
        for problem in &outcome.shown_errors {
            println!("  {problem}");
        }
    }
    if outcome.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

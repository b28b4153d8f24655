//! `escort replay`'s throughput alone, without the rest of `escort bench`:
//! writes a database of stored transits (the benchmark truck's drive) into
//! a temporary folder, replays it under the default set with the speed
//! policy's parameters changed, and prints the figures as JSON. For
//! comparing two builds of replay quickly.
//!
//! ```sh
//! cargo run --release -p escort-bench --example replay -- --transits 10000 --fixes 1000
//! ```

use std::process::ExitCode;

use clap::Parser;
use escort_bench::{ReplayShape, replay_figures};
use escort_engine::ComponentCache;

#[derive(Parser)]
#[command(about = "Replay throughput over a database of stored transits")]
struct Args {
    /// Stored transits.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    transits: u32,
    /// Fixes per transit.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    fixes: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let shape = ReplayShape {
        transits: args.transits as usize,
        fixes: args.fixes as usize,
    };
    match replay_figures(&ComponentCache::user_default(), shape, None) {
        Ok(figures) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&figures).expect("the figures serialize")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::FAILURE
        }
    }
}

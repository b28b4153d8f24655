//! What ticks cost over silent transits: registers copies of the
//! `clean-khorgos-almaty` transit (`SILENT-000001`, ...), each with its
//! first ten fixes ending 25 minutes before the first tick, so that every
//! one has lost its signal, then runs ticks a minute apart on a clock of
//! its own and prints, after each, how long it took, what it stored, and
//! the audit records and database bytes so far.
//!
//! It embeds `Service` (no HTTP) on a fresh data folder, so run it from the
//! repository's root, in a release build:
//!
//! ```sh
//! cargo run --release -p escort-service --example silent_ticks -- --transits 10000 --ticks 10
//! ```

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::Parser;

use escort_service::{ServeConfig, Service, verification};
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Ticks over silent transits: time, records and bytes")]
struct Args {
    /// How many silent transits to register.
    #[arg(long, default_value_t = 2000)]
    transits: usize,
    /// How many ticks to run, a minute apart.
    #[arg(long, default_value_t = 10)]
    ticks: usize,
    /// Transits the service keeps in memory (`cached_transits`).
    #[arg(long, default_value_t = ServeConfig::default().cached_transits)]
    cached_transits: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let scenario = Path::new("tests/scenarios/clean-khorgos-almaty");
    let transit: Value = serde_json::from_str(&std::fs::read_to_string(scenario.join("transit.json"))?)?;
    let fixes: Vec<Value> = std::fs::read_to_string(scenario.join("fixes.ndjson"))?
        .lines()
        .take(10)
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let time = |value: &Value| -> DateTime<Utc> { value.as_str().unwrap_or_default().parse().unwrap_or_default() };
    let first_tick = Utc::now().duration_trunc(Duration::minutes(1))?;
    let shift = first_tick - Duration::minutes(25) - time(&fixes[fixes.len() - 1]["at"]);
    let mut declaration = transit.clone();
    for field in ["opened_at", "deadline"] {
        declaration[field] = Value::String((time(&transit[field]) + shift).to_rfc3339());
    }
    let mut ndjson = String::new();
    for fix in &fixes {
        let mut fix = fix.clone();
        fix["at"] = Value::String((time(&fix["at"]) + shift).to_rfc3339());
        ndjson.push_str(&format!("{fix}\n"));
    }

    let folder = tempfile::tempdir()?;
    let config = ServeConfig {
        data: folder.path().join("data"),
        cached_transits: args.cached_transits,
        ..ServeConfig::default()
    };
    let service = Service::open(&config)?;
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..std::thread::available_parallelism().map_or(2, usize::from) {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= args.transits {
                        break;
                    }
                    let id = format!("SILENT-{n:06}");
                    let mut declaration = declaration.clone();
                    declaration["id"] = Value::String(id.clone());
                    service.put_transit(&id, &declaration.to_string()).expect("registered");
                    service.ingest(&id, ndjson.as_bytes()).expect("fixes stored");
                }
            });
        }
    });
    let database = config.data.join("escort.db");
    println!(
        "{} silent transits registered in {:.1} s: {} audit records, {:.1} MB",
        args.transits,
        started.elapsed().as_secs_f64(),
        verification::verify_database(&database, None, None)?.chain.records,
        bytes(&config.data) as f64 / 1e6
    );
    println!("tick  ms      stored  unchanged  audit records  database MB");
    for tick in 0..args.ticks {
        let now = first_tick + Duration::minutes(tick as i64);
        let started = Instant::now();
        let summary = service.tick(now)?;
        let took_ms = started.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:>4}  {:>6.0}  {:>6}  {:>9}  {:>13}  {:>11.1}",
            tick + 1,
            took_ms,
            summary.changed,
            summary.unchanged,
            verification::verify_database(&database, None, None)?.chain.records,
            bytes(&config.data) as f64 / 1e6
        );
    }
    Ok(())
}

/// The database's bytes on disk, its write-ahead log included.
fn bytes(data: &Path) -> u64 {
    ["escort.db", "escort.db-wal"]
        .iter()
        .filter_map(|file| std::fs::metadata(data.join(file)).ok())
        .map(|metadata| metadata.len())
        .sum()
}

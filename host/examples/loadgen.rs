//! A load generator for a running `escort serve`: it registers synthetic
//! transits, streams clean fixes to them from several threads at once and
//! prints the ingest throughput and the latency of each batch.
//!
//! Every transit is the `clean-khorgos-almaty` scenario under another id
//! (`LOAD-0001`, `LOAD-0002`, ...). Its truck drives the declared route from
//! Khorgos to Almaty at 60 km/h, one fix every 30 s from the opening, and
//! stands in the destination zone once it is there, so the transits stay
//! clear and the figures measure the plain path of a batch: parse, store,
//! evaluate, commit. The route is 351 km, about 700 fixes: a shorter track
//! never arrives, and its report as of the clock shows signal loss and an
//! overdue arrival.
//!
//! Start a server on a fresh data folder: the ids are fixed, so a second run
//! against the same data sends fixes the server already holds, which it
//! answers as duplicates, and every batch counts as an error. An
//! `escort.toml` with an ingest token and without the tick:
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
//! cargo build --release -p escort-host --bin escort --example loadgen
//! target/release/escort serve --config escort.toml   # prints its address
//! cargo run --release -p escort-host --example loadgen -- \
//!     --url http://127.0.0.1:PORT --token load-generator-secret-0001 \
//!     --transits 64 --concurrency 16 --batch 100 --batches 20 [--json]
//! ```
//!
//! Only the sending of the fixes is timed, not the registration. The exit
//! status is 1 when a transit could not be registered, or a batch failed or
//! was not taken whole.

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Parser;
use escort_host::geodesy::distance_m;
use serde_json::{Value, json};

/// The scenario every synthetic transit copies, but for its id.
const TEMPLATE: &str = include_str!("../../tests/scenarios/clean-khorgos-almaty/transit.json");
const FIX_INTERVAL_SECONDS: i64 = 30;
const SPEED_KMH: f64 = 60.0;
/// How many error bodies to print; the rest are only counted.
const SHOWN_ERRORS: usize = 5;
/// A request unanswered this long counts as an error, so that a server that
/// stops answering ends the run instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let template: Value = serde_json::from_str(TEMPLATE).expect("the scenario's transit is JSON");
    let route = Route::of(&template);
    let opened_at = opened_at(&template);
    let fix_count = args.batches as usize * args.batch as usize;
    warn_if_short(&route, fix_count);
    let batches = batches(&track(&route, opened_at, fix_count), args.batch as usize);
    let ids: Vec<String> = (1..=args.transits).map(|n| format!("LOAD-{n:04}")).collect();

    let workers = (args.concurrency as usize).min(ids.len());
    if let Err(problem) = register_all(&args, &template, &ids, workers) {
        eprintln!("loadgen: cannot register {problem}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let tally = send_all(&args, &ids, &batches, workers);
    let elapsed = started.elapsed();

    let summary = summarise(&args, workers, fix_count * ids.len(), elapsed, tally);
    if args.json {
        println!("{}", summary.to_json());
    } else {
        summary.print();
    }
    if summary.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// An HTTP client that hands every answer back, whatever its status, so
/// that a refused batch is counted rather than raised.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .into()
}

fn opened_at(template: &Value) -> DateTime<Utc> {
    let text = template["opened_at"]
        .as_str()
        .expect("the scenario's transit has `opened_at`");
    DateTime::parse_from_rfc3339(text)
        .expect("`opened_at` is an RFC 3339 time")
        .to_utc()
}

/// Says on stderr when the track ends before the destination: the run is
/// still a valid measurement, but the reports will not be clear.
fn warn_if_short(route: &Route, fix_count: usize) {
    let driven_m = metres_per_fix() * fix_count.saturating_sub(1) as f64;
    if driven_m < route.length_m() {
        eprintln!(
            "loadgen: {fix_count} fixes cover {:.0} of the route's {:.0} km: the transits do not arrive, \
             so their reports as of now show signal loss and an overdue arrival",
            driven_m / 1000.0,
            route.length_m() / 1000.0
        );
    }
}

fn metres_per_fix() -> f64 {
    SPEED_KMH / 3.6 * FIX_INTERVAL_SECONDS as f64
}

/// The declared route with the distance from its start to each vertex, to
/// place the truck at any distance along it.
struct Route {
    /// (lat, lon) in degrees.
    points: Vec<(f64, f64)>,
    from_start_m: Vec<f64>,
}

impl Route {
    fn of(transit: &Value) -> Route {
        let points: Vec<(f64, f64)> = transit["route"]["coordinates"]
            .as_array()
            .expect("the scenario's transit has a route")
            .iter()
            .map(|point| {
                let lon = point[0].as_f64().expect("a route point's longitude");
                let lat = point[1].as_f64().expect("a route point's latitude");
                (lat, lon)
            })
            .collect();
        let mut from_start_m = Vec::with_capacity(points.len());
        let mut total = 0.0;
        from_start_m.push(total);
        for pair in points.windows(2) {
            total += distance_m(pair[0].0, pair[0].1, pair[1].0, pair[1].1);
            from_start_m.push(total);
        }
        Route { points, from_start_m }
    }

    fn length_m(&self) -> f64 {
        *self.from_start_m.last().expect("a route has points")
    }

    /// The point `distance_m` along the route; its end beyond that. Within a
    /// segment the position is interpolated in degrees: the segments are about
    /// a kilometre long, so the chord strays centimetres from the great circle
    /// and the fixes stay deep inside the corridor.
    fn position_at(&self, distance_m: f64) -> (f64, f64) {
        if distance_m >= self.length_m() {
            return *self.points.last().expect("a route has points");
        }
        let end = self.from_start_m.partition_point(|&d| d <= distance_m);
        let (start, stop) = (self.points[end - 1], self.points[end]);
        let span = self.from_start_m[end] - self.from_start_m[end - 1];
        let share = (distance_m - self.from_start_m[end - 1]) / span;
        (
            start.0 + (stop.0 - start.0) * share,
            start.1 + (stop.1 - start.1) * share,
        )
    }
}

/// `count` fixes as NDJSON lines, one every 30 s from `opened_at`, driving
/// the route and then standing at its end, in the destination zone, where
/// the truck may stand as long as it likes. Every transit drives this same
/// track: the server keys fixes by transit, so sharing it costs nothing.
fn track(route: &Route, opened_at: DateTime<Utc>, count: usize) -> Vec<String> {
    (0..count)
        .map(|index| {
            let driven_m = metres_per_fix() * index as f64;
            let (lat, lon) = route.position_at(driven_m);
            let speed_kmh = if driven_m < route.length_m() { SPEED_KMH } else { 0.0 };
            let at = opened_at + chrono::Duration::seconds(FIX_INTERVAL_SECONDS * index as i64);
            json!({
                "at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "lat": lat,
                "lon": lon,
                "speed_kmh": speed_kmh,
                "hdop": 0.9,
                "sats": 11,
                "seal": "intact",
                "battery": 90,
            })
            .to_string()
        })
        .collect()
}

/// The track cut into request bodies of `size` lines each, in time order.
fn batches(lines: &[String], size: usize) -> Vec<Batch> {
    lines
        .chunks(size)
        .map(|chunk| Batch {
            body: chunk.iter().map(|line| format!("{line}\n")).collect(),
            fixes: chunk.len() as u64,
        })
        .collect()
}

struct Batch {
    body: String,
    fixes: u64,
}

/// Registers every transit from `workers` threads, each its share of the
/// ids; the first failure names the transit.
fn register_all(args: &Args, template: &Value, ids: &[String], workers: usize) -> Result<(), String> {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                scope.spawn(move || {
                    let agent = agent();
                    ids.iter()
                        .skip(worker)
                        .step_by(workers)
                        .try_for_each(|id| register(&agent, args, template, id).map_err(|e| format!("{id}: {e}")))
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|handle| handle.join().expect("a worker thread does not panic"))
    })
}

/// `PUT /v1/transits/{id}` with the template under `id`.
fn register(agent: &ureq::Agent, args: &Args, template: &Value, id: &str) -> Result<(), String> {
    let mut declaration = template.clone();
    declaration["id"] = json!(id);
    let mut response = agent
        .put(format!("{}/v1/transits/{id}", args.url))
        .header("Authorization", format!("Bearer {}", args.token))
        .send(declaration.to_string())
        .map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        200 | 201 => Ok(()),
        status => Err(format!(
            "{status} {}",
            response.body_mut().read_to_string().unwrap_or_default()
        )),
    }
}

/// What the workers saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    /// The first few failures, as the status and body the server answered.
    shown_errors: Vec<String>,
}

impl Tally {
    fn merge(mut self, other: Tally) -> Tally {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.shown_errors.extend(other.shown_errors);
        self.shown_errors.truncate(SHOWN_ERRORS);
        self
    }

    fn fail(&mut self, problem: String) {
        self.errors += 1;
        if self.shown_errors.len() < SHOWN_ERRORS {
            self.shown_errors.push(problem);
        }
    }
}

/// Sends every batch of every transit from `workers` threads. Each worker
/// owns the transits dealt to it round robin, so no two requests for one
/// transit are ever in flight together and each transit's batches arrive in
/// time order, as from one gateway.
fn send_all(args: &Args, ids: &[String], batches: &[Batch], workers: usize) -> Tally {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let share: Vec<&str> = ids.iter().skip(worker).step_by(workers).map(String::as_str).collect();
                scope.spawn(move || send_share(args, &share, batches))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a worker thread does not panic"))
            .fold(Tally::default(), Tally::merge)
    })
}

/// One worker's part. It takes its transits in turn, one batch each per
/// round, so that all of them are in progress at once as with trucks on the
/// road, rather than one transit finishing before the next starts.
fn send_share(args: &Args, share: &[&str], batches: &[Batch]) -> Tally {
    // An agent per worker keeps one connection alive per thread, rather
    // than threads contending for a shared pool's few idle connections.
    let agent = agent();
    let mut tally = Tally::default();
    for batch in batches {
        for id in share {
            let sent = Instant::now();
            let outcome = post_batch(&agent, args, id, batch);
            tally.latencies.push(sent.elapsed());
            if let Err(problem) = outcome {
                tally.fail(format!("{id}: {problem}"));
            }
        }
    }
    tally
}

/// `POST /v1/transits/{id}/fixes`: a success is a 200 that took every fix.
fn post_batch(agent: &ureq::Agent, args: &Args, id: &str, batch: &Batch) -> Result<(), String> {
    let mut response = agent
        .post(format!("{}/v1/transits/{id}/fixes", args.url))
        .header("Authorization", format!("Bearer {}", args.token))
        .send(batch.body.as_str())
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
    let accepted = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|answer| answer["accepted"].as_u64());
    if status == 200 && accepted == Some(batch.fixes) {
        Ok(())
    } else {
        Err(format!("{status} {body}"))
    }
}

struct Summary {
    transits: u32,
    concurrency: usize,
    batch_size: u32,
    batches_per_transit: u32,
    total_fixes: usize,
    elapsed: Duration,
    batches_sent: usize,
    latency_ms: Percentiles,
    errors: usize,
    shown_errors: Vec<String>,
}

/// Batch latencies in milliseconds.
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Percentiles {
        samples.sort_unstable();
        // Nearest rank: the smallest sample at or above the share `p`.
        let at = |p: f64| {
            let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1000.0
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

fn summarise(args: &Args, workers: usize, total_fixes: usize, elapsed: Duration, tally: Tally) -> Summary {
    Summary {
        transits: args.transits,
        concurrency: workers,
        batch_size: args.batch,
        batches_per_transit: args.batches,
        total_fixes,
        elapsed,
        batches_sent: tally.latencies.len(),
        latency_ms: Percentiles::of(tally.latencies),
        errors: tally.errors,
        shown_errors: tally.shown_errors,
    }
}

impl Summary {
    fn per_second(&self, count: usize) -> f64 {
        count as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self) {
        let l = &self.latency_ms;
        println!("transits            {}", self.transits);
        println!("concurrency         {}", self.concurrency);
        println!("batch size          {}", self.batch_size);
        println!("batches per transit {}", self.batches_per_transit);
        println!("total fixes         {}", self.total_fixes);
        println!("elapsed             {:.3} s", self.elapsed.as_secs_f64());
        println!("fixes per second    {:.1}", self.per_second(self.total_fixes));
        println!("batches per second  {:.1}", self.per_second(self.batches_sent));
        println!(
            "batch latency       p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            l.p50, l.p90, l.p99, l.max
        );
        println!("errors              {}", self.errors);
        for problem in &self.shown_errors {
            println!("  {problem}");
        }
    }

    fn to_json(&self) -> Value {
        let l = &self.latency_ms;
        json!({
            "transits": self.transits,
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "batches_per_transit": self.batches_per_transit,
            "total_fixes": self.total_fixes,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "fixes_per_second": self.per_second(self.total_fixes),
            "batches_per_second": self.per_second(self.batches_sent),
            "batch_latency_ms": {"p50": l.p50, "p90": l.p90, "p99": l.p99, "max": l.max},
            "errors": self.errors,
            "error_samples": self.shown_errors,
        })
    }
}

//! A load generator for a running `escort serve`: it registers copies of the
//! benchmark transit and streams each one's drive to it in batches, from
//! several threads at once, and times every batch.
//!
//! Each thread owns the transits dealt to it round robin, so no two requests
//! for one transit are ever in flight together and each transit's batches
//! arrive in time order, as from one gateway; it takes its transits in turn,
//! one batch each per round, so that all of them are on the road at once.

use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::drive::{Drive, TEMPLATE, template_transit};
use escort_engine::Fix;

/// A request unanswered this long counts as an error, so that a server that
/// stops answering ends the run instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How many error bodies to keep; the rest are only counted.
const SHOWN_ERRORS: usize = 5;

/// What to send, and where.
#[derive(Debug, Clone)]
pub struct Load {
    /// The server's base URL, such as `http://127.0.0.1:8080`.
    pub url: String,
    /// A token of the ingest role.
    pub token: String,
    /// Transit ids are this prefix and a number: `LOAD-000001`.
    pub id_prefix: String,
    /// How many transits to register and feed.
    pub transits: usize,
    /// How many threads send side by side; at most one per transit.
    pub concurrency: usize,
    /// Fixes per batch.
    pub batch: usize,
    /// Batches per transit.
    pub batches: usize,
}

/// What the load saw.
#[derive(Debug, Clone, Serialize)]
pub struct LoadOutcome {
    /// Fixes acknowledged per second of sending.
    pub fixes_per_s: f64,
    /// Batches sent.
    pub batches: usize,
    /// Fixes sent.
    pub fixes: usize,
    /// Batch latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The slowest batch.
    pub max_ms: f64,
    /// Batches refused, failed or not taken whole.
    pub errors: usize,
    /// The first few errors, as the server answered them.
    pub shown_errors: Vec<String>,
}

impl Load {
    /// The id of transit `n` (from 1).
    pub fn id(&self, n: usize) -> String {
        format!("{}-{n:06}", self.id_prefix)
    }

    /// Registers transits `first..first + count` (`PUT /v1/transits/{id}`)
    /// from [`Load::concurrency`] threads; the first failure names its transit.
    pub fn register(&self, first: usize, count: usize) -> Result<(), String> {
        let template: Value = serde_json::from_str(TEMPLATE).expect("the shipped scenario is JSON");
        let workers = self.concurrency.clamp(1, count.max(1));
        thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|worker| {
                    let template = &template;
                    scope.spawn(move || {
                        let agent = agent();
                        (first + worker..first + count).step_by(workers).try_for_each(|n| {
                            let id = self.id(n);
                            let mut declaration = template.clone();
                            declaration["id"] = json!(id);
                            let mut response = agent
                                .put(format!("{}/v1/transits/{id}", self.url))
                                .header("Authorization", format!("Bearer {}", self.token))
                                .send(declaration.to_string())
                                .map_err(|e| format!("{id}: {e}"))?;
                            match response.status().as_u16() {
                                200 | 201 => Ok(()),
                                status => Err(format!(
                                    "{id}: {status} {}",
                                    response.body_mut().read_to_string().unwrap_or_default()
                                )),
                            }
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|handle| handle.join().expect("a load thread does not panic"))
        })
    }

    /// Registers the transits, then sends every batch of every one and
    /// times it. Only the sending is timed.
    pub fn run(&self) -> Result<LoadOutcome, String> {
        self.register(1, self.transits)?;
        let transit = template_transit();
        let drive = Drive::along(&transit, 60.0, 30);
        let bodies: Vec<String> = drive
            .fixes(transit.opened_at, 0, self.batch * self.batches)
            .chunks(self.batch)
            .map(ndjson)
            .collect();
        let workers = self.concurrency.clamp(1, self.transits.max(1));
        let started = Instant::now();
        let tally = thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|worker| {
                    let bodies = &bodies;
                    scope.spawn(move || self.send_share(worker, workers, bodies))
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a load thread does not panic"))
                .fold(Tally::default(), Tally::merge)
        });
        let elapsed = started.elapsed();
        let fixes = self.transits * self.batch * self.batches;
        let mut latencies = tally.latencies;
        latencies.sort_unstable();
        // Nearest rank: the smallest sample at or above the share `p`.
        let at = |p: f64| {
            let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len().max(1));
            latencies.get(rank - 1).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        Ok(LoadOutcome {
            fixes_per_s: fixes as f64 / elapsed.as_secs_f64(),
            batches: latencies.len(),
            fixes,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
            errors: tally.errors,
            shown_errors: tally.shown_errors,
        })
    }

    /// One thread's part: transits `worker + 1`, `worker + 1 + workers`, ...
    fn send_share(&self, worker: usize, workers: usize, bodies: &[String]) -> Tally {
        // An agent per thread keeps one connection alive per thread.
        let agent = agent();
        let ids: Vec<String> = (1 + worker..=self.transits)
            .step_by(workers)
            .map(|n| self.id(n))
            .collect();
        let mut tally = Tally::default();
        for body in bodies {
            for id in &ids {
                let sent = Instant::now();
                let outcome = self.post(&agent, id, body);
                tally.latencies.push(sent.elapsed());
                if let Err(problem) = outcome {
                    tally.fail(format!("{id}: {problem}"));
                }
            }
        }
        tally
    }

    /// `POST /v1/transits/{id}/fixes`: a success is a 200 that took every fix.
    fn post(&self, agent: &ureq::Agent, id: &str, body: &str) -> Result<(), String> {
        let mut response = agent
            .post(format!("{}/v1/transits/{id}/fixes", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .send(body)
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let answer = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        let accepted = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|answer| answer["accepted"].as_u64());
        if status == 200 && accepted == Some(self.batch as u64) {
            Ok(())
        } else {
            Err(format!("{status} {answer}"))
        }
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

/// Fixes as an NDJSON request body (`docs/reference.md` § Fixes).
fn ndjson(fixes: &[Fix]) -> String {
    fixes
        .iter()
        .map(|fix| {
            let line = json!({
                "at": escort_engine::format_time(&fix.at),
                "lat": fix.lat,
                "lon": fix.lon,
                "speed_kmh": fix.speed_kmh,
                "hdop": fix.hdop,
                "sats": fix.sats,
                "seal": fix.seal.map(|seal| seal.as_str()),
                "battery": fix.battery_pct,
            });
            format!("{line}\n")
        })
        .collect()
}

/// What the threads saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
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

//! `escort replay` measured: its throughput over a database of many stored
//! transits, and what a replay running beside a service costs the service's
//! ingest.
//!
//! The database is written through the store in large transactions (one
//! per 100 transits), not over HTTP: each transit is the benchmark truck's
//! drive ([`Drive`]) of [`ReplayShape::fixes`] fixes, stored as one batch
//! with the findings and policy states the default set gives it, as a
//! service would have stored them. The candidate is the built-in speed
//! policy with other parameters, a folder on disk as a regulator would give
//! it. Replay is measured twice: as it runs (the base's findings taken as
//! stored, the candidate's speed policy evaluated) and with the whole base
//! set evaluated again (`--reevaluate`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::serve::{Shape, ingest_beside};
use super::{BenchError, Drive, INTERVAL_S, SPEED_KMH, TEMPLATE, template_transit};
use escort_bundle::{Trust, folder};
use escort_engine::{ComponentCache, PolicySet, PolicyState, Sandbox, Verdict};
use escort_service::audit::{AuditEntry, DecisionRecord, digest_fixes};
use escort_service::replay::{Options, Overlay, Selection, Source};
use escort_service::{ServeConfig, Service, Step, Store, StreamCounts, TransitRecord};

/// Transits written per transaction.
const TRANSITS_PER_COMMIT: usize = 100;

/// The size of the replayed database.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReplayShape {
    /// Stored transits.
    pub transits: usize,
    /// Fixes per transit.
    pub fixes: usize,
}

/// What replay costs.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayFigures {
    /// The database.
    pub shape: ReplayShape,
    /// Worker threads (one per core).
    pub threads: usize,
    /// Seconds to write the database.
    pub build_s: f64,
    /// Seconds to replay all of it.
    pub replay_s: f64,
    /// Stored fixes replayed per second.
    pub fixes_per_s: f64,
    /// Seconds to replay all of it with the whole base set evaluated again
    /// (`escort replay --reevaluate`).
    pub reevaluated_s: f64,
    /// Stored fixes replayed per second so.
    pub reevaluated_fixes_per_s: f64,
    /// Transits whose findings the candidate changes.
    pub changed_transits: usize,
    /// The end-to-end ingest's p99 batch time without a replay, ms, and
    /// with `escort replay` running beside it, as it is and under `nice`.
    pub ingest: Option<IngestBeside>,
}

/// The ingest's p99 batch time, ms, alone and beside a replay.
#[derive(Debug, Clone, Serialize)]
pub struct IngestBeside {
    /// The load.
    pub shape: Shape,
    /// Without a replay.
    pub alone_p99_ms: f64,
    /// With `escort replay` of the database above running over and over.
    pub beside_replay_p99_ms: f64,
    /// With `nice -n 19 escort replay` instead.
    pub beside_nice_replay_p99_ms: f64,
}

impl ReplayShape {
    /// 10,000 transits of 1,000 fixes; 50 in a quick run.
    pub fn of(quick: bool) -> ReplayShape {
        ReplayShape {
            transits: if quick { 50 } else { 10_000 },
            fixes: 1_000,
        }
    }
}

/// Builds the database, replays it, and, given an `escort` binary, measures
/// the ingest of a server beside replays of it.
pub fn replay_figures(
    cache: &ComponentCache,
    shape: ReplayShape,
    serve: Option<(&Path, Shape)>,
) -> Result<ReplayFigures, BenchError> {
    let folder = tempfile::tempdir().map_err(|e| BenchError::Replay(format!("a data folder: {e}")))?;
    let data = folder.path().join("data");
    let sandbox = Sandbox::with_cache(cache.clone()).map_err(BenchError::Sandbox)?;
    let base = escort_builtin::policies(&sandbox)?;
    let started = Instant::now();
    write_database(&data, cache, shape, &base)?;
    let build_s = started.elapsed().as_secs_f64();
    let candidate = candidate_folder(folder.path())?;
    let overlay = Overlay::new(
        base,
        folder::load_dir(&sandbox, &candidate, &Trust::default()).map_err(|e| BenchError::Replay(e.to_string()))?,
    );
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let timed = |reevaluate: bool| -> Result<(f64, escort_service::replay::Replay), BenchError> {
        let started = Instant::now();
        let options = Options {
            reevaluate,
            ..Options::default()
        };
        let replay = overlay
            .replay(&Source::Data(data.clone()), &Selection::default(), &options)
            .map_err(|e| BenchError::Replay(e.to_string()))?;
        Ok((started.elapsed().as_secs_f64(), replay))
    };
    let (replay_s, replay) = timed(false)?;
    let (reevaluated_s, reevaluated) = timed(true)?;
    if reevaluated.diffs != replay.diffs || replay.base_as_stored != shape.transits as u64 {
        return Err(BenchError::Replay(
            "the replay with the base set evaluated again differs from the one that took its stored findings"
                .to_owned(),
        ));
    }
    let ingest = match serve {
        Some((escort, load)) => Some(IngestBeside {
            shape: load,
            alone_p99_ms: ingest_beside(escort, cache, load, |_| Ok(()))?.p99_ms,
            beside_replay_p99_ms: ingest_beside(escort, cache, load, |stop| {
                replays_until(stop, escort, cache, &data, &candidate, false)
            })?
            .p99_ms,
            beside_nice_replay_p99_ms: ingest_beside(escort, cache, load, |stop| {
                replays_until(stop, escort, cache, &data, &candidate, true)
            })?
            .p99_ms,
        }),
        None => None,
    };
    Ok(ReplayFigures {
        shape,
        threads,
        build_s,
        replay_s,
        fixes_per_s: replay.fixes as f64 / replay_s,
        reevaluated_s,
        reevaluated_fixes_per_s: reevaluated.fixes as f64 / reevaluated_s,
        changed_transits: replay.diffs.len(),
        ingest,
    })
}

/// Runs `escort replay` over `data` again and again until `stop` is set
/// (the one under way is stopped too).
fn replays_until(
    stop: &AtomicBool,
    escort: &Path,
    cache: &ComponentCache,
    data: &Path,
    candidate: &Path,
    nice: bool,
) -> Result<(), String> {
    while !stop.load(Ordering::Relaxed) {
        let mut command = if nice {
            let mut command = Command::new("nice");
            command.args(["-n", "19"]).arg(escort);
            command
        } else {
            Command::new(escort)
        };
        if let Some(dir) = cache.dir() {
            command.env("ESCORT_CACHE_DIR", dir);
        }
        let mut child = command
            .args(["replay", "--format", "json", "--policies"])
            .arg(candidate)
            .arg("--data")
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start escort replay: {e}"))?;
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                // 1: the candidate changed something, as it may.
                if !matches!(status.code(), Some(0 | 1)) {
                    return Err(format!("escort replay beside the load failed: {status}"));
                }
                break;
            }
            if stop.load(Ordering::Relaxed) {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// The candidate: the built-in speed component, excessive from 80 km/h.
fn candidate_folder(dir: &Path) -> Result<PathBuf, BenchError> {
    let candidate = dir.join("candidate");
    let written = || -> std::io::Result<()> {
        std::fs::create_dir_all(&candidate)?;
        let (_, speed) = escort_builtin::COMPONENTS
            .iter()
            .find(|(id, _)| *id == "speed")
            .expect("the built-in set has a speed policy");
        std::fs::write(candidate.join("speed.wasm"), speed)?;
        std::fs::write(
            candidate.join("policies.toml"),
            "[speed.params]\nexcessive_kmh = 80.0\n",
        )
    };
    written().map_err(|e| BenchError::Replay(format!("the candidate folder: {e}")))?;
    Ok(candidate)
}

/// Writes `shape.transits` transits of the benchmark drive into a new
/// database in `data`, each with what `policies` decide of it, as a service
/// running them would have stored it. Every transit drives the same track,
/// so the drive is evaluated once.
fn write_database(
    data: &Path,
    cache: &ComponentCache,
    shape: ReplayShape,
    policies: &PolicySet,
) -> Result<(), BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::Replay(format!("writing the database: {e}"));
    std::fs::create_dir_all(data).map_err(|e| failed(&e))?;
    // A service opening the folder first records the versions that judge
    // the transits written below (the built-in set, in force since always),
    // as `escort replay --data` reads them.
    let config = ServeConfig {
        data: data.to_owned(),
        cache: cache.dir().map(Path::to_owned),
        ..ServeConfig::default()
    };
    drop(Service::open(&config).map_err(|e| failed(&e))?);
    let mut store = Store::open(&data.join("escort.db")).map_err(|e| failed(&e))?;
    let transit = template_transit();
    let drive = Drive::along(&transit, SPEED_KMH, INTERVAL_S);
    let mut template: serde_json::Value = serde_json::from_str(TEMPLATE).expect("the template is JSON");
    let first = transit.opened_at + chrono::Duration::minutes(5);
    let fixes = drive.fixes(first, 0, shape.fixes);
    let evaluated_at = fixes.last().map_or(transit.opened_at, |fix| fix.at);
    let mut evaluation = policies.open(&transit);
    evaluation.observe(&fixes, evaluated_at).map_err(|e| failed(&e))?;
    let decided = Decided {
        decisions: evaluation
            .take_decisions()
            .into_iter()
            .map(DecisionRecord::from)
            .collect(),
        states: evaluation.policy_states(),
        evaluated_at,
    };
    let indices: Vec<usize> = (0..shape.transits).collect();
    for chunk in indices.chunks(TRANSITS_PER_COMMIT) {
        let steps: Vec<Step> = chunk
            .iter()
            .map(|index| {
                let id = format!("REPLAY-{index:06}");
                template["id"] = serde_json::Value::String(id.clone());
                step(&id, transit.opened_at, template.to_string(), fixes.clone(), &decided)
            })
            .collect();
        let outcomes = store
            .save_all(&steps.iter().collect::<Vec<_>>())
            .map_err(|e| failed(&e))?;
        if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
            return Err(failed(&e));
        }
    }
    Ok(())
}

/// What the policies decided of the benchmark drive.
struct Decided {
    decisions: Vec<DecisionRecord>,
    states: Vec<PolicyState>,
    evaluated_at: DateTime<Utc>,
}

/// The step that stores a transit, its fixes and what was decided of them
/// at once.
fn step(
    id: &str,
    opened_at: DateTime<Utc>,
    declaration: String,
    fixes: Vec<escort_engine::Fix>,
    decided: &Decided,
) -> Step {
    let mut record = TransitRecord::opened(id, opened_at);
    record.first_fix_at = fixes.first().map(|fix| fix.at);
    record.last_fix_at = fixes.last().map(|fix| fix.at);
    record.evaluated_at = decided.evaluated_at;
    record.counts = StreamCounts {
        accepted: fixes.len() as u64,
        lines: fixes.len() as u64,
        ..StreamCounts::default()
    };
    record.final_verdict = Verdict::of(decided.decisions.iter().flat_map(|d| &d.findings));
    record.verdict = record
        .final_verdict
        .max(Verdict::of(decided.states.iter().flat_map(|state| &state.open)));
    Step {
        record,
        declaration: Some(declaration),
        audit: AuditEntry {
            kind: "observe",
            input_digest: digest_fixes(&fixes),
            evaluated_at: decided.evaluated_at,
        },
        fixes,
        rejections: Vec::new(),
        restart: true,
        decisions: decided.decisions.clone(),
        states: decided.states.clone(),
        shadows: Vec::new(),
    }
}

//! `escort bench`: what Escort costs, measured on the machine it runs on.
//!
//! Every figure comes from one run of [`run`] and is printed as a table or
//! as one JSON object (`escort bench --json`, the same figures as
//! `docs/performance.md`). The sections, in the order of the issue that asked
//! for them:
//!
//! 1. each default policy as its shipped component ([`WasmCall`]) against
//!    the same Rust source compiled natively into this binary ([`NativeCall`]);
//! 2. the fixed cost of a call with no fix and with one;
//! 3. the speed rule in Rust, Python and JavaScript, when their bundles are built;
//! 4. the speed rule as a Rhai script, the usual embedded-script peer ([`rhai`]);
//! 5. the corridor check as the route grows from 10 to 100,000 points, and
//!    on a batch of fixes far off a long route (a spoofed track);
//! 6. `escort serve` end to end over loopback ([`end_to_end`], with [`Load`]);
//! 7. `escort replay` over a database of stored transits, and the ingest's
//!    p99 with a replay running beside a server ([`replay_figures`]).
//!
//! Timings are medians of repeated samples ([`time_per_run`]); `--quick`
//! takes fewer, shorter samples and a smaller load, and finishes in well
//! under a minute.
//!
//! # Example
//!
//! ```no_run
//! use escort_engine::ComponentCache;
//! use escort_bench::Options;
//!
//! let results = escort_bench::run(&Options {
//!     quick: true,
//!     cache: ComponentCache::user_default(),
//!     speed_bundles: Vec::new(),
//!     server: None, // no end-to-end run
//! })?;
//! println!("{results}"); // Markdown tables
//! println!("{:?}", results.wasm_vs_native.get("speed"));
//! # Ok::<(), escort_bench::BenchError>(())
//! ```

mod drive;
mod load;
mod native;
mod replay;
pub mod rhai;
mod serve;
mod table;
mod timing;
mod wasm;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use drive::{Drive, TEMPLATE, template_transit};
pub use load::{Load, LoadOutcome};
pub use native::{NativeCall, NativeTransit, fixes as native_fixes};
pub use replay::{IngestBeside, ReplayFigures, ReplayShape, replay_figures};
pub use serve::{EndToEnd, Shape, end_to_end};
pub use timing::{Effort, nanos, time_per_run};
pub use wasm::{Answer, WasmCall, clock, lent};

use self::rhai::RhaiSpeed;
use escort_bundle::{Bundle, Trust};
use escort_engine::contract::Batch;
use escort_engine::geodesy::RouteIndex;
use escort_engine::{ComponentCache, LoadError, Policy, PolicySet, Sandbox};

/// The batch sizes of the WASM-against-native comparison.
pub const BATCH_SIZES: [usize; 3] = [1, 100, 10_000];
/// The route sizes of the corridor growth figures.
pub const ROUTE_POINTS: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];
/// The far-off corridor figure: fixes in one batch, the route's points, and
/// how far beside the route the track runs, metres. Issue 10 item 4 found a
/// batch like this walking the whole route index for every fix.
const FAR_OFF_FIXES: usize = 10_000;
const FAR_OFF_ROUTE_POINTS: usize = 100_000;
const FAR_OFF_M: f64 = 100_000.0;
/// A figure whose first run takes longer than this is that run alone:
/// repeating it would not make it more useful, only the run longer.
const ONE_SAMPLE_OVER: Duration = Duration::from_secs(1);
/// Speed and reporting interval of the benchmark truck.
const SPEED_KMH: f64 = 60.0;
const INTERVAL_S: i64 = 30;

/// What to measure and how hard.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fewer, shorter samples and a smaller end-to-end load.
    pub quick: bool,
    /// Where compiled policies are cached.
    pub cache: ComponentCache,
    /// The speed policy in other languages, as (language, bundle folder):
    /// measured when the bundle has been built.
    pub speed_bundles: Vec<(String, PathBuf)>,
    /// The `escort` binary to run as a server end to end; none skips it.
    pub server: Option<PathBuf>,
}

impl Options {
    /// The end-to-end load: `docs/performance.md`'s in a full run (a few
    /// minutes, most of them opening 100,000 transits), seconds' worth in a
    /// quick one.
    pub fn shape(&self) -> Shape {
        if self.quick {
            Shape {
                transits: 32,
                concurrency: 16,
                batch: 100,
                batches: 5,
                open_transits: 2_000,
            }
        } else {
            Shape {
                transits: 256,
                concurrency: 32,
                batch: 100,
                batches: 20,
                open_transits: 100_000,
            }
        }
    }

    /// The shipped Python and JavaScript speed bundles, relative to `root`
    /// (a checkout of the repository).
    pub fn shipped_speed_bundles(root: &std::path::Path) -> Vec<(String, PathBuf)> {
        vec![
            ("python".to_owned(), root.join("policies/speed-py")),
            ("javascript".to_owned(), root.join("policies/speed-js")),
        ]
    }
}

/// Why the benchmarks could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The sandbox could not be set up.
    #[error("the sandbox: {0:#}")]
    Sandbox(wasmtime::Error),
    /// A policy set could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A policy answered differently as a component and natively, so the
    /// two are not the same rule and comparing them means nothing.
    #[error("policy `{policy}` answers differently as WebAssembly and natively on a {fixes}-fix batch")]
    Mismatch {
        /// The policy's id.
        policy: String,
        /// The batch size.
        fixes: usize,
    },
    /// The end-to-end run could not be made.
    #[error("end to end: {0}")]
    Serve(String),
    /// The replay figures could not be made.
    #[error("replay: {0}")]
    Replay(String),
    /// A policy failed on the benchmark's clean transit, which makes its
    /// figures meaningless.
    #[error("policy `{policy}` failed on the benchmark transit: {reason}")]
    PolicyFailed {
        /// The policy's id.
        policy: String,
        /// What went wrong.
        reason: String,
    },
}

/// Every figure of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Where it ran.
    pub machine: Machine,
    /// Per default policy, native time over WebAssembly time on 100-fix
    /// batches: 1.0 is parity.
    pub wasm_vs_native: BTreeMap<String, f64>,
    /// Per default policy and batch size, both figures.
    pub policies: Vec<Versus>,
    /// The speed rule as WebAssembly from each language.
    pub languages: Vec<LanguageFigures>,
    /// The speed rule against the same rule as a Rhai script.
    pub rhai: Vec<RhaiFigures>,
    /// Loading the default policy set.
    pub policy_set_load: SetLoad,
    /// Per default policy, the fixed cost of a call.
    pub call_overhead: Vec<CallOverhead>,
    /// Corridor check time per fix by route size.
    pub corridor_growth: Vec<Growth>,
    /// The corridor check on a batch of fixes far off a long route.
    pub corridor_far_off: FarOff,
    /// `escort serve` over loopback, when it was run.
    pub end_to_end: Option<EndToEnd>,
    /// `escort replay` over a database of stored transits.
    pub replay: ReplayFigures,
}

/// The machine a run was made on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// The processor, as `/proc/cpuinfo` names it.
    pub cpu: String,
    /// Logical processors available to this process.
    pub cpus: usize,
    /// Operating system and architecture.
    pub os: String,
    /// This Escort's version.
    pub escort: String,
}

/// One policy on one batch size, as WebAssembly and natively.
#[derive(Debug, Clone, Serialize)]
pub struct Versus {
    /// The policy's id.
    pub policy: String,
    /// Fixes in each batch.
    pub batch_fixes: usize,
    /// The shipped component, fixes per second.
    pub wasm_fixes_per_s: f64,
    /// The same source compiled natively, fixes per second.
    pub native_fixes_per_s: f64,
    /// Native time over WebAssembly time: 1.0 is parity.
    pub wasm_vs_native: f64,
}

/// The speed policy written in one language.
#[derive(Debug, Clone, Serialize)]
pub struct LanguageFigures {
    /// `rust`, `python` or `javascript`.
    pub language: String,
    /// Where the component came from, or why it was not measured.
    pub origin: String,
    /// Per batch size: fixes per second; empty when not measured.
    pub fixes_per_s: BTreeMap<usize, f64>,
    /// Per batch size: the Rust component's time over this one's.
    pub vs_rust: BTreeMap<usize, f64>,
}

/// The speed rule on one batch size: the Rust policy against Rhai.
#[derive(Debug, Clone, Serialize)]
pub struct RhaiFigures {
    /// Fixes in each batch.
    pub batch_fixes: usize,
    /// The shipped Rust component, batch lowered from fixes, fixes per second.
    pub rust_wasm_fixes_per_s: f64,
    /// The same Rust natively, fixes per second.
    pub rust_native_fixes_per_s: f64,
    /// The Rhai script, batch handed over from fixes, fixes per second.
    pub rhai_fixes_per_s: f64,
    /// Rhai's time over the Rust component's: how many times faster Rust is.
    pub rust_vs_rhai: f64,
}

/// How long the default policy set takes to load.
#[derive(Debug, Clone, Serialize)]
pub struct SetLoad {
    /// From the cache of compiled components, milliseconds.
    pub cached_ms: f64,
    /// Compiling every component, no cache, milliseconds.
    pub compiled_ms: f64,
}

/// The fixed cost of one call of one policy.
#[derive(Debug, Clone, Serialize)]
pub struct CallOverhead {
    /// The policy's id.
    pub policy: String,
    /// The contract version it exports, such as `0.2.0`.
    pub contract: String,
    /// `observe` with an empty batch, nanoseconds.
    pub zero_fixes_ns: f64,
    /// `observe` with one fix, nanoseconds.
    pub one_fix_ns: f64,
}

/// The corridor check on a route of a given size.
#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    /// Points on the route.
    pub route_points: usize,
    /// Indexing the route, once per transit, milliseconds.
    pub index_ms: f64,
    /// The corridor policy's time per fix on 100-fix batches, nanoseconds.
    pub ns_per_fix: f64,
}

/// The corridor check on one batch of fixes that all lie far beside a long
/// route: what a spoofed track costs.
#[derive(Debug, Clone, Serialize)]
pub struct FarOff {
    /// Points on the route.
    pub route_points: usize,
    /// Fixes in the batch.
    pub fixes: usize,
    /// How far beside the route the track was drawn, metres.
    pub aside_m: f64,
    /// The median offset of the fixes from the route, metres (of every
    /// hundredth fix, as the host measures it): less than `aside_m`, as a
    /// fix beside one segment may be nearer another where the route bends.
    pub median_offset_m: f64,
    /// The corridor policy's time for the whole batch, milliseconds.
    pub batch_ms: f64,
    /// The same per fix, nanoseconds.
    pub ns_per_fix: f64,
}

/// Runs every benchmark.
pub fn run(options: &Options) -> Result<Results, BenchError> {
    let effort = if options.quick { Effort::QUICK } else { Effort::FULL };
    let sandbox = Sandbox::with_cache(options.cache.clone()).map_err(BenchError::Sandbox)?;
    let policy_set_load = set_load(&sandbox, effort)?;
    let policies = escort_builtin::policies(&sandbox)?;
    let versus = wasm_against_native(&policies, effort)?;
    let languages = languages(&sandbox, &policies, &options.speed_bundles, effort)?;
    let rhai = rust_against_rhai(&policies, effort)?;
    Ok(Results {
        quick: options.quick,
        machine: Machine::this(),
        wasm_vs_native: versus
            .iter()
            .filter(|v| v.batch_fixes == 100)
            .map(|v| (v.policy.clone(), v.wasm_vs_native))
            .collect(),
        policies: versus,
        languages,
        rhai,
        policy_set_load,
        call_overhead: call_overhead(&policies, effort)?,
        corridor_growth: corridor_growth(&policies, effort)?,
        corridor_far_off: corridor_far_off(&policies, effort)?,
        end_to_end: match &options.server {
            Some(escort) => Some(end_to_end(escort, &options.cache, options.shape())?),
            None => None,
        },
        replay: replay_figures(
            &options.cache,
            ReplayShape::of(options.quick),
            options.server.as_deref().map(|escort| (escort, options.shape())),
        )?,
    })
}

impl Machine {
    fn this() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, name)| name.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            escort: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

fn set_load(sandbox: &Sandbox, effort: Effort) -> Result<SetLoad, BenchError> {
    // Fill the cache first, so that the cached figure never compiles.
    escort_builtin::policies(sandbox)?;
    let samples = effort.samples.min(5);
    let cached = (0..samples)
        .map(|_| {
            let started = Instant::now();
            escort_builtin::policies(sandbox).map(|_| started.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let uncached = Sandbox::with_cache(ComponentCache::disabled()).map_err(BenchError::Sandbox)?;
    let started = Instant::now();
    escort_builtin::policies(&uncached)?;
    let compiled = started.elapsed();
    Ok(SetLoad {
        cached_ms: millis(median(cached)),
        compiled_ms: millis(compiled),
    })
}

/// Every default policy, as its component and natively, on batches of
/// [`BATCH_SIZES`] fixes that follow a first batch of 100 (so each call
/// resumes a state, as in a service).
fn wasm_against_native(policies: &PolicySet, effort: Effort) -> Result<Vec<Versus>, BenchError> {
    let transit = template_transit();
    let lent = lent(&transit);
    let drive = Drive::along(&transit, SPEED_KMH, INTERVAL_S);
    let first_fixes = drive.fixes(transit.opened_at, 0, 100);
    let (first, first_now) = (Batch::new(&first_fixes), clock(&first_fixes, transit.opened_at));
    let mut rows = Vec::new();
    for policy in policies.policies() {
        let Some(native) = NativeCall::new(policy, &lent) else {
            continue;
        };
        let wasm = WasmCall::new(policy, &lent);
        let failed = |reason: String| BenchError::PolicyFailed {
            policy: policy.id().to_owned(),
            reason,
        };
        let state = wasm
            .observe(&first, first_now, &[])
            .map_err(|f| failed(f.to_string()))?
            .state;
        for size in BATCH_SIZES {
            let fixes = drive.fixes(transit.opened_at, 100, size);
            let (batch, now) = (Batch::new(&fixes), clock(&fixes, transit.opened_at));
            let native_batch = native::fixes(&fixes);
            let by_wasm = wasm.observe(&batch, now, &state).map_err(|f| failed(f.to_string()))?;
            let by_native = native.observe(&native_batch, now, &state).map_err(failed)?;
            if by_wasm != by_native {
                return Err(BenchError::Mismatch {
                    policy: policy.id().to_owned(),
                    fixes: size,
                });
            }
            let wasm_time = time_per_run(effort, || wasm.observe(&batch, now, &state));
            let native_time = time_per_run(effort, || native.observe(&native_batch, now, &state));
            rows.push(Versus {
                policy: policy.id().to_owned(),
                batch_fixes: size,
                wasm_fixes_per_s: size as f64 / wasm_time.as_secs_f64(),
                native_fixes_per_s: size as f64 / native_time.as_secs_f64(),
                wasm_vs_native: nanos(native_time) / nanos(wasm_time),
            });
        }
    }
    Ok(rows)
}

/// The batch sizes of the language and Rhai comparisons.
const RULE_BATCH_SIZES: [usize; 2] = [100, 10_000];

/// The built-in speed policy, and each other language's bundle that is built.
fn languages(
    sandbox: &Sandbox,
    policies: &PolicySet,
    bundles: &[(String, PathBuf)],
    effort: Effort,
) -> Result<Vec<LanguageFigures>, BenchError> {
    let Some(rust) = policies.policies().iter().find(|p| p.id() == "speed") else {
        return Ok(Vec::new());
    };
    let rust_figures = rule_fixes_per_s(rust, effort)?;
    let mut rows = vec![LanguageFigures {
        language: "rust".to_owned(),
        origin: rust.origin().to_owned(),
        vs_rust: rust_figures.keys().map(|&size| (size, 1.0)).collect(),
        fixes_per_s: rust_figures.clone(),
    }];
    for (language, dir) in bundles {
        let loaded = Bundle::open(dir)
            .and_then(|bundle| escort_bundle::folder::load_policy(sandbox, &bundle, &Trust::default()))
            .map(|(policy, _signer)| policy)
            .map_err(|e| e.to_string());
        let row = match loaded {
            Ok(policy) => {
                let figures = rule_fixes_per_s(&policy, effort)?;
                LanguageFigures {
                    language: language.clone(),
                    origin: dir.display().to_string(),
                    vs_rust: figures
                        .iter()
                        .map(|(size, per_s)| (*size, per_s / rust_figures[size]))
                        .collect(),
                    fixes_per_s: figures,
                }
            }
            Err(reason) => LanguageFigures {
                language: language.clone(),
                origin: format!(
                    "not measured: {reason} (build it with `escort policy build {}`)",
                    dir.display()
                ),
                fixes_per_s: BTreeMap::new(),
                vs_rust: BTreeMap::new(),
            },
        };
        rows.push(row);
    }
    Ok(rows)
}

/// Fixes per second of `policy` on batches of [`RULE_BATCH_SIZES`].
fn rule_fixes_per_s(policy: &Policy, effort: Effort) -> Result<BTreeMap<usize, f64>, BenchError> {
    let transit = template_transit();
    let drive = Drive::along(&transit, SPEED_KMH, INTERVAL_S);
    let call = WasmCall::new(policy, &lent(&transit));
    RULE_BATCH_SIZES
        .iter()
        .map(|&size| {
            let fixes = drive.fixes(transit.opened_at, 0, size);
            let (batch, now) = (Batch::new(&fixes), clock(&fixes, transit.opened_at));
            call.observe(&batch, now, &[])
                .map_err(|failure| BenchError::PolicyFailed {
                    policy: format!("{} ({})", policy.id(), policy.origin()),
                    reason: failure.to_string(),
                })?;
            let time = time_per_run(effort, || call.observe(&batch, now, &[]));
            Ok((size, size as f64 / time.as_secs_f64()))
        })
        .collect()
}

/// The speed rule from fixes to findings: the Rust component (the batch
/// lowered into columns included), the same Rust natively, and Rhai (the
/// batch handed over as arrays included).
fn rust_against_rhai(policies: &PolicySet, effort: Effort) -> Result<Vec<RhaiFigures>, BenchError> {
    let Some(speed) = policies.policies().iter().find(|p| p.id() == "speed") else {
        return Ok(Vec::new());
    };
    let rhai = RhaiSpeed::new().map_err(|e| BenchError::PolicyFailed {
        policy: "speed (Rhai)".to_owned(),
        reason: e.to_string(),
    })?;
    let transit = template_transit();
    let drive = Drive::along(&transit, SPEED_KMH, INTERVAL_S);
    let lent = lent(&transit);
    let wasm = WasmCall::new(speed, &lent);
    let native = NativeCall::new(speed, &lent).expect("speed is a default policy");
    RULE_BATCH_SIZES
        .iter()
        .map(|&size| {
            let fixes = drive.fixes(transit.opened_at, 0, size);
            rhai.observe(&fixes).map_err(|e| BenchError::PolicyFailed {
                policy: "speed (Rhai)".to_owned(),
                reason: e.to_string(),
            })?;
            let now = clock(&fixes, transit.opened_at);
            let wasm_time = time_per_run(effort, || wasm.observe(&Batch::new(&fixes), now, &[]));
            let native_time = time_per_run(effort, || native.observe(&native::fixes(&fixes), now, &[]));
            let rhai_time = time_per_run(effort, || rhai.observe(&fixes));
            Ok(RhaiFigures {
                batch_fixes: size,
                rust_wasm_fixes_per_s: size as f64 / wasm_time.as_secs_f64(),
                rust_native_fixes_per_s: size as f64 / native_time.as_secs_f64(),
                rhai_fixes_per_s: size as f64 / rhai_time.as_secs_f64(),
                rust_vs_rhai: nanos(rhai_time) / nanos(wasm_time),
            })
        })
        .collect()
}

fn call_overhead(policies: &PolicySet, effort: Effort) -> Result<Vec<CallOverhead>, BenchError> {
    let transit = template_transit();
    let lent = lent(&transit);
    let drive = Drive::along(&transit, SPEED_KMH, INTERVAL_S);
    let warm_up = drive.fixes(transit.opened_at, 0, 100);
    let next = drive.fixes(transit.opened_at, 100, 1);
    policies
        .policies()
        .iter()
        .map(|policy| {
            let call = WasmCall::new(policy, &lent);
            let failed = |failure: escort_engine::PolicyFailure| BenchError::PolicyFailed {
                policy: policy.id().to_owned(),
                reason: failure.to_string(),
            };
            let now = clock(&warm_up, transit.opened_at);
            let state = call.observe(&Batch::new(&warm_up), now, &[]).map_err(failed)?.state;
            let (empty, one) = (Batch::new(&[]), Batch::new(&next));
            let one_now = clock(&next, transit.opened_at);
            call.observe(&one, one_now, &state).map_err(failed)?;
            Ok(CallOverhead {
                policy: policy.id().to_owned(),
                contract: policy.contract_version().to_owned(),
                zero_fixes_ns: nanos(time_per_run(effort, || call.observe(&empty, now, &state))),
                one_fix_ns: nanos(time_per_run(effort, || call.observe(&one, one_now, &state))),
            })
        })
        .collect()
}

fn corridor_growth(policies: &PolicySet, effort: Effort) -> Result<Vec<Growth>, BenchError> {
    let Some(corridor) = policies.policies().iter().find(|p| p.id() == "corridor") else {
        return Ok(Vec::new());
    };
    let template = template_transit();
    let drive = Drive::along(&template, SPEED_KMH, INTERVAL_S);
    let fixes = drive.fixes(template.opened_at, 0, 100);
    let (batch, now) = (Batch::new(&fixes), clock(&fixes, template.opened_at));
    ROUTE_POINTS
        .iter()
        .map(|&points| {
            let mut transit = template.clone();
            transit.route = densified(&template.route, points);
            let started = Instant::now();
            RouteIndex::new(&transit.route);
            let index = started.elapsed();
            let call = WasmCall::new(corridor, &lent(&transit));
            call.observe(&batch, now, &[])
                .map_err(|failure| BenchError::PolicyFailed {
                    policy: corridor.id().to_owned(),
                    reason: failure.to_string(),
                })?;
            let per_batch = time_per_run(effort, || call.observe(&batch, now, &[]));
            Ok(Growth {
                route_points: points,
                index_ms: millis(index),
                ns_per_fix: nanos(per_batch) / fixes.len() as f64,
            })
        })
        .collect()
}

/// The corridor policy on one batch of [`FAR_OFF_FIXES`] fixes drawn
/// [`FAR_OFF_M`] beside the template route densified to
/// [`FAR_OFF_ROUTE_POINTS`] points. A policy set without corridor measures
/// nothing (a zero row).
fn corridor_far_off(policies: &PolicySet, effort: Effort) -> Result<FarOff, BenchError> {
    let template = template_transit();
    let mut row = FarOff {
        route_points: FAR_OFF_ROUTE_POINTS,
        fixes: FAR_OFF_FIXES,
        aside_m: FAR_OFF_M,
        median_offset_m: 0.0,
        batch_ms: 0.0,
        ns_per_fix: 0.0,
    };
    let Some(corridor) = policies.policies().iter().find(|p| p.id() == "corridor") else {
        return Ok(row);
    };
    let drive = Drive::along(&template, SPEED_KMH, INTERVAL_S);
    let fixes = drive.fixes_aside(template.opened_at, 0, FAR_OFF_FIXES, FAR_OFF_M);
    let (batch, now) = (Batch::new(&fixes), clock(&fixes, template.opened_at));
    let mut transit = template.clone();
    transit.route = densified(&template.route, FAR_OFF_ROUTE_POINTS);
    let route = RouteIndex::new(&transit.route);
    let mut offsets_m: Vec<f64> = fixes
        .iter()
        .step_by(100)
        .map(|fix| route.locate(fix.lat, fix.lon).offset_m)
        .collect();
    offsets_m.sort_by(f64::total_cmp);
    row.median_offset_m = offsets_m[offsets_m.len() / 2];
    let call = WasmCall::new(corridor, &lent(&transit));
    let mut answered = Ok(());
    let per_batch = time_slow_once(effort, || {
        if let Err(failure) = call.observe(&batch, now, &[]) {
            answered = Err(BenchError::PolicyFailed {
                policy: corridor.id().to_owned(),
                reason: failure.to_string(),
            });
        }
    });
    answered?;
    row.batch_ms = millis(per_batch);
    row.ns_per_fix = nanos(per_batch) / FAR_OFF_FIXES as f64;
    Ok(row)
}

/// [`time_per_run`], unless the first run takes over [`ONE_SAMPLE_OVER`]:
/// then that run is the figure.
fn time_slow_once(effort: Effort, mut work: impl FnMut()) -> Duration {
    let started = Instant::now();
    work();
    let first = started.elapsed();
    if first > ONE_SAMPLE_OVER {
        first
    } else {
        time_per_run(effort, work)
    }
}

/// The same line with `count` points (at least 2), spaced evenly along the
/// vertex list: between vertices when there are more, skipping some when
/// there are fewer. Fewer points draw the route more coarsely, so at 10
/// points some fixes lie outside the corridor and raise findings.
pub fn densified(route: &[geo::Coord<f64>], count: usize) -> Vec<geo::Coord<f64>> {
    let last = route.len() - 1;
    (0..count)
        .map(|i| {
            let at = i as f64 * last as f64 / (count - 1) as f64;
            let segment = (at.floor() as usize).min(last - 1);
            let share = at - segment as f64;
            let (a, b) = (route[segment], route[segment + 1]);
            geo::Coord {
                x: a.x + (b.x - a.x) * share,
                y: a.y + (b.y - a.y) * share,
            }
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

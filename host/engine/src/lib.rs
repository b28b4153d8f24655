//! Escort's engine: evaluates a customs transit's telemetry against sandboxed
//! policy components, and nothing else.
//!
//! Goods in customs transit travel under a satellite navigation seal that
//! reports fixes (time, position, seal state) from the customs office of
//! departure to the office of destination. The engine evaluates each
//! transit's fixes against **policies**: WebAssembly components that
//! implement the `escort:policy` contract (`wit/` in the repository), so a
//! regulator can publish a new or changed rule without redeploying anything.
//!
//! The engine takes components as bytes; it has no HTTP, SQL, command line,
//! signing or WebAssembly building in it. The default policies are
//! `escort-builtin`, bundles and policy folders `escort-bundle`, the
//! service `escort-service` and `escort-http`. The main types, in the order
//! data flows:
//!
//! - [`Transit`]: a transit as declared (`docs/reference.md` § Inputs),
//!   parsed and checked;
//! - [`Telemetry`]: fixes read from NDJSON, GPX or CSV, with refused lines;
//! - [`Sandbox`]: the wasmtime engine and the capabilities policies get (none
//!   but the host's pure geodesy), with the [`ComponentCache`] of compiled
//!   policies;
//! - [`Policy`] and [`PolicySet`]: components loaded from bytes, configured;
//! - [`Evaluation`]: one transit being evaluated, batch by batch;
//! - [`Report`]: the outcome, as JSON (the text an officer prints is `escort-casefile`'s).
//!
//! # Example
//!
//! ```no_run
//! use escort_engine::{check, Policy, PolicySet, Sandbox, Telemetry, Transit};
//! use std::path::Path;
//!
//! let sandbox = Sandbox::new()?;
//! let speed = Policy::load(&sandbox, "speed.wasm", &std::fs::read("speed.wasm")?)?;
//! let policies = PolicySet::new(vec![speed])?;
//! let transit = Transit::from_path(Path::new("transit.json"))?;
//! let telemetry = Telemetry::read_path(Path::new("fixes.gpx"))?;
//! let report = check(&policies, &transit, &telemetry, None)?;
//! println!("{}: {}", report.transit, report.verdict.as_str());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod cache;
pub mod contract;
mod evaluation;
pub mod excerpt;
mod finding;
mod fix;
pub mod geodesy;
mod imports;
mod json;
mod policy;
mod report;
mod routes;
mod sandbox;
mod telemetry;
mod transit;

pub use cache::{ComponentCache, content_hash};
pub use contract::{CONTRACT_VERSION, CONTRACT_VERSIONS, ParamKind, ParamSpec, ParamValue};
pub use evaluation::{
    CheckError, Decision, Evaluation, MAX_FIXES_PER_CALL, ObserveError, PolicyState, PreparedTransit, ResumeError,
    TELEMETRY_CHECKS, TELEMETRY_CHECKS_VERSION, check, check_in_batches, telemetry_quality,
};
pub use finding::{EvidenceValue, Finding, FindingStatus, Severity, Verdict, format_time, wire_time};
pub use fix::{Fix, FixKey, SealState};
pub use policy::{LoadError, Policy, PolicyConfig, PolicySet};
pub use report::{FixCounts, Report};
pub use routes::SharedRoutes;
pub use sandbox::{Limits, LoadLimits, MAX_ANSWER_BYTES, POOL_IN_FLIGHT, PolicyFailure, Sandbox, panic_message};
pub use telemetry::{Format, MAX_FILE_BYTES, NdjsonBatch, Rejection, Telemetry, TelemetryError, before_opening};
pub use transit::{
    AuthorisedStop, GoodsItem, InvalidTransitId, MAX_TRANSIT_BYTES, MAX_TRANSIT_ID_CHARS, Party, RiskZone, Transit,
    TransitError, Zone,
};

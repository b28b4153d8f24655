//! Escort: a rules engine for electronic customs escort.
//!
//! Goods in customs transit travel under a satellite navigation seal that
//! reports fixes (time, position, seal state) from the customs office of
//! departure to the office of destination. Escort evaluates each transit's
//! fixes against **policies**: sandboxed WebAssembly components that
//! implement the `escort:policy` contract (`wit/` in the repository), so a
//! regulator can publish a new or changed rule without redeploying anything.
//!
//! This crate is the host that backend services embed; the `escort` binary
//! is a thin command line over it. The main types, in the order data flows:
//!
//! - [`Transit`]: a transit as declared (SPEC 1.1), parsed and checked;
//! - [`Telemetry`]: fixes read from NDJSON, GPX or CSV, with refused lines;
//! - [`Sandbox`]: the wasmtime engine and the capabilities policies get (none
//!   but the host's pure geodesy);
//! - [`PolicySet`]: loaded policies, the built-in set or a folder of them;
//! - [`Evaluation`]: one transit being evaluated, batch by batch;
//! - [`Report`]: the outcome (SPEC 2), as JSON or text;
//! - [`service::Service`]: transits kept open in a database while their
//!   fixes stream in, and [`service::serve`], its HTTP API (`escort serve`);
//! - [`audit`]: the service's hash-chained log of every decision and of
//!   what each step stored, and [`reevaluation`], stored transits evaluated
//!   again and compared.
//!
//! # Example
//!
//! ```no_run
//! use escort_host::{check, PolicySet, Sandbox, Telemetry, Transit};
//! use std::path::Path;
//!
//! let sandbox = Sandbox::new()?;
//! let policies = PolicySet::builtin(&sandbox)?;
//! let transit = Transit::from_path(Path::new("transit.json"))?;
//! let telemetry = Telemetry::read_path(Path::new("fixes.gpx"))?;
//! let report = check(&policies, &transit, &telemetry, None)?;
//! println!("{}: {}", report.transit, report.verdict.as_str());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
mod builtin;
pub mod bundle;
pub mod cache;
pub mod contract;
mod evaluation;
mod excerpt;
mod finding;
mod fix;
pub mod geodesy;
pub mod golden;
mod json;
mod policy;
pub mod project;
pub mod reevaluation;
mod report;
mod sandbox;
pub mod service;
mod store;
mod telemetry;
mod transit;

pub use cache::ComponentCache;
pub use evaluation::{
    CheckError, Decision, Evaluation, MAX_FIXES_PER_CALL, ObserveError, PolicyState, ResumeError, TELEMETRY_CHECKS,
    TELEMETRY_CHECKS_VERSION, check, telemetry_quality,
};
pub use finding::{EvidenceValue, Finding, Severity, Verdict};
pub use fix::{Fix, SealState};
pub use policy::{CONFIG_FILE, LoadError, ParamKind, ParamSpec, ParamValue, Policy, PolicyConfig, PolicySet};
pub use report::{FixCounts, Report};
pub use sandbox::{CONTRACT_VERSION, Limits, LoadLimits, POOL_IN_FLIGHT, PolicyFailure, Sandbox};
pub use telemetry::{Format, Rejection, Telemetry, TelemetryError};
pub use transit::{
    AuthorisedStop, GoodsItem, InvalidTransitId, MAX_TRANSIT_ID_CHARS, Party, RiskZone, Transit, TransitError, Zone,
};

/// The README's embedding example, compiled and run as a doctest.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

//! Escort for embedders: one dependency for a backend that evaluates
//! customs transits against Escort's policies in its own process.
//!
//! This crate re-exports [`escort_engine`] (transits, telemetry, the policy
//! sandbox, evaluation, reports) and the default policies of
//! [`escort_builtin`]. With the `service` feature it also re-exports
//! [`service`] (transits kept open in SQLite while their fixes stream in,
//! the audit log) and [`http`] (the API as an axum router). Depend on
//! `escort-engine` alone to bring your own components and build no
//! WebAssembly.
//!
//! # Example
//!
//! ```no_run
//! use escort_host::{check, Sandbox, Telemetry, Transit};
//! use std::path::Path;
//!
//! let sandbox = Sandbox::new()?;
//! let policies = escort_host::builtin::policies(&sandbox)?;
//! let transit = Transit::from_path(Path::new("transit.json"))?;
//! let telemetry = Telemetry::read_path(Path::new("fixes.gpx"))?;
//! let report = check(&policies, &transit, &telemetry, None)?;
//! println!("{}: {}", report.transit, report.verdict.as_str());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use escort_builtin as builtin;
pub use escort_engine::*;
#[cfg(feature = "service")]
pub use escort_http as http;
#[cfg(feature = "service")]
pub use escort_service as service;

//! The Rust SDK for writing Escort policies.
//!
//! A policy is a WebAssembly component implementing the `escort:policy`
//! contract in `wit/`. This crate generates the contract's bindings once and
//! adds what most escort rules need, so that a policy crate holds only its
//! rule:
//!
//! - [`Params`]: the policy's parameters, looked up by name and kind;
//! - [`Fix`]: one fix of a batch as a row, with absent values as `None`;
//! - [`Geodesy`]: the geodesy a rule runs on, the host's ([`HostGeodesy`])
//!   inside a component or a native one outside WebAssembly;
//! - [`Zone::contains`]: whether positions are inside a customs office or stop;
//! - [`distance_m`]: great-circle distance, the same formula the host uses;
//! - [`Episode`] and [`StopTracker`]: runs of fixes and stationary periods that
//!   survive from one batch to the next;
//! - [`load_state`] and [`save_state`]: the opaque state the host keeps.
//!
//! An [`Episode`] or [`Stop`] that ended goes to the observation's `findings`,
//! once: they accumulate. The one still going on at the end of a batch goes to
//! `open`, as it stands, and every call (an empty batch too) must report it
//! again, because each call's `open` replaces the previous call's whole: a
//! provisional finding that a later fix disproves then simply disappears.
//!
//! The fixes arrive as columns (see `fixes` in the WIT file) because a list of
//! numbers crosses into a component as one memory copy, while a list of records
//! is lifted field by field.
//!
//! # Example
//!
//! A policy that reports every fix faster than a parameter:
//!
//! ```no_run
//! use escort_policy_sdk::*;
//!
//! struct TooFast;
//!
//! impl Policy for TooFast {
//!     fn describe() -> Descriptor {
//!         Descriptor {
//!             id: "too_fast".into(),
//!             version: "0.1.0".into(),
//!             summary: "Reports every fix above a speed.".into(),
//!             params: vec![ParamSpec::float("limit_kmh", 90.0, "Highest allowed reported speed.")],
//!         }
//!     }
//!
//!     fn admit(_: Transit, _: Option<&Route>, _: Vec<Param>) -> Result<Vec<Finding>, String> {
//!         Ok(Vec::new())
//!     }
//!
//!     fn observe(
//!         _: Transit,
//!         _: Option<&Route>,
//!         params: Vec<Param>,
//!         fixes: Fixes,
//!         _now: Timestamp,
//!         state: Vec<u8>,
//!     ) -> Result<Observation, String> {
//!         let limit_kmh = Params::new(params).float("limit_kmh")?;
//!         let findings = fixes
//!             .rows()
//!             .filter(|fix| fix.speed_kmh.is_some_and(|v| v > limit_kmh))
//!             .map(|fix| Finding {
//!                 code: "too_fast.fix".into(),
//!                 severity: Severity::Warning,
//!                 message: format!("{:.0} km/h", fix.speed_kmh.unwrap_or_default()),
//!                 from: fix.at,
//!                 to: fix.at,
//!                 position: Some(fix.position()),
//!                 evidence: Vec::new(),
//!             })
//!             .collect();
//!         // A fix is over as soon as it is reported: nothing stays open.
//!         Ok(Observation { findings, open: Vec::new(), state })
//!     }
//! }
//!
//! export_policy!(TooFast);
//! ```
//!
//! # Rules that run natively too
//!
//! The contract's `geo` imports exist only inside a component: called in a
//! native build (a unit test, a benchmark against the component) they panic.
//! So a rule that needs geodesy takes it as a [`Geodesy`] and never calls the
//! imports itself; its `impl Policy` forwards with [`HostGeodesy::new`], which
//! asks the host exactly as a direct call would, and native code passes an
//! implementation of its own (see [`Geodesy`] for one):
//!
//! ```no_run
//! use escort_policy_sdk::*;
//!
//! /// Every fix inside the destination zone, as an info finding.
//! pub fn observe(geo: &impl Geodesy, transit: Transit, fixes: Fixes) -> Result<Observation, String> {
//!     // One host call for the whole batch.
//!     let inside = transit.destination.contains(geo, &fixes.lat, &fixes.lon);
//!     let findings = fixes
//!         .rows()
//!         .zip(inside)
//!         .filter(|&(_, inside)| inside)
//!         .map(|(fix, _)| Finding {
//!             code: "at_destination.fix".into(),
//!             severity: Severity::Info,
//!             message: format!("at {}", transit.destination.name),
//!             from: fix.at,
//!             to: fix.at,
//!             position: Some(fix.position()),
//!             evidence: Vec::new(),
//!         })
//!         .collect();
//!     Ok(Observation { findings, open: Vec::new(), state: Vec::new() })
//! }
//!
//! struct AtDestination;
//!
//! impl Policy for AtDestination {
//!     # fn describe() -> Descriptor {
//!     #     Descriptor { id: "at_destination".into(), version: "0.1.0".into(), summary: String::new(), params: Vec::new() }
//!     # }
//!     # fn admit(_: Transit, _: Option<&Route>, _: Vec<Param>) -> Result<Vec<Finding>, String> {
//!     #     Ok(Vec::new())
//!     # }
//!     // describe and admit as usual
//!     fn observe(
//!         transit: Transit,
//!         route: Option<&Route>,
//!         _: Vec<Param>,
//!         fixes: Fixes,
//!         _: Timestamp,
//!         _: Vec<u8>,
//!     ) -> Result<Observation, String> {
//!         observe(&HostGeodesy::new(route), transit, fixes)
//!     }
//! }
//!
//! #[cfg(target_arch = "wasm32")]
//! export_policy!(AtDestination);
//! ```
#![deny(missing_docs)]

mod episode;
mod fix;
mod geo;
mod geodesy;
mod params;
mod state;
mod stop;

/// The bindings generated from the contract. Everything a policy needs is
/// re-exported at the crate root.
#[allow(missing_docs, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "escort-policy",
        pub_export_macro: true,
        export_macro_name: "export_policy",
        default_bindings_module: "escort_policy_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::escort::policy::geo::{Position, Route};
pub use bindings::escort::policy::types::{
    AuthorisedStop, Descriptor, Evidence, EvidenceValue, Finding, Fixes, GoodsItem, Observation, Param, ParamKind,
    ParamSpec, ParamValue, Party, RiskZone, SealState, Severity, Timestamp, Transit, Zone,
};
pub use bindings::export_policy;
pub use bindings::exports::escort::policy::policy::Guest as Policy;
pub use episode::Episode;
pub use fix::Fix;
pub use geo::{Geodesy, HostGeodesy};
pub use geodesy::distance_m;
pub use params::Params;
pub use state::{load_state, save_state};
pub use stop::{Stop, StopTracker};

/// One minute in the contract's time unit (milliseconds).
pub const MINUTE_MS: Timestamp = 60_000;

/// The number of whole and fractional minutes between two timestamps.
pub fn minutes_between(from: Timestamp, to: Timestamp) -> f64 {
    (to - from) as f64 / MINUTE_MS as f64
}

impl Evidence {
    /// One piece of evidence with a single text value.
    pub fn text(name: &str, value: impl ToString) -> Self {
        Evidence {
            name: name.to_owned(),
            value: EvidenceValue::Text(value.to_string()),
        }
    }

    /// One piece of evidence with a list of texts.
    pub fn texts(name: &str, values: Vec<String>) -> Self {
        Evidence {
            name: name.to_owned(),
            value: EvidenceValue::Texts(values),
        }
    }
}

impl Zone {
    /// Whether each position `(lat[i], lon[i])` is inside the zone, measured
    /// by `geo`: with [`HostGeodesy`], one host call for all the positions.
    pub fn contains(&self, geo: &impl Geodesy, lat: &[f64], lon: &[f64]) -> Vec<bool> {
        geo.distances_to_m(lat, lon, self.center)
            .into_iter()
            .map(|d| d <= self.radius_m)
            .collect()
    }

    /// Whether one position is inside the zone, computed in the component
    /// (no host call).
    pub fn contains_position(&self, position: Position) -> bool {
        distance_m(self.center, position) <= self.radius_m
    }
}

//! The Rust SDK for writing Escort policies, contract `escort:policy@0.2.0`.
//!
//! A policy is a WebAssembly component implementing the contract in
//! `wit/since_v0.2.0`. With this crate a policy crate holds its rule and
//! nothing else: it implements [`Policy`] (who it is, its parameters, its
//! state, and `observe`, or `admit` for a rule about the declaration) and
//! ends with [`export!`]. The contract's generated bindings stay inside the
//! SDK. What else most escort rules need:
//!
//! - [`params!`]: parameters declared once, as a struct with defaults and
//!   doc comments, from which `describe()` and every call's reading come;
//! - [`Transit`]: the transit the host lends a call, asked only for what the
//!   rule needs, with the host's geodesy ([`Geodesy`]);
//! - [`Fix`]: one fix of a batch as a row, with absent values as `None`;
//! - [`Zone::contains`]: whether positions are inside a customs office or stop;
//! - [`distance_m`]: great-circle distance, the same formula the host uses;
//! - [`Episode`] and [`StopTracker`]: runs of fixes and stationary periods that
//!   survive from one batch to the next, in the policy's typed state;
//!   [`Episode::track`] follows a run fix by fix and [`Episode::finding`]
//!   reports it;
//! - [`Geodesy::legs_into_m`] and [`implied_kmh`]: the legs into a batch's
//!   fixes, the one from the previous batch's last fix included, and the
//!   speeds they imply;
//! - [`Evidence::number`] (or [`number`]): a number the host prints, the same
//!   bytes whatever language wrote the policy.
//!
//! A finding about what is over goes to [`Observed::findings`], once: they
//! accumulate. One about what is still going on at the end of a batch goes to
//! [`Observed::open`], as it stands, and every call (an empty batch too) must
//! report it again, because each call's `open` replaces the previous call's
//! whole: a provisional finding that a later fix disproves then simply
//! disappears.
//!
//! # Example
//!
//! A policy that reports every fix faster than a parameter:
//!
//! ```
//! use escort_policy_sdk::*;
//!
//! params! {
//!     pub struct Limits {
//!         /// Highest allowed reported speed, km/h.
//!         limit_kmh: f64 = 90.0,
//!     }
//! }
//!
//! pub struct TooFast;
//!
//! impl Policy for TooFast {
//!     const ID: &'static str = "too_fast";
//!     const VERSION: &'static str = "0.2.0";
//!     const SUMMARY: &'static str = "Reports every fix above a speed.";
//!     type Params = Limits;
//!     type State = ();
//!
//!     fn observe(_: &impl Transit, limits: &Limits, fixes: &Fixes, _: Timestamp, _: &mut ()) -> Result<Observed, String> {
//!         let findings = fixes
//!             .rows()
//!             .filter_map(|fix| Some((fix, fix.speed_kmh.filter(|&kmh| kmh > limits.limit_kmh)?)))
//!             .map(|(fix, kmh)| Finding {
//!                 code: "too_fast.fix".into(),
//!                 severity: Severity::Warning,
//!                 message: format!("{kmh:.0} km/h"),
//!                 from: fix.at,
//!                 to: fix.at,
//!                 position: Some(fix.position()),
//!                 evidence: vec![Evidence::number("speed_kmh", kmh, 1)],
//!             })
//!             .collect();
//!         // A fix is over as soon as it is reported: nothing stays open.
//!         Ok(Observed { findings, open: Vec::new() })
//!     }
//! }
//!
//! export!(TooFast);
//!
//! // Natively, the same rule runs on a transit given as data.
//! let fixes: Fixes = [Fix { speed_kmh: Some(95.0), ..Fix::new(0, 43.3, 76.95) }].into_iter().collect();
//! let observation = observe::<TooFast>(&DeclaredTransit::example(), &[ParamValue::Float(90.0)], &fixes, 0, &[])?;
//! assert_eq!(observation.findings[0].message, "95 km/h");
//! # Ok::<(), String>(())
//! ```
#![deny(missing_docs)]

mod episode;
mod fix;
mod geodesy;
mod params;
mod state;
mod stop;
mod transit;

/// The bindings generated from the contract. An author never names them:
/// everything a policy needs is re-exported at the crate root.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.2.0",
        world: "escort-policy",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "escort_policy_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use bindings::escort::policy::geo::Position;
pub use bindings::escort::policy::types::{
    AuthorisedStop, Declaration, Descriptor, Evidence, EvidenceValue, Finding, GoodsItem, Number, Observation,
    ParamKind, ParamSpec, ParamValue, Party, RiskZone, SealState, Severity, Timestamp, Zone,
};
pub use episode::Episode;
pub use fix::{Fix, Fixes, Rows};
pub use geodesy::distance_m;
#[doc(hidden)]
pub use params::doc_sentence as __doc_sentence;
pub use params::{ParamType, Params};
pub use stop::{Stop, StopTracker};
pub use transit::{DeclaredTransit, Geodesy, Transit};

/// One minute in the contract's time unit (milliseconds).
pub const MINUTE_MS: Timestamp = 60_000;

/// The number of whole and fractional minutes between two timestamps.
#[inline]
pub fn minutes_between(from: Timestamp, to: Timestamp) -> f64 {
    (to - from) as f64 / MINUTE_MS as f64
}

/// The speed, km/h, implied by covering `leg_m` metres from time `from` to
/// time `to`; infinite when no time passed between them.
///
/// # Examples
/// ```
/// use escort_policy_sdk::{MINUTE_MS, implied_kmh};
/// assert_eq!(implied_kmh(2500.0, 0, MINUTE_MS), 150.0);
/// assert_eq!(implied_kmh(2500.0, MINUTE_MS, MINUTE_MS), f64::INFINITY);
/// ```
#[inline]
pub fn implied_kmh(leg_m: f64, from: Timestamp, to: Timestamp) -> f64 {
    let hours = (to - from) as f64 / 3_600_000.0;
    if hours > 0.0 {
        leg_m / 1000.0 / hours
    } else {
        f64::INFINITY
    }
}

/// [`Evidence::number`], as a rule lists it: `number("max_speed_kmh", 118.46, 1)` prints `118.5`.
pub fn number(name: &str, value: f64, decimals: u8) -> Evidence {
    Evidence::number(name, value, decimals)
}

/// [`Evidence::integer`], as a rule lists it: `integer("jumps", 2)`.
pub fn integer(name: &str, value: impl Into<i64>) -> Evidence {
    Evidence::integer(name, value)
}

/// A policy: who it is, what it takes, what it remembers, and its rule.
///
/// Implement it and export it with [`export!`]. The SDK answers
/// `describe()` from the constants and [`Params::specs`], reads the
/// parameters `configure` hands an instance into [`Policy::Params`] once for
/// all its calls, and keeps [`Policy::State`] between
/// batches of a transit (encoded with postcard; the first batch starts from
/// `Default`).
pub trait Policy {
    /// snake_case id, unique within a policy set, such as `speed`.
    const ID: &'static str;
    /// Semantic version of the policy, such as `0.2.0`.
    const VERSION: &'static str;
    /// One sentence: what the policy checks.
    const SUMMARY: &'static str;
    /// The parameters, declared with [`params!`]; `()` for none.
    type Params: Params;
    /// What the rule carries from one batch of a transit to the next; `()`
    /// for nothing.
    type State: Default + Serialize + DeserializeOwned;

    /// Judges the declaration, once, when the transit opens. Its findings
    /// are final. By default, nothing.
    fn admit(transit: &impl Transit, params: &Self::Params) -> Result<Vec<Finding>, String> {
        let _ = (transit, params);
        Ok(Vec::new())
    }

    /// Judges a batch of new fixes (empty when only time has passed) as of
    /// `now`, from the state the previous batch left, which it updates. An
    /// `Err` is a failure of the policy itself, which the host reports as
    /// `policy.error`; it is not a finding. By default, nothing: a policy
    /// that judges only the declaration writes `admit` alone.
    fn observe(
        transit: &impl Transit,
        params: &Self::Params,
        fixes: &Fixes,
        now: Timestamp,
        state: &mut Self::State,
    ) -> Outcome {
        let _ = (transit, params, fixes, now, state);
        Ok(Observed::default())
    }
}

/// What [`Policy::observe`] returns: what the rule concluded from the batch,
/// or a failure of the policy itself (which the host reports as
/// `policy.error`).
pub type Outcome = Result<Observed, String>;

/// What a rule concluded from a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Findings about what is over; final, they accumulate.
    pub findings: Vec<Finding>,
    /// Findings about what is still going on, as they stand; each call's
    /// replace the previous call's whole.
    pub open: Vec<Finding>,
}

/// The contract's `describe` of `P`.
pub fn describe<P: Policy>() -> Descriptor {
    Descriptor {
        id: P::ID.to_owned(),
        version: P::VERSION.to_owned(),
        summary: P::SUMMARY.to_owned(),
        params: P::Params::specs(),
    }
}

/// The contract's `admit` of `P`, with the parameters as the host hands
/// them: what a native caller (a test, a benchmark) runs to get the answer
/// the component gives.
pub fn admit<P: Policy>(transit: &impl Transit, params: &[ParamValue]) -> Result<Vec<Finding>, String> {
    P::admit(transit, &P::Params::from_values(params)?)
}

/// The contract's `observe` of `P`, with the parameters as the host hands
/// them and the state read and written as the host keeps it: what a native
/// caller runs to get the answer the component gives.
pub fn observe<P: Policy>(
    transit: &impl Transit,
    params: &[ParamValue],
    fixes: &Fixes,
    now: Timestamp,
    state: &[u8],
) -> Result<Observation, String> {
    observe_configured::<P>(transit, &P::Params::from_values(params)?, fixes, now, state)
}

/// [`observe`] with the parameters already read, as a component holds them
/// from `configure`.
pub fn observe_configured<P: Policy>(
    transit: &impl Transit,
    params: &P::Params,
    fixes: &Fixes,
    now: Timestamp,
    state: &[u8],
) -> Result<Observation, String> {
    let previous_bytes = state.len();
    let mut state: P::State = state::load(state)?;
    let observed = P::observe(transit, params, fixes, now, &mut state)?;
    Ok(Observation {
        findings: observed.findings,
        open: observed.open,
        state: state::save(&state, previous_bytes)?,
    })
}

/// Exports a [`Policy`] as the component's `policy` interface. Only a
/// WebAssembly build exports anything: natively (unit tests, benchmarks) the
/// crate stays a plain library.
#[macro_export]
macro_rules! export {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Exported;

            ::std::thread_local! {
                static PARAMS: $crate::__export::Configured<$policy> = const { $crate::__export::Configured::new() };
            }

            impl $crate::bindings::exports::escort::policy::policy::Guest for Exported {
                fn describe() -> $crate::Descriptor {
                    $crate::describe::<$policy>()
                }

                fn configure(
                    params: ::std::vec::Vec<$crate::ParamValue>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    PARAMS.with(|configured| configured.set(&params))
                }

                fn admit() -> ::std::result::Result<::std::vec::Vec<$crate::Finding>, ::std::string::String> {
                    PARAMS.with(|configured| configured.admit())
                }

                fn observe(
                    now: $crate::Timestamp,
                    fixes: u32,
                    state: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<$crate::Observation, ::std::string::String> {
                    PARAMS.with(|configured| configured.observe(now, fixes, &state))
                }
            }

    $crate::bindings::export_bindings!(Exported with_types_in $crate::bindings);
        };
    };
}

/// What [`export!`] builds on: the parameters a component was configured
/// with, kept for the calls that follow.
#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod __export {
    use std::cell::RefCell;

    use crate::transit::HostTransit;
    use crate::{Finding, Observation, ParamValue, Params, Policy, Timestamp};

    /// The parameters of `P` this instance was configured with.
    pub struct Configured<P: Policy>(RefCell<Option<P::Params>>);

    const UNCONFIGURED: &str = "called before `configure`";

    impl<P: Policy> Configured<P> {
        /// Not configured yet.
        pub const fn new() -> Self {
            Configured(RefCell::new(None))
        }

        /// `configure`: reads the values once, for every later call.
        pub fn set(&self, values: &[ParamValue]) -> Result<(), String> {
            *self.0.borrow_mut() = Some(P::Params::from_values(values)?);
            Ok(())
        }

        /// `admit` of the transit of the call.
        pub fn admit(&self) -> Result<Vec<Finding>, String> {
            P::admit(&HostTransit, self.0.borrow().as_ref().ok_or(UNCONFIGURED)?)
        }

        /// `observe` of `count` fixes, asked of the host only when there are any.
        pub fn observe(&self, now: Timestamp, count: u32, state: &[u8]) -> Result<Observation, String> {
            let fixes = if count == 0 {
                crate::Fixes::default()
            } else {
                crate::bindings::escort::policy::batch::columns().into()
            };
            let params = self.0.borrow();
            crate::observe_configured::<P>(&HostTransit, params.as_ref().ok_or(UNCONFIGURED)?, &fixes, now, state)
        }
    }
}

impl Evidence {
    /// A number the host prints with `decimals` digits after the point (as
    /// Rust's `{:.N}`): `max_offset_m` of 1234.56 with 0 decimals is `1235`.
    /// It must be finite, with at most 9 decimals.
    pub fn number(name: &str, value: f64, decimals: u8) -> Self {
        Evidence {
            name: name.to_owned(),
            value: EvidenceValue::Number(Number { value, decimals }),
        }
    }

    /// A whole number, such as a count.
    pub fn integer(name: &str, value: impl Into<i64>) -> Self {
        Evidence {
            name: name.to_owned(),
            value: EvidenceValue::Integer(value.into()),
        }
    }

    /// One text.
    pub fn text(name: &str, value: impl Into<String>) -> Self {
        Evidence {
            name: name.to_owned(),
            value: EvidenceValue::Text(value.into()),
        }
    }

    /// A list of texts.
    pub fn texts(name: &str, values: Vec<String>) -> Self {
        Evidence {
            name: name.to_owned(),
            value: EvidenceValue::Texts(values),
        }
    }
}

impl Zone {
    /// Whether each position `(lat[i], lon[i])` is inside the zone, measured
    /// by `geo`: inside a component, one host call for all the positions.
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

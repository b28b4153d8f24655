//! One policy called as the engine calls it: its component instantiated in
//! the sandbox, the transit, parameters, batch and state lowered into it, the
//! observation lifted out, through contract 0.1's raw call
//! ([`Policy::call_observe`]). Nothing else of an evaluation (finding checks,
//! decisions, storage) is timed, so the figure is the price of running the
//! rule as WebAssembly and nothing more.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use escort_engine::contract::{route_index, v0_1};
use escort_engine::geodesy::RouteIndex;
use escort_engine::{Fix, Policy, PolicyFailure, Transit};

/// A transit lowered once, ready for any number of calls.
pub struct WasmCall<'p> {
    policy: &'p Policy,
    transit: v0_1::Transit,
    route: Option<Arc<RouteIndex>>,
}

/// What a call answered: how many findings and the state to hand back.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Final and open findings together.
    pub findings: usize,
    /// The policy's new state.
    pub state: Vec<u8>,
}

impl<'p> WasmCall<'p> {
    /// Calls of `policy` about `transit`.
    pub fn new(policy: &'p Policy, transit: &Transit) -> WasmCall<'p> {
        WasmCall {
            policy,
            transit: v0_1::Transit::of(transit),
            route: route_index(transit),
        }
    }

    /// `observe` of the columns `batch` as of `now` from `state`.
    pub fn observe(&self, batch: &v0_1::Fixes, now: i64, state: &[u8]) -> Result<Answer, PolicyFailure> {
        let (observation, _fuel) = self
            .policy
            .call_observe(&self.transit, self.route.as_ref(), batch, now, state)?;
        Ok(Answer {
            findings: observation.findings.len() + observation.open.len(),
            state: observation.state,
        })
    }
}

/// A batch as the contract's columns, and its evaluation clock (its last fix).
pub fn columns(fixes: &[Fix], floor: DateTime<Utc>) -> (v0_1::Fixes, i64) {
    let now = fixes.last().map_or(floor, |fix| fix.at);
    (v0_1::Fixes::of(fixes), now.timestamp_millis())
}

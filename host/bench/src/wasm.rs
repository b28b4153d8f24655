//! One policy called as the engine calls it: its component instantiated in
//! the sandbox, the transit lent (or, for contract 0.1, lowered), parameters,
//! batch and state lowered into it, the observation lifted out, through the
//! raw call ([`Policy::call_observe`]). Nothing else of an evaluation
//! (finding checks, decisions, storage) is timed, so the figure is the price
//! of running the rule as WebAssembly and nothing more.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use escort_engine::contract::{Batch, LentTransit};
use escort_engine::{Fix, Policy, PolicyFailure};

/// Calls of one policy about one transit, prepared once.
pub struct WasmCall<'p> {
    policy: &'p Policy,
    transit: Arc<LentTransit>,
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
    pub fn new(policy: &'p Policy, transit: &Arc<LentTransit>) -> WasmCall<'p> {
        WasmCall {
            policy,
            transit: Arc::clone(transit),
        }
    }

    /// `observe` of `batch` as of `now` from `state`.
    pub fn observe(&self, batch: &Batch<'_>, now: i64, state: &[u8]) -> Result<Answer, PolicyFailure> {
        let (observation, _fuel) = self.policy.call_observe(&self.transit, batch, now, state)?;
        Ok(Answer {
            findings: observation.findings.len() + observation.open.len(),
            state: observation.state,
        })
    }
}

/// `transit` as policies are lent it, built once for any number of calls.
pub fn lent(transit: &escort_engine::Transit) -> Arc<LentTransit> {
    Arc::new(LentTransit::new(transit.clone()))
}

/// The evaluation clock of a batch: its last fix, or `floor` for an empty one.
pub fn clock(fixes: &[Fix], floor: DateTime<Utc>) -> i64 {
    fixes.last().map_or(floor, |fix| fix.at).timestamp_millis()
}

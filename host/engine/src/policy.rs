//! Policies and policy sets: loading components, asking them who they are,
//! and validating the parameters they are given.
//!
//! A [`Policy`] is a compiled, linked component plus everything the host
//! needs to call it: its `describe()` answer, its parameter values (already
//! checked against that answer) and its resource [`Limits`]. A [`PolicySet`]
//! is the policies one evaluation runs, in id order.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::Store;

use crate::cache::content_hash;
use crate::contract::v0_1::{self, Author, Observation};
use crate::contract::{
    Batch, Bindings, Descriptor, LentTransit, MAX_TEXT_PARAM_BYTES, Observed, ParamSpec, ParamValue, RouteRef,
    check_length, v0_2,
};
use crate::finding::{Finding, FindingStatus};
use crate::sandbox::{CallState, CompileFailure, Instances, Limits, PolicyFailure, Sandbox};

/// How one policy of a folder is configured (a table of `policies.toml`).
///
/// ```toml
/// [corridor]
/// fuel = 4_000_000_000
/// memory_mib = 32
/// geodesy_positions = 4_000_000
/// deadline_ms = 20_000
/// [corridor.params]
/// corridor_m = 3000
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Parameter values by name; the rest keep their defaults.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Fuel for one call, instead of [`Limits::default`]'s.
    pub fuel: Option<u64>,
    /// Memory cap in MiB, instead of [`Limits::default`]'s.
    pub memory_mib: Option<usize>,
    /// Positions one call may ask the host's geodesy about, instead of
    /// [`Limits::default`]'s.
    pub geodesy_positions: Option<u64>,
    /// One call's deadline by the clock in milliseconds, instead of
    /// [`Limits::default`]'s.
    pub deadline_ms: Option<u64>,
}

/// Why a policy or a policy set could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a valid component, or too large to compile, or
    /// took too long compiling (see [`LoadLimits`](crate::LoadLimits)).
    #[error("{origin}: {reason}")]
    Compile {
        /// Where the component came from.
        origin: String,
        /// Why it was not compiled.
        reason: String,
    },
    /// The component does not fit any contract version the host implements
    /// (imports more than that version lends, or exports no `policy`).
    #[error("{origin}: does not implement escort:policy@{}: {reason}", crate::CONTRACT_VERSIONS.join(" or @"))]
    Contract {
        /// Where the component came from.
        origin: String,
        /// What does not fit.
        reason: String,
    },
    /// `describe()` failed or answered something the contract forbids.
    #[error("{origin}: describe() {reason}")]
    Describe {
        /// Where the component came from.
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// Two components claim the same id.
    #[error("two policies have the id `{id}`: {first} and {second}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first component.
        first: String,
        /// The second component.
        second: String,
    },
    /// The configuration names a policy that is not in the set.
    #[error("configuration for `{id}`, but no policy has that id (policies: {known})")]
    UnknownPolicy {
        /// The id in the configuration.
        id: String,
        /// The ids that exist.
        known: String,
    },
    /// A parameter is unknown or has a value of the wrong type.
    #[error("policy `{policy}`: {reason}")]
    Param {
        /// The policy's id.
        policy: String,
        /// What is wrong with which parameter.
        reason: String,
    },
}

/// A loaded policy, ready to evaluate transits.
///
/// A clone is the same compiled component with its own parameters and
/// limits: it shares the instances kept between calls, so that the several
/// policy sets a service judges transits by hold one copy of each version.
#[derive(Clone)]
pub struct Policy {
    id: String,
    version: String,
    summary: String,
    params: Vec<ParamSpec>,
    /// The value of each parameter, in declaration order.
    values: Vec<ParamValue>,
    /// The same values as the contract passes them, lowered once rather
    /// than on every call: by name for 0.1, in order for 0.2.
    contract_params: Vec<v0_1::Param>,
    contract_values: Arc<[v0_2::ParamValue]>,
    limits: Limits,
    content_hash: String,
    /// Kept up to date by `configure`: every resumed batch compares it.
    fingerprint: String,
    origin: String,
    sandbox: Sandbox,
    instances: Arc<Instances>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("content_hash", &self.content_hash)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Compiles (or takes from the cache), links and describes a component.
    /// `origin` names it in errors, e.g. its file name. Only a component that
    /// loads is cached.
    pub fn load(sandbox: &Sandbox, origin: &str, bytes: &[u8]) -> Result<Policy, LoadError> {
        let compile_failed = |failure: CompileFailure| LoadError::Compile {
            origin: origin.to_owned(),
            reason: failure.to_string(),
        };
        let compiled = sandbox.compile(bytes).map_err(compile_failed)?;
        let content_hash = compiled.hash.clone();
        let instances = sandbox.prepare(&compiled.component).map_err(|e| LoadError::Contract {
            origin: origin.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let descriptor = describe(sandbox, &instances).map_err(|reason| LoadError::Describe {
            origin: origin.to_owned(),
            reason,
        })?;
        sandbox.keep(&compiled);
        let params = descriptor.params;
        let values: Vec<ParamValue> = params.iter().map(|p| p.default.clone()).collect();
        let fingerprint = fingerprint(&content_hash, &params, &values);
        Ok(Policy {
            id: descriptor.id,
            version: descriptor.version,
            summary: descriptor.summary,
            contract_params: v0_1::params(&params, &values),
            contract_values: v0_2::params(&values),
            params,
            values,
            limits: Limits::default(),
            content_hash,
            fingerprint,
            origin: origin.to_owned(),
            sandbox: sandbox.clone(),
            instances: Arc::new(instances),
        })
    }

    /// Sets parameters and limits. Every named parameter must exist and have
    /// a value of its kind; the others keep their current values.
    pub fn configure(&mut self, config: &PolicyConfig) -> Result<(), LoadError> {
        let param_error = |reason: String| LoadError::Param {
            policy: self.id.clone(),
            reason,
        };
        let mut values = self.values.clone();
        for (name, value) in &config.params {
            let Some(index) = self.params.iter().position(|p| &p.name == name) else {
                let known: Vec<_> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(param_error(format!(
                    "no parameter `{name}`; it takes {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            let spec = &self.params[index];
            let checked = value
                .as_kind(spec.kind)
                .ok_or_else(|| param_error(format!("parameter `{name}` must be a {}, found {value}", spec.kind)))?;
            if let ParamValue::Text(text) = &checked {
                check_length(&format!("parameter `{name}`"), text, MAX_TEXT_PARAM_BYTES).map_err(param_error)?;
            }
            values[index] = checked;
        }
        self.fingerprint = fingerprint(&self.content_hash, &self.params, &values);
        self.contract_params = v0_1::params(&self.params, &values);
        self.contract_values = v0_2::params(&values);
        self.values = values;
        if let Some(fuel) = config.fuel {
            self.limits.fuel = fuel;
        }
        if let Some(mib) = config.memory_mib {
            self.limits.memory_bytes = mib.saturating_mul(1 << 20);
        }
        if let Some(positions) = config.geodesy_positions {
            self.limits.geodesy_positions = positions;
        }
        if let Some(ms) = config.deadline_ms {
            self.limits.deadline = std::time::Duration::from_millis(ms);
        }
        Ok(())
    }

    /// The configuration that gives this policy's component these parameter
    /// values and limits: with the component, all it takes to load this
    /// policy again.
    pub fn config(&self) -> PolicyConfig {
        PolicyConfig {
            params: self
                .param_values()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            fuel: Some(self.limits.fuel),
            memory_mib: Some(self.limits.memory_bytes >> 20),
            geodesy_positions: Some(self.limits.geodesy_positions),
            deadline_ms: Some(u64::try_from(self.limits.deadline.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// The policy's id, from `describe()`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy's version, from `describe()`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What the policy checks, in one sentence.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The parameters the policy declares.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// The value each parameter will be called with, in declaration order.
    pub fn param_values(&self) -> Vec<(&str, ParamValue)> {
        self.params
            .iter()
            .zip(&self.values)
            .map(|(spec, value)| (spec.name.as_str(), value.clone()))
            .collect()
    }

    /// The version of the contract the component exports, such as `0.2.0`.
    pub fn contract_version(&self) -> &'static str {
        self.instances.version()
    }

    /// The hex SHA-256 of the component.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// What identifies the configured policy: SHA-256 over its component's
    /// hash and its parameter values, hex. State that one configuration
    /// wrote is only ever read back by the same configuration.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Where the component came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Names where the component comes from now: a service's upload once
    /// it is in the live folder.
    pub fn set_origin(&mut self, origin: String) {
        self.origin = origin;
    }

    /// The resource limits of each call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the resource limits of each call.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Calls the policy under its limits; see [`Sandbox::call`].
    fn call<R>(
        &self,
        call: impl FnMut(&mut Store<CallState>, &Bindings) -> wasmtime::Result<R>,
    ) -> Result<(R, u64), PolicyFailure> {
        self.sandbox.call(&self.instances, &self.limits, call)
    }

    /// The policy's `admit` of `transit`: its findings, checked, and the
    /// fuel the call used.
    pub(crate) fn admit(&self, transit: &Arc<LentTransit>) -> Result<(Vec<Finding>, u64), PolicyFailure> {
        let (answer, fuel) = self.call(|store, bindings| {
            Ok(match bindings {
                Bindings::V0_1(policy) => {
                    let route = lend_route(store, transit)?;
                    let (record, params) = (transit.record_v0_1(), &self.contract_params);
                    policy
                        .escort_policy_policy()
                        .call_admit(&mut *store, record, route, params)?
                        .map(Answered::V0_1)
                }
                Bindings::V0_2(policy) => {
                    if let Err(error) = begin_v0_2(store, policy, &self.contract_values, transit, None)? {
                        return Ok(Err(error));
                    }
                    policy
                        .escort_policy_policy()
                        .call_admit(&mut *store)?
                        .map(Answered::V0_2)
                }
            })
        })?;
        let author = self.author(transit);
        // Admission judges the declaration, which no later fix changes: its findings are final.
        let findings = match answer.map_err(PolicyFailure::error)? {
            Answered::V0_1(findings) => v0_1::accept_findings(&author, findings, FindingStatus::Final),
            Answered::V0_2(findings) => v0_2::admitted(&author, findings),
        };
        Ok((findings.map_err(PolicyFailure::IllFormed)?, fuel))
    }

    /// The policy's `observe` of `batch` as of `now_ms` from `state`: what
    /// it answered, checked, and the fuel the call used.
    pub(crate) fn observe(
        &self,
        transit: &Arc<LentTransit>,
        batch: &Batch<'_>,
        now_ms: i64,
        state: &[u8],
    ) -> Result<(Observed, u64), PolicyFailure> {
        let (answered, fuel) = self.answer_observe(transit, batch, now_ms, state)?;
        let author = self.author(transit);
        let observed = match answered {
            Answered::V0_1(observation) => v0_1::observed(&author, observation),
            Answered::V0_2(observation) => v0_2::observed(&author, observation),
        };
        Ok((observed.map_err(PolicyFailure::IllFormed)?, fuel))
    }

    /// Calls the policy's `observe` as an evaluation does (under its limits
    /// and parameters, lending it `transit`) and returns the observation as
    /// the policy gave it, with the fuel the call used: unchecked, but for a
    /// policy of contract 0.2, with its numbers printed as 0.1 has them. An
    /// evaluation checks it against the contract's bounds before it keeps
    /// anything; this is the call alone, for measuring it.
    ///
    /// # Errors
    /// The [`PolicyFailure`] of a call that trapped, ran out of a limit, or
    /// answered `err`.
    ///
    /// # Examples
    /// ```no_run
    /// use escort_engine::contract::{Batch, LentTransit};
    /// use escort_engine::{Policy, Sandbox, Transit};
    /// use std::path::Path;
    /// use std::sync::Arc;
    ///
    /// let sandbox = Sandbox::new()?;
    /// let speed = Policy::load(&sandbox, "speed.wasm", &std::fs::read("speed.wasm")?)?;
    /// let transit = Arc::new(LentTransit::new(Transit::from_path(Path::new("transit.json"))?));
    /// let now_ms = transit.transit().opened_at.timestamp_millis();
    /// let (observation, fuel) = speed.call_observe(&transit, &Batch::new(&[]), now_ms, &[])?;
    /// println!("{} findings, {fuel} fuel", observation.findings.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_observe(
        &self,
        transit: &Arc<LentTransit>,
        batch: &Batch<'_>,
        now_ms: i64,
        state: &[u8],
    ) -> Result<(Observation, u64), PolicyFailure> {
        let (answered, fuel) = self.answer_observe(transit, batch, now_ms, state)?;
        let observation = match answered {
            Answered::V0_1(observation) => observation,
            Answered::V0_2(observation) => v0_2::as_v0_1(observation).map_err(PolicyFailure::IllFormed)?,
        };
        Ok((observation, fuel))
    }

    /// The policy's `observe` as its contract version answered it, and the
    /// fuel the call used.
    fn answer_observe(
        &self,
        transit: &Arc<LentTransit>,
        batch: &Batch<'_>,
        now_ms: i64,
        state: &[u8],
    ) -> Result<(Answered<Observation, v0_2::Observation>, u64), PolicyFailure> {
        let (answer, fuel) = self.call(|store, bindings| {
            Ok(match bindings {
                Bindings::V0_1(policy) => {
                    let route = lend_route(store, transit)?;
                    let (record, params, fixes) = (transit.record_v0_1(), &self.contract_params, batch.v0_1());
                    policy
                        .escort_policy_policy()
                        .call_observe(&mut *store, record, route, params, fixes, now_ms, state)?
                        .map(Answered::V0_1)
                }
                Bindings::V0_2(policy) => {
                    // The count says "none" without a question; a batch is
                    // lowered only for a policy that asks for it.
                    let count = u32::try_from(batch.len()).expect("no batch in memory holds 2^32 fixes");
                    let fixes = (count > 0).then(|| batch.v0_2());
                    if let Err(error) = begin_v0_2(store, policy, &self.contract_values, transit, fixes)? {
                        return Ok(Err(error));
                    }
                    policy
                        .escort_policy_policy()
                        .call_observe(&mut *store, now_ms, count, state)?
                        .map(Answered::V0_2)
                }
            })
        })?;
        Ok((answer.map_err(PolicyFailure::error)?, fuel))
    }

    /// What the contract's checks of an answer about `transit` need of the policy.
    fn author<'a>(&'a self, transit: &'a LentTransit) -> Author<'a> {
        Author {
            id: &self.id,
            transit: &transit.transit.id,
            version: &self.version,
            max_findings: self.limits.max_findings,
            max_state_bytes: self.limits.max_state_bytes,
        }
    }
}

/// Asks a component who it is, and holds the answer to the contract's
/// bounds. The error completes "describe() …".
fn describe(sandbox: &Sandbox, instances: &Instances) -> Result<Descriptor, String> {
    let (descriptor, _fuel) = sandbox
        .call(instances, &Limits::default(), |store, bindings| {
            Ok(match bindings {
                Bindings::V0_1(policy) => v0_1::descriptor(policy.escort_policy_policy().call_describe(store)?),
                Bindings::V0_2(policy) => v0_2::descriptor(policy.escort_policy_policy().call_describe(store)?),
            })
        })
        .map_err(|failure| failure.to_string())?;
    descriptor
}

/// What a call answered, as the policy's contract version has it: checked
/// once the call is over, so that the checks hold no pool slot.
enum Answered<A, B> {
    V0_1(A),
    V0_2(B),
}

/// Readies a 0.2 instance for `admit` or `observe`: hands it the policy's
/// parameters (`configure`) unless it already has these (once per instance,
/// and again after the policy is reconfigured), then lends the call its
/// transit and batch. In that order: `configure` may not ask for the
/// transit. The `Err` is the policy's own.
fn begin_v0_2(
    store: &mut Store<CallState>,
    policy: &v0_2::EscortPolicy,
    params: &Arc<[v0_2::ParamValue]>,
    transit: &Arc<LentTransit>,
    fixes: Option<&Arc<v0_2::Fixes>>,
) -> wasmtime::Result<Result<(), String>> {
    if !store.data().is_configured_with(params) {
        let answer = policy.escort_policy_policy().call_configure(&mut *store, params)?;
        if answer.is_err() {
            return Ok(answer);
        }
        store.data_mut().configured_with(params);
    }
    store.data_mut().lend_call(transit, fixes);
    Ok(Ok(()))
}

/// Lends a call of contract 0.1 the transit's route, when it has one.
fn lend_route(
    store: &mut Store<CallState>,
    transit: &LentTransit,
) -> wasmtime::Result<Option<wasmtime::component::Resource<RouteRef>>> {
    transit
        .route
        .as_ref()
        .map(|route| store.data_mut().lend(RouteRef(Arc::clone(route))))
        .transpose()
}

/// SHA-256 over a component's hash and its parameter values, hex: see
/// [`Policy::fingerprint`].
fn fingerprint(component_hash: &str, params: &[ParamSpec], values: &[ParamValue]) -> String {
    let mut identity = component_hash.to_owned();
    for (spec, value) in params.iter().zip(values) {
        identity.push_str(&format!("\n{}={value:?}", spec.name));
    }
    content_hash(identity.as_bytes())
}

/// The policies one evaluation runs, in id order.
#[derive(Debug, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// Adds a policy, or replaces the one with its id; returns the replaced one.
    pub fn put(&mut self, policy: Policy) -> Option<Policy> {
        let replaced = self
            .policies
            .iter()
            .position(|p| p.id == policy.id)
            .map(|index| self.policies.remove(index));
        self.policies.push(policy);
        self.policies.sort_by(|a, b| a.id.cmp(&b.id));
        replaced
    }

    /// A set of already loaded policies. Ids must be unique.
    pub fn new(mut policies: Vec<Policy>) -> Result<PolicySet, LoadError> {
        policies.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = policies.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(LoadError::DuplicateId {
                id: pair[0].id.clone(),
                first: pair[0].origin.clone(),
                second: pair[1].origin.clone(),
            });
        }
        Ok(PolicySet { policies })
    }

    /// Adds a policy. Its id must not be in the set already.
    pub fn add(&mut self, policy: Policy) -> Result<(), LoadError> {
        if let Some(existing) = self.policies.iter().find(|p| p.id == policy.id) {
            return Err(LoadError::DuplicateId {
                id: policy.id.clone(),
                first: existing.origin.clone(),
                second: policy.origin.clone(),
            });
        }
        self.policies.push(policy);
        self.policies.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(())
    }

    /// Configures policies by id. An id that is not in the set is an error.
    pub fn configure(&mut self, config: &BTreeMap<String, PolicyConfig>) -> Result<(), LoadError> {
        for (id, policy_config) in config {
            let known = || {
                self.policies
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let Some(index) = self.policies.iter().position(|p| &p.id == id) else {
                return Err(LoadError::UnknownPolicy {
                    id: id.clone(),
                    known: known(),
                });
            };
            self.policies[index].configure(policy_config)?;
        }
        Ok(())
    }

    /// The policies, in id order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The policies, in id order, taken out of the set.
    pub fn into_policies(self) -> Vec<Policy> {
        self.policies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a call is given are lowered once, beside the host's own:
    /// configuring must change both, or calls would run on stale values.
    #[test]
    fn configured_values_are_the_ones_calls_are_given() {
        let sandbox = Sandbox::with_cache(crate::ComponentCache::disabled()).expect("the sandbox starts");
        let corridor = escort_builtin::component("corridor").expect("corridor is built in");
        let mut policy = Policy::load(&sandbox, "corridor", corridor).expect("loads");
        let before = policy.fingerprint().to_owned();
        policy
            .configure(&PolicyConfig {
                params: BTreeMap::from([("corridor_m".to_owned(), ParamValue::Integer(3000))]),
                ..PolicyConfig::default()
            })
            .expect("configures");
        assert_ne!(policy.fingerprint(), before);
        let given: Vec<(&str, ParamValue)> = policy
            .contract_params
            .iter()
            .map(|param| (param.name.as_str(), ParamValue::from(&param.value)))
            .collect();
        assert_eq!(given, policy.param_values());
        assert_eq!(given[0], ("corridor_m", ParamValue::Float(3000.0)));
    }
}

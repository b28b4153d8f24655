//! Contract 0.1 (`wit/since_v0.1.0`), host side: its generated bindings, the
//! conversions between its types and the host's, the `geo` imports it links,
//! and the checks of what a policy answers through it.
//!
//! Nothing outside this module names a type of the 0.1 bindings except to
//! hold a value lowered here: the sandbox keeps instances of
//! `EscortPolicy`, an evaluation keeps its transit as a [`Transit`], and
//! everything a policy answers leaves this module as the host's own
//! [`Finding`](crate::Finding)s and [`ParamSpec`](crate::ParamSpec)s,
//! checked against the bounds of [`super`]. A later contract version is a
//! module beside this one, with bindings of its own folder.
//!
//! The public part is what a caller needs to time one call alone, as
//! `escort bench` does: the lowered [`Transit::of`] and [`Fixes::of`], and
//! [`call_observe`], which answers the observation unchecked.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::DateTime;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::{
    Descriptor, MAX_EVIDENCE, MAX_EVIDENCE_TEXT_BYTES, MAX_EVIDENCE_TEXTS, MAX_NAME_BYTES, MAX_PARAMS,
    MAX_SENTENCE_BYTES, MAX_TEXT_PARAM_BYTES, MAX_VERSION_BYTES, Observed, RESERVED_IDS, check_length, check_name,
    is_snake_case,
};
use crate as host;
use crate::excerpt::Excerpt;
use crate::geodesy::{RouteIndex, distance_m};
use crate::sandbox::{CallState, Instances, RouteRef};
use crate::{Limits, Policy, PolicyFailure, Sandbox};

/// The generated bindings of the contract, host side.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.1.0",
        world: "escort-policy",
        imports: { default: trappable },
        with: { "escort:policy/geo.route": crate::sandbox::RouteRef },
    });
}

use bindings::escort::policy::geo;
use bindings::escort::policy::types::{self, ParamKind};
pub use bindings::escort::policy::types::{
    AuthorisedStop, Evidence, EvidenceValue, Finding, Fixes, GoodsItem, Observation, Param, ParamValue, Party,
    Position, RiskZone, SealState, Severity, Transit, Zone,
};
pub(crate) use bindings::{EscortPolicy, EscortPolicyPre};

/// The version of the contract this module implements.
pub const VERSION: &str = "0.1.0";

/// Adds the imports of contract 0.1 (`escort:policy/geo@0.1.0`) to `linker`.
pub(crate) fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    geo::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
}

impl Transit {
    /// The transit as contract 0.1's record.
    pub fn of(transit: &host::Transit) -> Transit {
        Transit {
            id: transit.id.clone(),
            declaration: transit.declaration.clone(),
            seal_id: transit.seal_id.clone(),
            vehicle: transit.vehicle.clone(),
            importer: party(&transit.importer),
            carrier: transit.carrier.as_ref().map(party),
            goods: transit
                .goods
                .iter()
                .map(|item| GoodsItem {
                    hs: item.hs.clone(),
                    description: item.description.clone(),
                    value_usd: item.value_usd,
                    excise: item.excise,
                })
                .collect(),
            departure: zone(&transit.departure),
            destination: zone(&transit.destination),
            stops: transit
                .stops
                .iter()
                .map(|stop| AuthorisedStop {
                    zone: zone(&stop.zone),
                    max_minutes: stop.max_minutes,
                })
                .collect(),
            corridor_m: transit.corridor_m,
            opened_at: transit.opened_at.timestamp_millis(),
            deadline: transit.deadline.map(|d| d.timestamp_millis()),
        }
    }
}

fn zone(zone: &host::Zone) -> Zone {
    Zone {
        id: zone.id.clone(),
        name: zone.name.clone(),
        center: Position {
            lat: zone.lat,
            lon: zone.lon,
        },
        radius_m: zone.radius_m,
    }
}

fn party(party: &host::Party) -> Party {
    Party {
        bin: party.bin.clone(),
        name: party.name.clone(),
        zone: match party.zone {
            host::RiskZone::Green => RiskZone::Green,
            host::RiskZone::Yellow => RiskZone::Yellow,
            host::RiskZone::Red => RiskZone::Red,
        },
    }
}

impl Fixes {
    /// The batch as contract 0.1's columns; absent numbers become NaN.
    pub fn of(fixes: &[host::Fix]) -> Fixes {
        let column =
            |value: fn(&host::Fix) -> Option<f64>| fixes.iter().map(|f| value(f).unwrap_or(f64::NAN)).collect();
        Fixes {
            at: fixes.iter().map(|f| f.at.timestamp_millis()).collect(),
            lat: fixes.iter().map(|f| f.lat).collect(),
            lon: fixes.iter().map(|f| f.lon).collect(),
            speed_kmh: column(|f| f.speed_kmh),
            course_deg: column(|f| f.course_deg),
            hdop: column(|f| f.hdop),
            sats: column(|f| f.sats.map(f64::from)),
            battery_pct: column(|f| f.battery_pct),
            seal: fixes
                .iter()
                .map(|f| match f.seal {
                    None => SealState::Unknown,
                    Some(host::SealState::Intact) => SealState::Intact,
                    Some(host::SealState::Opened) => SealState::Opened,
                    Some(host::SealState::CableCut) => SealState::CableCut,
                    Some(host::SealState::HousingBreached) => SealState::HousingBreached,
                    Some(host::SealState::Fault) => SealState::Fault,
                })
                .collect(),
        }
    }
}

impl From<&host::ParamValue> for ParamValue {
    fn from(value: &host::ParamValue) -> ParamValue {
        match value {
            host::ParamValue::Boolean(v) => ParamValue::Boolean(*v),
            host::ParamValue::Integer(v) => ParamValue::Integer(*v),
            host::ParamValue::Float(v) => ParamValue::Float(*v),
            host::ParamValue::Text(v) => ParamValue::Text(v.clone()),
        }
    }
}

impl From<&ParamValue> for host::ParamValue {
    fn from(value: &ParamValue) -> host::ParamValue {
        match value {
            ParamValue::Boolean(v) => host::ParamValue::Boolean(*v),
            ParamValue::Integer(v) => host::ParamValue::Integer(*v),
            ParamValue::Float(v) => host::ParamValue::Float(*v),
            ParamValue::Text(v) => host::ParamValue::Text(v.clone()),
        }
    }
}

/// A policy's parameter values as contract 0.1 passes them, in declaration
/// order.
pub(crate) fn params(specs: &[host::ParamSpec], values: &[host::ParamValue]) -> Vec<Param> {
    specs
        .iter()
        .zip(values)
        .map(|(spec, value)| Param {
            name: spec.name.clone(),
            value: value.into(),
        })
        .collect()
}

/// Asks a component who it is, and holds the answer to the bounds of
/// [`super`]. The error completes "describe() …".
pub(crate) fn describe(sandbox: &Sandbox, instances: &Instances) -> Result<Descriptor, String> {
    let (descriptor, _fuel) = sandbox
        .call(instances, &Limits::default(), None, |store, policy, _| {
            policy.escort_policy_policy().call_describe(store)
        })
        .map_err(|failure| failure.to_string())?;
    let params = check_descriptor(&descriptor)?;
    Ok(Descriptor {
        id: descriptor.id,
        version: descriptor.version,
        summary: descriptor.summary,
        params,
    })
}

/// Checks what a policy says about itself against the contract's bounds and
/// returns its parameters.
fn check_descriptor(descriptor: &types::Descriptor) -> Result<Vec<host::ParamSpec>, String> {
    check_name("gave the id", &descriptor.id)?;
    if RESERVED_IDS.contains(&descriptor.id.as_str()) {
        return Err(format!(
            "gave the id `{}`, which the host keeps for itself",
            descriptor.id
        ));
    }
    if descriptor.version.trim().is_empty() {
        return Err("gave an empty version".to_owned());
    }
    check_length("gave a version that", &descriptor.version, MAX_VERSION_BYTES)?;
    check_length("gave a summary that", &descriptor.summary, MAX_SENTENCE_BYTES)?;
    if descriptor.params.len() > MAX_PARAMS {
        return Err(format!(
            "declared {} parameters, over the limit of {MAX_PARAMS}",
            descriptor.params.len()
        ));
    }
    let mut names = HashSet::with_capacity(descriptor.params.len());
    let mut params: Vec<host::ParamSpec> = Vec::with_capacity(descriptor.params.len());
    for spec in &descriptor.params {
        check_name("declared the parameter", &spec.name)?;
        if !names.insert(spec.name.as_str()) {
            return Err(format!("declared the parameter `{}` twice", spec.name));
        }
        check_length(
            &format!("declared `{}` with a doc that", spec.name),
            &spec.doc,
            MAX_SENTENCE_BYTES,
        )?;
        let kind = match spec.kind {
            ParamKind::Float => host::ParamKind::Float,
            ParamKind::Integer => host::ParamKind::Integer,
            ParamKind::Boolean => host::ParamKind::Boolean,
            ParamKind::Text => host::ParamKind::Text,
        };
        let default = host::ParamValue::from(&spec.default);
        if let host::ParamValue::Text(text) = &default {
            check_length(
                &format!("declared `{}` with a default that", spec.name),
                text,
                MAX_TEXT_PARAM_BYTES,
            )?;
        }
        if default.as_kind(kind) != Some(default.clone()) {
            return Err(format!(
                "declared `{}` as a {kind} with the default {}",
                spec.name,
                Excerpt::of(&default.to_string())
            ));
        }
        params.push(host::ParamSpec {
            name: spec.name.clone(),
            kind,
            default,
            doc: spec.doc.clone(),
        });
    }
    Ok(params)
}

/// A policy's `admit` of `transit`: its findings, checked, and the fuel the
/// call used.
pub(crate) fn admit(
    policy: &Policy,
    transit: &Transit,
    route: Option<&Arc<RouteIndex>>,
) -> Result<(Vec<host::Finding>, u64), PolicyFailure> {
    let (answer, fuel) = policy.call(route, |store, instance, route| {
        instance
            .escort_policy_policy()
            .call_admit(store, transit, route, policy.contract_params())
    })?;
    let findings = answer.map_err(PolicyFailure::Error)?;
    Ok((accept_findings(policy, findings)?, fuel))
}

/// A policy's `observe` of `fixes` as of `now_ms` from `state`: what it
/// answered, checked, and the fuel the call used.
pub(crate) fn observe(
    policy: &Policy,
    transit: &Transit,
    route: Option<&Arc<RouteIndex>>,
    fixes: &Fixes,
    now_ms: i64,
    state: &[u8],
) -> Result<(Observed, u64), PolicyFailure> {
    let (observation, fuel) = call_observe(policy, transit, route, fixes, now_ms, state)?;
    if observation.state.len() > policy.limits().max_state_bytes {
        return Err(PolicyFailure::IllFormed(format!(
            "a state of {} bytes, over the limit of {}",
            observation.state.len(),
            policy.limits().max_state_bytes
        )));
    }
    let findings = accept_findings(policy, observation.findings)?;
    let open = accept_findings(policy, observation.open)?;
    Ok((
        Observed {
            findings,
            open,
            state: observation.state,
        },
        fuel,
    ))
}

/// Calls `policy`'s `observe` as an evaluation does (under its limits and
/// parameters, lending it `route`, the transit's route indexed by
/// [`route_index`](super::route_index)) and returns the observation as the
/// policy gave it, unchecked, with the fuel the call used. An evaluation
/// checks it against the contract's bounds before it keeps anything; this
/// is the call alone, for measuring it.
///
/// # Errors
/// The [`PolicyFailure`] of a call that trapped, ran out of a limit, or
/// answered `err`.
///
/// # Examples
/// ```no_run
/// use escort_engine::contract::{route_index, v0_1};
/// use escort_engine::{Policy, Sandbox, Transit};
/// use std::path::Path;
///
/// let sandbox = Sandbox::new()?;
/// let speed = Policy::load(&sandbox, "speed.wasm", &std::fs::read("speed.wasm")?)?;
/// let transit = Transit::from_path(Path::new("transit.json"))?;
/// let route = route_index(&transit);
/// let lowered = v0_1::Transit::of(&transit);
/// let now_ms = transit.opened_at.timestamp_millis();
/// let (observation, fuel) =
///     v0_1::call_observe(&speed, &lowered, route.as_ref(), &v0_1::Fixes::of(&[]), now_ms, &[])?;
/// println!("{} findings, {fuel} fuel", observation.findings.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn call_observe(
    policy: &Policy,
    transit: &Transit,
    route: Option<&Arc<RouteIndex>>,
    fixes: &Fixes,
    now_ms: i64,
    state: &[u8],
) -> Result<(Observation, u64), PolicyFailure> {
    let (answer, fuel) = policy.call(route, |store, instance, route| {
        instance.escort_policy_policy().call_observe(
            store,
            transit,
            route,
            policy.contract_params(),
            fixes,
            now_ms,
            state,
        )
    })?;
    Ok((answer.map_err(PolicyFailure::Error)?, fuel))
}

/// Checks a policy's findings against the contract and converts them. One
/// ill-formed finding discards the whole answer: a policy that breaks the
/// contract once cannot be trusted for the rest.
fn accept_findings(policy: &Policy, findings: Vec<Finding>) -> Result<Vec<host::Finding>, PolicyFailure> {
    if findings.len() > policy.limits().max_findings {
        return Err(PolicyFailure::IllFormed(format!(
            "{} findings, over the limit of {}",
            findings.len(),
            policy.limits().max_findings
        )));
    }
    findings
        .into_iter()
        .enumerate()
        .map(|(index, finding)| {
            accept_finding(policy, finding)
                .map_err(|reason| PolicyFailure::IllFormed(format!("finding {index}: {reason}")))
        })
        .collect()
}

/// One finding, held to the bounds of [`super`].
fn accept_finding(policy: &Policy, finding: Finding) -> Result<host::Finding, String> {
    check_length("the code", &finding.code, MAX_NAME_BYTES)?;
    let code_ok = finding
        .code
        .split_once('.')
        .is_some_and(|(area, name)| is_snake_case(area) && is_snake_case(name));
    if !code_ok {
        return Err(format!(
            "the code {:?} is not `area.name` in snake_case",
            Excerpt::of(&finding.code)
        ));
    }
    if finding.code.starts_with("policy.") {
        return Err(format!("the code `{}` is kept for the host", finding.code));
    }
    if finding.message.trim().is_empty() {
        return Err("the message is empty".to_owned());
    }
    check_length("the message", &finding.message, MAX_SENTENCE_BYTES)?;
    let time = |ms: i64, name: &str| {
        DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("`{name}` ({ms} ms) is not a representable time"))
    };
    let (from, to) = (time(finding.from, "from")?, time(finding.to, "to")?);
    if to < from {
        return Err("`to` is before `from`".to_owned());
    }
    let (lat, lon) = match finding.position {
        Some(p) if (-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon) => (Some(p.lat), Some(p.lon)),
        Some(p) => return Err(format!("the position ({}, {}) is not a WGS 84 position", p.lat, p.lon)),
        None => (None, None),
    };
    if finding.evidence.len() > MAX_EVIDENCE {
        return Err(format!(
            "{} pieces of evidence, over the limit of {MAX_EVIDENCE}",
            finding.evidence.len()
        ));
    }
    let mut evidence = BTreeMap::new();
    for item in finding.evidence {
        check_name("the evidence name", &item.name)?;
        let what = format!("the evidence `{}`", item.name);
        let value = match item.value {
            EvidenceValue::Text(text) => {
                check_length(&what, &text, MAX_EVIDENCE_TEXT_BYTES)?;
                host::EvidenceValue::Text(text)
            }
            EvidenceValue::Texts(texts) => {
                if texts.len() > MAX_EVIDENCE_TEXTS {
                    return Err(format!(
                        "{what} lists {} texts, over the limit of {MAX_EVIDENCE_TEXTS}",
                        texts.len()
                    ));
                }
                for text in &texts {
                    check_length(&what, text, MAX_EVIDENCE_TEXT_BYTES)?;
                }
                host::EvidenceValue::Texts(texts)
            }
        };
        if evidence.insert(item.name.clone(), value).is_some() {
            return Err(format!("the evidence `{}` is given twice", item.name));
        }
    }
    Ok(host::Finding {
        policy: policy.id().to_owned(),
        policy_version: policy.version().to_owned(),
        code: finding.code,
        severity: match finding.severity {
            Severity::Info => host::Severity::Info,
            Severity::Warning => host::Severity::Warning,
            Severity::Violation => host::Severity::Violation,
            Severity::Critical => host::Severity::Critical,
        },
        message: finding.message,
        from,
        to,
        lat,
        lon,
        evidence,
    })
}

impl geo::HostRoute for CallState {
    fn length_m(&mut self, route: Resource<RouteRef>) -> wasmtime::Result<f64> {
        Ok(self.route(&route)?.length_m())
    }

    fn offsets_m(&mut self, route: Resource<RouteRef>, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        self.ask(&lat, &lon)?;
        let route = self.route(&route)?;
        Ok(lat
            .iter()
            .zip(&lon)
            .map(|(&lat, &lon)| route.locate(lat, lon).offset_m)
            .collect())
    }

    fn progress_m(&mut self, route: Resource<RouteRef>, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        self.ask(&lat, &lon)?;
        let route = self.route(&route)?;
        Ok(lat
            .iter()
            .zip(&lon)
            .map(|(&lat, &lon)| route.locate(lat, lon).progress_m)
            .collect())
    }

    fn drop(&mut self, route: Resource<RouteRef>) -> wasmtime::Result<()> {
        self.release(route)
    }
}

impl geo::Host for CallState {
    fn distances_to_m(&mut self, lat: Vec<f64>, lon: Vec<f64>, to: Position) -> wasmtime::Result<Vec<f64>> {
        self.ask(&lat, &lon)?;
        self.ask(&[to.lat], &[to.lon])?;
        Ok(lat
            .iter()
            .zip(&lon)
            .map(|(&lat, &lon)| distance_m(lat, lon, to.lat, to.lon))
            .collect())
    }

    fn legs_m(&mut self, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        self.ask(&lat, &lon)?;
        Ok(lat
            .windows(2)
            .zip(lon.windows(2))
            .map(|(lat, lon)| distance_m(lat[0], lon[0], lat[1], lon[1]))
            .collect())
    }
}

impl types::Host for CallState {}

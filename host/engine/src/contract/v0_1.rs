//! Contract 0.1 (`wit/since_v0.1.0`), host side: its generated bindings, the
//! serving of its `geo` imports, the conversions between its types and the
//! host's, and the checks of what a policy answers through it.
//!
//! This module names neither the sandbox nor policies: the sandbox's store
//! data serves the `geo` imports through the traits generated here
//! (`crate::imports`), a policy makes its calls and hands the answers to the
//! checks here, which take plain inputs (who answered, its limits). Nothing
//! outside names a type of the 0.1 bindings except to hold a value lowered here: the
//! sandbox keeps instances of `EscortPolicy`, a lent transit keeps its
//! record as a [`Transit`], and everything a policy answers leaves this
//! module as the host's own [`Finding`](crate::Finding)s and
//! [`ParamSpec`](super::ParamSpec)s, checked against the bounds of
//! [`super`]. Contract 0.2 ([`super::v0_2`]) uses this module's checks
//! wherever the two versions agree.
//!
//! The public part is what a caller needs to time one call alone, as
//! `escort bench` does with
//! [`Policy::call_observe`](crate::Policy::call_observe): the lowered
//! [`Transit::of`] and [`Fixes::of`], and the [`Observation`] it answers.

use std::collections::BTreeMap;

use chrono::DateTime;
use wasmtime::component::{HasSelf, Linker};

use super::{
    Descriptor, MAX_EVIDENCE, MAX_EVIDENCE_TEXT_BYTES, MAX_EVIDENCE_TEXTS, MAX_NAME_BYTES, MAX_SENTENCE_BYTES,
    Observed, check_length, check_name, is_snake_case,
};
use crate as host;
use crate::excerpt::Excerpt;
use crate::finding::FindingStatus;

/// The generated bindings of the contract, host side.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.1.0",
        world: "escort-policy",
        imports: { default: trappable },
        with: { "escort:policy/geo.route": crate::contract::RouteRef },
    });
}

pub use bindings::escort::policy::types::{
    AuthorisedStop, Evidence, EvidenceValue, Finding, Fixes, GoodsItem, Observation, Param, ParamValue, Party,
    Position, RiskZone, SealState, Severity, Transit, Zone,
};
pub(crate) use bindings::escort::policy::{geo, types};
pub(crate) use bindings::{EscortPolicy, EscortPolicyPre};
use types::{ParamKind, ParamSpec};

/// The version of the contract this module implements.
pub const VERSION: &str = "0.1.0";

/// Adds the imports of contract 0.1 (`escort:policy/geo@0.1.0`) to `linker`,
/// served by the store's data.
pub(crate) fn link<T: geo::Host + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    geo::add_to_linker::<T, HasSelf<T>>(linker, |state| state)
}

/// The policy whose answer is checked: who it is, which its findings name,
/// the transit they are about (part of their keys), and its limits on
/// findings and state.
pub(crate) struct Author<'a> {
    pub(crate) id: &'a str,
    pub(crate) transit: &'a str,
    pub(crate) version: &'a str,
    pub(crate) max_findings: usize,
    pub(crate) max_state_bytes: usize,
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
            goods: goods(&transit.goods),
            departure: zone(&transit.departure),
            destination: zone(&transit.destination),
            stops: stops(&transit.stops),
            corridor_m: transit.corridor_m,
            opened_at: transit.opened_at.timestamp_millis(),
            deadline: transit.deadline.map(|d| d.timestamp_millis()),
        }
    }
}

super::shared_conversions!();

impl Fixes {
    /// The batch as contract 0.1's nine columns; absent numbers become NaN.
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
            seal: fixes.iter().map(seal_state).collect(),
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

/// What a component answered to `describe()`, held to the bounds of
/// [`super`]. The error completes "describe() …".
pub(crate) fn descriptor(descriptor: types::Descriptor) -> Result<Descriptor, String> {
    super::checked(Descriptor {
        id: descriptor.id,
        version: descriptor.version,
        summary: descriptor.summary,
        params: descriptor.params.into_iter().map(param_spec).collect(),
    })
}

/// What a policy's `observe` answered, checked against the bounds of
/// [`super`] and `author`'s limits. The error says what is ill-formed.
pub(crate) fn observed(author: &Author<'_>, observation: Observation) -> Result<Observed, String> {
    if observation.state.len() > author.max_state_bytes {
        return Err(format!(
            "a state of {} bytes, over the limit of {}",
            observation.state.len(),
            author.max_state_bytes
        ));
    }
    Ok(Observed {
        findings: accept_findings(author, observation.findings, FindingStatus::Final)?,
        open: accept_findings(author, observation.open, FindingStatus::Open)?,
        state: observation.state,
    })
}

/// Checks a policy's findings against the contract and converts them. One
/// ill-formed finding discards the whole answer: a policy that breaks the
/// contract once cannot be trusted for the rest. They are `status`, as the
/// list the policy put them in says.
pub(crate) fn accept_findings(
    author: &Author<'_>,
    findings: Vec<Finding>,
    status: FindingStatus,
) -> Result<Vec<host::Finding>, String> {
    if findings.len() > author.max_findings {
        return Err(format!(
            "{} findings, over the limit of {}",
            findings.len(),
            author.max_findings
        ));
    }
    findings
        .into_iter()
        .enumerate()
        .map(|(index, finding)| {
            accept_finding(author, finding, status).map_err(|reason| format!("finding {index}: {reason}"))
        })
        .collect()
}

/// One finding, held to the bounds of [`super`].
fn accept_finding(author: &Author<'_>, finding: Finding, status: FindingStatus) -> Result<host::Finding, String> {
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
        key: host::Finding::episode_key(author.transit, author.id, &finding.code, &from),
        status,
        policy: author.id.to_owned(),
        policy_version: author.version.to_owned(),
        code: finding.code,
        severity: severity(finding.severity),
        message: finding.message,
        from,
        to,
        lat,
        lon,
        evidence,
    })
}

//! Contract 0.2 (`wit/since_v0.2.0`), host side: its generated bindings, the
//! linking of its `geo`, `transit` and `batch` imports (served in `crate::imports`),
//! its conversions, and what differs from 0.1 in the checks of what a
//! policy answers.
//!
//! 0.2 shares most of its types with 0.1 field for field (the fix columns,
//! zones, parties, parameters, the descriptor). They are types of its own
//! bindings, converted by the same code as 0.1's (`shared_conversions!`); a
//! batch is lowered once for each version the policies of a set speak
//! ([`super::Batch`]). What is new:
//!
//! - the transit ([`super::LentTransit`]) and the batch are the call's,
//!   which a policy asks for what it needs, instead of a record and nine
//!   columns copied into every call;
//! - parameters are values in `describe()` order, handed once to each
//!   instance (`configure`);
//! - evidence may be a number or an integer, which the host prints
//!   ([`print_number`]). A finding of 0.2 becomes one of 0.1 with its
//!   numbers printed, and goes through 0.1's checks from there: the bounds
//!   on what a policy answers are stated once.

use wasmtime::StoreContextMut;
use wasmtime::component::{HasSelf, Linker};

use super::v0_1;
use super::{Descriptor, Observed};
use crate as host;
use crate::finding::FindingStatus;

/// The generated bindings of the contract, host side.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.2.0",
        world: "escort-policy",
        imports: { default: trappable },
    });
}

pub use bindings::escort::policy::geo::Position;
pub use bindings::escort::policy::types::{
    AuthorisedStop, Declaration, Evidence, EvidenceValue, Finding, Fixes, GoodsItem, Number, Observation, ParamKind,
    ParamSpec, ParamValue, Party, RiskZone, SealState, Severity, Zone,
};
pub(crate) use bindings::escort::policy::{geo, transit, types};
pub(crate) use bindings::{EscortPolicy, EscortPolicyPre};

/// The version of the contract this module implements.
pub const VERSION: &str = "0.2.0";

/// Most digits after the point a number of evidence may ask for.
pub const MAX_DECIMALS: u8 = 9;

/// Adds the imports of contract 0.2 (`escort:policy/geo@0.2.0`,
/// `escort:policy/transit@0.2.0` and `escort:policy/batch@0.2.0`) to
/// `linker`, served by the store's data.
///
/// `batch.columns` is linked by hand: the generated trait would return the
/// columns owned, a copy of every column for every policy that asks, where
/// the batch is lowered from one shared copy.
pub(crate) fn link<T: super::Imports>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    geo::add_to_linker::<T, HasSelf<T>>(linker, |state| state)?;
    transit::add_to_linker::<T, HasSelf<T>>(linker, |state| state)?;
    linker
        .instance("escort:policy/batch@0.2.0")?
        .func_wrap("columns", |mut store: StoreContextMut<'_, T>, (): ()| {
            Ok((store.data_mut().fixes_v0_2()?,))
        })
}

super::shared_conversions!();

/// The numeric columns of [`Fixes::numbers`], in the WIT's order.
const NUMBER_COLUMNS: [fn(&host::Fix) -> Option<f64>; 7] = [
    |fix| Some(fix.lat),
    |fix| Some(fix.lon),
    |fix| fix.speed_kmh,
    |fix| fix.course_deg,
    |fix| fix.hdop,
    |fix| fix.sats.map(f64::from),
    |fix| fix.battery_pct,
];

impl Fixes {
    /// The batch as contract 0.2's three lists: the times, the seven
    /// numeric columns one after the other (absent numbers NaN), and each
    /// seal state's index.
    pub fn of(fixes: &[host::Fix]) -> Fixes {
        let mut numbers = Vec::with_capacity(NUMBER_COLUMNS.len() * fixes.len());
        for column in NUMBER_COLUMNS {
            numbers.extend(fixes.iter().map(|fix| column(fix).unwrap_or(f64::NAN)));
        }
        Fixes {
            at: fixes.iter().map(|fix| fix.at.timestamp_millis()).collect(),
            numbers,
            seal: fixes.iter().map(|fix| seal_state(fix) as u8).collect(),
        }
    }
}

/// A policy's parameter values as contract 0.2 passes them: in declaration
/// order, without names.
pub(crate) fn params(values: &[host::ParamValue]) -> std::sync::Arc<[ParamValue]> {
    values.iter().map(ParamValue::from).collect()
}

/// Who and what `transit` declares, as contract 0.2 answers it.
pub(crate) fn declaration(transit: &host::Transit) -> Declaration {
    Declaration {
        number: transit.declaration.clone(),
        seal_id: transit.seal_id.clone(),
        vehicle: transit.vehicle.clone(),
        importer: party(&transit.importer),
        carrier: transit.carrier.as_ref().map(party),
        goods: goods(&transit.goods),
    }
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

/// A number as the host prints it in evidence: `value` with exactly
/// `decimals` digits after the point, rounded half to even from its exact
/// binary value (Rust's `{:.N}`, which Python's `{:.Nf}` matches). The error
/// says why it cannot be printed.
///
/// ```
/// use escort_engine::contract::v0_2::{Number, print_number};
/// assert_eq!(print_number(&Number { value: 2.5, decimals: 0 }), Ok("2".to_owned()));
/// assert_eq!(print_number(&Number { value: 61_230.04, decimals: 1 }), Ok("61230.0".to_owned()));
/// assert!(print_number(&Number { value: f64::NAN, decimals: 1 }).is_err());
/// ```
pub fn print_number(number: &Number) -> Result<String, String> {
    if !number.value.is_finite() {
        return Err(format!("{} is not a finite number", number.value));
    }
    if number.decimals > MAX_DECIMALS {
        return Err(format!(
            "asks for {} decimals, over the limit of {MAX_DECIMALS}",
            number.decimals
        ));
    }
    Ok(format!("{:.*}", usize::from(number.decimals), number.value))
}

/// A finding of 0.2 as 0.1 has it: its numbers printed. The error says
/// which evidence could not be printed.
fn printed(finding: Finding) -> Result<v0_1::Finding, String> {
    let evidence = finding
        .evidence
        .into_iter()
        .map(|item| {
            let value = match item.value {
                EvidenceValue::Text(text) => v0_1::EvidenceValue::Text(text),
                EvidenceValue::Texts(texts) => v0_1::EvidenceValue::Texts(texts),
                EvidenceValue::Number(number) => v0_1::EvidenceValue::Text(
                    print_number(&number).map_err(|reason| format!("the evidence `{}` {reason}", item.name))?,
                ),
                EvidenceValue::Integer(value) => v0_1::EvidenceValue::Text(value.to_string()),
            };
            Ok(v0_1::Evidence { name: item.name, value })
        })
        .collect::<Result<_, String>>()?;
    Ok(v0_1::Finding {
        code: finding.code,
        // Both versions have the host's four severities; going through the
        // host's names keeps the mapping in one place.
        severity: match severity(finding.severity) {
            host::Severity::Info => v0_1::Severity::Info,
            host::Severity::Warning => v0_1::Severity::Warning,
            host::Severity::Violation => v0_1::Severity::Violation,
            host::Severity::Critical => v0_1::Severity::Critical,
        },
        message: finding.message,
        from: finding.from,
        to: finding.to,
        position: finding.position.map(|p| v0_1::Position { lat: p.lat, lon: p.lon }),
        evidence,
    })
}

/// Findings of 0.2 as 0.1 has them, each named by its place when it cannot be.
fn printed_all(findings: Vec<Finding>) -> Result<Vec<v0_1::Finding>, String> {
    findings
        .into_iter()
        .enumerate()
        .map(|(index, finding)| printed(finding).map_err(|reason| format!("finding {index}: {reason}")))
        .collect()
}

/// What a policy's `admit` answered, checked as 0.1's findings are (their
/// count among them).
pub(crate) fn admitted(author: &v0_1::Author<'_>, findings: Vec<Finding>) -> Result<Vec<crate::Finding>, String> {
    v0_1::accept_findings(author, printed_all(findings)?, FindingStatus::Final)
}

/// The observation as 0.1 has it: what a caller timing one call is given.
pub(crate) fn as_v0_1(observation: Observation) -> Result<v0_1::Observation, String> {
    Ok(v0_1::Observation {
        findings: printed_all(observation.findings)?,
        open: printed_all(observation.open)?,
        state: observation.state,
    })
}

/// What a policy's `observe` answered, checked as 0.1's observation is.
pub(crate) fn observed(author: &v0_1::Author<'_>, observation: Observation) -> Result<Observed, String> {
    v0_1::observed(author, as_v0_1(observation)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers column after column, and the indices the WIT's text
    /// gives each `seal-state` case.
    #[test]
    fn the_columns_are_laid_out_as_the_wit_says() {
        let at = chrono::DateTime::UNIX_EPOCH;
        let fixes: Vec<host::Fix> = [None]
            .into_iter()
            .chain(host::SealState::ALL.map(Some))
            .map(|seal| host::Fix {
                seal,
                ..host::Fix::at_position(at, 43.0, 76.0)
            })
            .collect();
        let names: Vec<&str> = host::SealState::ALL.iter().map(|state| state.as_str()).collect();
        assert_eq!(names, ["intact", "opened", "cable_cut", "housing_breached", "fault"]);
        let columns = Fixes::of(&fixes);
        assert_eq!(columns.seal, [0, 1, 2, 3, 4, 5]);
        assert_eq!((columns.at.len(), columns.numbers.len()), (6, 6 * 7));
        assert_eq!(
            columns.numbers[..12],
            [43.0; 6].into_iter().chain([76.0; 6]).collect::<Vec<_>>()
        );
        assert!(columns.numbers[12..].iter().all(|number| number.is_nan()));
    }

    #[test]
    fn numbers_print_as_rust_prints_them_and_nothing_else_prints() {
        let print = |value, decimals| print_number(&Number { value, decimals });
        assert_eq!(print(0.5, 0), Ok("0".to_owned()));
        assert_eq!(print(1.5, 0), Ok("2".to_owned()));
        assert_eq!(print(0.125, 2), Ok("0.12".to_owned()));
        assert_eq!(print(-3.0, 1), Ok("-3.0".to_owned()));
        assert_eq!(print(1e21, 0), Ok("1000000000000000000000".to_owned()));
        assert_eq!(print(f64::INFINITY, 0), Err("inf is not a finite number".to_owned()));
        assert_eq!(
            print(1.0, 10),
            Err("asks for 10 decimals, over the limit of 9".to_owned())
        );
    }
}

//! The contract between the host and its policies: which versions the host
//! implements, and what holds whatever the version.
//!
//! Each contract version is frozen in a folder of its own under `wit/`
//! (`since_v0.1.0`, `since_v0.2.0`) and has one module here, as Zed's
//! extension host has one per version of its API: [`v0_1`] holds the
//! bindings of 0.1, the serving of its `geo` imports, every conversion
//! between its types and the host's, and the checks of what a policy answers
//! through it; [`v0_2`] holds 0.2's, which reuse 0.1's checks and share its
//! conversions (`shared_conversions!`) wherever the two agree. The contract is the bottom layer: the sandbox
//! runs calls and its store data serves every version's imports
//! (`crate::imports`), policies make the calls. What is left here is the
//! same for every version:
//!
//! - [`CONTRACT_VERSION`], [`CONTRACT_VERSIONS`] and the linking of every
//!   version's imports, the one place that says which versions the host
//!   implements, and `Bindings`, a component linked as the version it
//!   exports;
//! - [`LentTransit`]: the transit as every version hands it to a policy;
//! - the bounds on what a policy answers, and the checks of its names and
//!   texts. Everything a policy returns crosses into the host, into the
//!   reports officers read and into the service's database, so every string
//!   and every list has a bound, stated here once and in the contract's WIT
//!   docs. `describe()` is held to them when a policy loads, findings on
//!   every call; a policy that oversteps fails the call as ill-formed, which
//!   fails closed. The counts of findings and the size of the state are
//!   per-policy [`Limits`](crate::Limits) instead, since a deployment may
//!   have reason to change them;
//! - the host's form of what a policy answers (`Descriptor`, `Observed`,
//!   the [`ParamSpec`]s it declares) and the route it may borrow
//!   ([`route_index`], [`RouteRef`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use wasmtime::component::{InstancePre, Linker};

use crate::excerpt::Excerpt;
use crate::finding::Finding;
use crate::geodesy::RouteIndex;
use crate::routes::SharedRoutes;
use crate::transit::Transit;

pub mod v0_1;
pub mod v0_2;

/// The newest contract version this host implements: the one new policies
/// are written against.
pub const CONTRACT_VERSION: &str = v0_2::VERSION;

/// Every contract version this host implements, oldest first: a component
/// that exports the `policy` of any of them loads.
pub const CONTRACT_VERSIONS: [&str; 2] = [v0_1::VERSION, v0_2::VERSION];

/// What serves the imports of every contract version the host implements:
/// the sandbox's store data.
pub(crate) trait Imports: v0_1::geo::Host + v0_2::geo::Host + v0_2::transit::Host + Send + 'static {
    /// Contract 0.2's `batch.columns`: the batch of the `observe` in
    /// progress, shared rather than copied until it is lowered.
    fn fixes_v0_2(&mut self) -> wasmtime::Result<Arc<v0_2::Fixes>>;
}

/// Adds the imports of every contract version the host implements to
/// `linker`, served by the store's data.
pub(crate) fn link<T: Imports>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    v0_1::link(linker)?;
    v0_2::link(linker)
}

/// A component linked against the contract version it exports, ready to be
/// instantiated.
pub(crate) enum BindingsPre<T: 'static> {
    V0_1(v0_1::EscortPolicyPre<T>),
    V0_2(v0_2::EscortPolicyPre<T>),
}

impl<T: 'static> BindingsPre<T> {
    /// The component as the newest version it exports. The error is 0.1's
    /// when it exports no version, naming what 0.1 lacks.
    pub(crate) fn new(pre: InstancePre<T>) -> wasmtime::Result<BindingsPre<T>> {
        match v0_2::EscortPolicyPre::new(pre.clone()) {
            Ok(pre) => Ok(BindingsPre::V0_2(pre)),
            Err(v0_2) => v0_1::EscortPolicyPre::new(pre)
                .map(BindingsPre::V0_1)
                .map_err(|v0_1| v0_1.context(format!("nor does it export 0.2's policy: {v0_2:#}"))),
        }
    }

    /// A new instance in `store`.
    pub(crate) fn instantiate(&self, store: &mut wasmtime::Store<T>) -> wasmtime::Result<Bindings> {
        Ok(match self {
            BindingsPre::V0_1(pre) => Bindings::V0_1(pre.instantiate(store)?),
            BindingsPre::V0_2(pre) => Bindings::V0_2(pre.instantiate(store)?),
        })
    }

    /// The contract version the component exports.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            BindingsPre::V0_1(_) => v0_1::VERSION,
            BindingsPre::V0_2(_) => v0_2::VERSION,
        }
    }
}

/// An instance of a policy, as the contract version it exports.
pub(crate) enum Bindings {
    V0_1(v0_1::EscortPolicy),
    V0_2(v0_2::EscortPolicy),
}

/// A transit as policies are handed it: its declaration, its route indexed,
/// and, made on first need, the record contract 0.1 copies into every call.
/// Contract 0.2 lends it to the call instead, and a policy asks for the
/// parts it needs.
#[derive(Debug)]
pub struct LentTransit {
    pub(crate) transit: Transit,
    pub(crate) route: Option<Arc<RouteIndex>>,
    record_v0_1: OnceLock<v0_1::Transit>,
}

impl LentTransit {
    /// The transit, its route indexed.
    pub fn new(transit: Transit) -> LentTransit {
        LentTransit {
            route: route_index(&transit),
            transit,
            record_v0_1: OnceLock::new(),
        }
    }

    /// The transit, with the index of its route that `routes` shares among
    /// every transit declaring the same positions.
    pub fn sharing(transit: Transit, routes: &SharedRoutes) -> LentTransit {
        LentTransit {
            route: has_route(&transit).then(|| routes.index(&transit.route)),
            transit,
            record_v0_1: OnceLock::new(),
        }
    }

    /// The transit as declared.
    pub fn transit(&self) -> &Transit {
        &self.transit
    }

    /// The route, indexed, when the transit declares one.
    pub fn route(&self) -> Option<&Arc<RouteIndex>> {
        self.route.as_ref()
    }

    /// The transit as contract 0.1's record, lowered on first need.
    pub fn record_v0_1(&self) -> &v0_1::Transit {
        self.record_v0_1.get_or_init(|| v0_1::Transit::of(&self.transit))
    }

    /// Whether a policy of contract 0.1 has had the transit lowered into
    /// that contract's record.
    pub fn has_record_v0_1(&self) -> bool {
        self.record_v0_1.get().is_some()
    }
}

/// A batch of fixes as policies are handed it: lowered into a contract
/// version's columns once, on the first call of a policy of that version,
/// and shared by the others.
///
/// ```
/// use escort_engine::contract::Batch;
/// let batch = Batch::new(&[]);
/// assert!(batch.v0_2().at.is_empty());
/// ```
pub struct Batch<'a> {
    fixes: &'a [crate::Fix],
    v0_1: std::cell::OnceCell<v0_1::Fixes>,
    v0_2: std::cell::OnceCell<Arc<v0_2::Fixes>>,
}

impl<'a> Batch<'a> {
    /// The batch of `fixes`, not yet lowered.
    pub fn new(fixes: &'a [crate::Fix]) -> Batch<'a> {
        Batch {
            fixes,
            v0_1: std::cell::OnceCell::new(),
            v0_2: std::cell::OnceCell::new(),
        }
    }

    /// The batch as contract 0.1's columns.
    pub fn v0_1(&self) -> &v0_1::Fixes {
        self.v0_1.get_or_init(|| v0_1::Fixes::of(self.fixes))
    }

    /// The batch as contract 0.2's columns.
    pub fn v0_2(&self) -> &Arc<v0_2::Fixes> {
        self.v0_2.get_or_init(|| Arc::new(v0_2::Fixes::of(self.fixes)))
    }

    /// How many fixes the batch holds.
    pub fn len(&self) -> usize {
        self.fixes.len()
    }

    /// Whether the batch holds no fix: only time has passed.
    pub fn is_empty(&self) -> bool {
        self.fixes.is_empty()
    }
}

/// Ids the host keeps for findings of its own: `policy.error` and the
/// telemetry checks.
const RESERVED_IDS: [&str; 2] = ["policy", "telemetry"];

/// What a policy says about itself in `describe()`, checked.
pub(crate) struct Descriptor {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) summary: String,
    pub(crate) params: Vec<ParamSpec>,
}

/// What a policy's `observe` answered, checked.
pub(crate) struct Observed {
    /// Findings about what is over.
    pub(crate) findings: Vec<Finding>,
    /// Findings about what is still going on, replacing the previous call's.
    pub(crate) open: Vec<Finding>,
    /// The policy's new opaque state.
    pub(crate) state: Vec<u8>,
}

/// A route lent to one call of contract 0.1. Public only because the
/// contract's bindings re-export it; the crate does not.
pub struct RouteRef(pub(crate) Arc<RouteIndex>);

/// The route a policy may borrow through `geo`: the transit's route indexed,
/// when it has one (two points or more).
pub fn route_index(transit: &Transit) -> Option<Arc<RouteIndex>> {
    has_route(transit).then(|| Arc::new(RouteIndex::new(&transit.route)))
}

/// Whether the transit has a route to index: two points or more.
fn has_route(transit: &Transit) -> bool {
    transit.route.len() >= 2
}

/// The type of a parameter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A number with a fraction, such as a distance in metres.
    Float,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A text, such as a list of HS prefixes.
    Text,
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamKind::Float => "float",
            ParamKind::Integer => "integer",
            ParamKind::Boolean => "boolean",
            ParamKind::Text => "text",
        })
    }
}

/// A parameter value, as written in `policies.toml` or shown in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` or `false`.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// A text.
    Text(String),
}

impl ParamValue {
    /// The kind of value it is, as written (`3` is an integer).
    pub fn kind(&self) -> ParamKind {
        match self {
            ParamValue::Boolean(_) => ParamKind::Boolean,
            ParamValue::Integer(_) => ParamKind::Integer,
            ParamValue::Float(_) => ParamKind::Float,
            ParamValue::Text(_) => ParamKind::Text,
        }
    }

    /// The value as `kind`, if it is one (a whole number is also a float).
    ///
    /// ```
    /// use escort_engine::{ParamKind, ParamValue};
    /// assert_eq!(ParamValue::Integer(3).as_kind(ParamKind::Float), Some(ParamValue::Float(3.0)));
    /// assert_eq!(ParamValue::Float(3.5).as_kind(ParamKind::Integer), None);
    /// ```
    pub fn as_kind(&self, kind: ParamKind) -> Option<ParamValue> {
        match (kind, self) {
            (ParamKind::Float, ParamValue::Float(v)) => Some(ParamValue::Float(*v)),
            (ParamKind::Float, ParamValue::Integer(v)) => Some(ParamValue::Float(*v as f64)),
            (ParamKind::Integer, ParamValue::Integer(_))
            | (ParamKind::Boolean, ParamValue::Boolean(_))
            | (ParamKind::Text, ParamValue::Text(_)) => Some(self.clone()),
            _ => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Boolean(v) => write!(f, "{v}"),
            ParamValue::Integer(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v:?}"),
        }
    }
}

/// A parameter a policy declares in `describe()`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// snake_case name with its unit, such as `corridor_m`.
    pub name: String,
    /// The type of its values.
    pub kind: ParamKind,
    /// The value used when none is configured.
    pub default: ParamValue,
    /// One sentence for the regulator who sets it.
    pub doc: String,
}

/// The conversions between the host's types and a contract version's that
/// every version shares: zones, parties, goods, stops, seal states,
/// parameters and severities are the same field for field in each, but each
/// version's bindings have types of their own. Expanded in each version's
/// module, where its bindings' types are in scope.
macro_rules! shared_conversions {
    () => {
        /// The goods as this contract version has them.
        pub(crate) fn goods(goods: &[host::GoodsItem]) -> Vec<GoodsItem> {
            goods
                .iter()
                .map(|item| GoodsItem {
                    hs: item.hs.clone(),
                    description: item.description.clone(),
                    value_usd: item.value_usd,
                    excise: item.excise,
                })
                .collect()
        }

        /// The authorised stops as this contract version has them.
        pub(crate) fn stops(stops: &[host::AuthorisedStop]) -> Vec<AuthorisedStop> {
            stops
                .iter()
                .map(|stop| AuthorisedStop {
                    zone: zone(&stop.zone),
                    max_minutes: stop.max_minutes,
                })
                .collect()
        }

        /// A zone as this contract version has it.
        pub(crate) fn zone(zone: &host::Zone) -> Zone {
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

        /// A party as this contract version has it.
        pub(crate) fn party(party: &host::Party) -> Party {
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

        /// A fix's seal state as this contract version has it.
        fn seal_state(fix: &host::Fix) -> SealState {
            match fix.seal {
                None => SealState::Unknown,
                Some(host::SealState::Intact) => SealState::Intact,
                Some(host::SealState::Opened) => SealState::Opened,
                Some(host::SealState::CableCut) => SealState::CableCut,
                Some(host::SealState::HousingBreached) => SealState::HousingBreached,
                Some(host::SealState::Fault) => SealState::Fault,
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

        /// A parameter as the policy declared it, not yet checked.
        fn param_spec(spec: ParamSpec) -> host::ParamSpec {
            host::ParamSpec {
                kind: match spec.kind {
                    ParamKind::Float => host::ParamKind::Float,
                    ParamKind::Integer => host::ParamKind::Integer,
                    ParamKind::Boolean => host::ParamKind::Boolean,
                    ParamKind::Text => host::ParamKind::Text,
                },
                default: host::ParamValue::from(&spec.default),
                name: spec.name,
                doc: spec.doc,
            }
        }

        /// A severity as the host has it.
        fn severity(severity: Severity) -> host::Severity {
            match severity {
                Severity::Info => host::Severity::Info,
                Severity::Warning => host::Severity::Warning,
                Severity::Violation => host::Severity::Violation,
                Severity::Critical => host::Severity::Critical,
            }
        }
    };
}
use shared_conversions;

/// What a policy says about itself, held to the contract's bounds. The
/// error completes "describe() …".
pub(crate) fn checked(descriptor: Descriptor) -> Result<Descriptor, String> {
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
        if let ParamValue::Text(text) = &spec.default {
            check_length(
                &format!("declared `{}` with a default that", spec.name),
                text,
                MAX_TEXT_PARAM_BYTES,
            )?;
        }
        if spec.default.as_kind(spec.kind) != Some(spec.default.clone()) {
            return Err(format!(
                "declared `{}` as a {} with the default {}",
                spec.name,
                spec.kind,
                Excerpt::of(&spec.default.to_string())
            ));
        }
    }
    Ok(descriptor)
}

/// Longest id, finding code, parameter name or evidence name, bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest version a policy gives itself, bytes.
pub const MAX_VERSION_BYTES: usize = 64;
/// Longest sentence: a policy's summary, a parameter's doc, a finding's
/// message, bytes.
pub const MAX_SENTENCE_BYTES: usize = 2_000;
/// Most parameters a policy declares.
pub const MAX_PARAMS: usize = 64;
/// Longest value of a text parameter, default or configured, bytes.
pub const MAX_TEXT_PARAM_BYTES: usize = 4_096;
/// Most pieces of evidence in one finding.
pub const MAX_EVIDENCE: usize = 32;
/// Most values in one piece of evidence that is a list of texts.
pub const MAX_EVIDENCE_TEXTS: usize = 100;
/// Longest text of evidence, each value of a list included, bytes.
pub const MAX_EVIDENCE_TEXT_BYTES: usize = 1_000;

/// Whether `name` is a snake_case identifier (`corridor`, `max_offset_m`).
pub fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks that `name` is a snake_case identifier of at most
/// [`MAX_NAME_BYTES`]; `what` leads the error ("declared the parameter").
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "{what} {:?}, which has {} bytes, over the limit of {MAX_NAME_BYTES}",
            Excerpt::of(name),
            name.len()
        ));
    }
    if !is_snake_case(name) {
        return Err(format!("{what} {:?}, which is not snake_case", Excerpt::of(name)));
    }
    Ok(())
}

/// Checks that `text` has at most `max` bytes; `what` leads the error ("gave
/// a summary that").
pub(crate) fn check_length(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!("{what} has {} bytes, over the limit of {max}", text.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_names() {
        assert!(is_snake_case("corridor"));
        assert!(is_snake_case("max_offset_m"));
        assert!(!is_snake_case("Corridor"));
        assert!(!is_snake_case("2fast"));
        assert!(!is_snake_case("max-offset"));
        assert!(!is_snake_case(""));
    }

    #[test]
    fn whole_numbers_are_floats_but_not_the_reverse() {
        assert_eq!(
            ParamValue::Integer(3000).as_kind(ParamKind::Float),
            Some(ParamValue::Float(3000.0))
        );
        assert_eq!(ParamValue::Float(3000.5).as_kind(ParamKind::Integer), None);
        assert_eq!(ParamValue::Text("3km".into()).as_kind(ParamKind::Float), None);
    }

    #[test]
    fn a_long_name_is_refused_and_quoted_short() {
        let long = "a".repeat(1 << 20);
        let error = check_name("gave the code", &long).expect_err("too long");
        assert!(error.len() < 200, "{error}");
        assert!(error.ends_with("has 1048576 bytes, over the limit of 64"), "{error}");
        assert_eq!(check_name("gave the id", "max_offset_m"), Ok(()));
        assert_eq!(
            check_name("gave the id", "Max"),
            Err("gave the id \"Max\", which is not snake_case".to_owned())
        );
    }
}

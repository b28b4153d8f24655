//! The contract between the host and its policies: which versions the host
//! implements, and what holds whatever the version.
//!
//! Each contract version is frozen in a folder of its own under `wit/`
//! (`since_v0.1.0`) and has one module here, as Zed's extension host has one
//! per version of its API: [`v0_1`] holds the bindings of 0.1, the linking
//! of its `geo` imports, every conversion between its types and the host's,
//! and the checks of what a policy answers through it. The contract is the
//! bottom layer: the sandbox serves its imports, policies make its calls.
//! What is left here is the same for every version:
//!
//! - [`CONTRACT_VERSION`] and the linking of every version's imports, the one
//!   place that says which versions the host implements;
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

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::component::Linker;

use crate::excerpt::Excerpt;
use crate::finding::Finding;
use crate::geodesy::RouteIndex;
use crate::transit::Transit;

pub mod v0_1;

/// The contract version this host implements: what its linker provides and
/// what a component it loads must export.
pub const CONTRACT_VERSION: &str = v0_1::VERSION;

/// Adds the imports of every contract version the host implements to
/// `linker`, served by the store's data.
pub(crate) fn link<T: v0_1::geo::Host + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    v0_1::link(linker)
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

/// A route handed to a policy for the length of one call. Public only
/// because the contract's bindings re-export it; the crate does not.
pub struct RouteRef(pub(crate) Arc<RouteIndex>);

/// The route a policy may borrow through `geo`: the transit's route indexed,
/// when it has one (two points or more).
pub fn route_index(transit: &Transit) -> Option<Arc<RouteIndex>> {
    (transit.route.len() >= 2).then(|| Arc::new(RouteIndex::new(&transit.route)))
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

//! Parameters declared once: [`params!`](crate::params) turns a struct with
//! defaults and doc comments into what `describe()` declares and what each
//! call reads, so a parameter's name, kind, default and doc live in one
//! place.
//!
//! The host has checked every value against `describe()` and passes them in
//! its order, so reading them back fails only if the policy's own
//! declaration and its reading disagree, which the macro rules out.

use crate::{ParamKind, ParamSpec, ParamValue};

/// A policy's parameters as a typed value; made by [`params!`](crate::params).
pub trait Params: Sized {
    /// What `describe()` declares, in order.
    fn specs() -> Vec<ParamSpec>;
    /// The values of one call, in [`Params::specs`] order.
    fn from_values(values: &[ParamValue]) -> Result<Self, String>;
    /// Every parameter's default, in order, as the host passes them when
    /// nothing is configured.
    fn default_values() -> Vec<ParamValue> {
        Self::specs().into_iter().map(|spec| spec.default).collect()
    }
    /// Every parameter at its default: what a rule's unit tests run with.
    fn defaults() -> Self {
        Self::from_values(&Self::default_values()).expect("a policy's defaults are of their declared kinds")
    }
}

/// A policy without parameters.
impl Params for () {
    fn specs() -> Vec<ParamSpec> {
        Vec::new()
    }
    fn from_values(_: &[ParamValue]) -> Result<Self, String> {
        Ok(())
    }
}

/// A Rust type a parameter may have: `f64` (float), `i64` (integer), `bool`
/// (boolean) or `String` (text).
pub trait ParamType: Sized {
    /// The contract's kind for the type.
    const KIND: ParamKind;
    /// The value as the contract passes it.
    fn value(self) -> ParamValue;
    /// The value the host passed for the parameter `name`.
    fn from_value(name: &str, value: Option<&ParamValue>) -> Result<Self, String>;
}

macro_rules! param_type {
    ($type:ty, $kind:ident) => {
        impl ParamType for $type {
            const KIND: ParamKind = ParamKind::$kind;
            fn value(self) -> ParamValue {
                ParamValue::$kind(self)
            }
            fn from_value(name: &str, value: Option<&ParamValue>) -> Result<Self, String> {
                match value {
                    Some(ParamValue::$kind(value)) => Ok(value.clone()),
                    Some(_) => Err(format!("parameter `{name}` was passed a value of another kind")),
                    None => Err(format!("parameter `{name}` was not passed")),
                }
            }
        }
    };
}

param_type!(f64, Float);
param_type!(i64, Integer);
param_type!(bool, Boolean);
param_type!(String, Text);

/// One sentence from a field's doc comment lines.
#[doc(hidden)]
pub fn doc_sentence(lines: &[&str]) -> String {
    lines.iter().map(|line| line.trim()).collect::<Vec<_>>().join(" ")
}

/// Declares a policy's parameters: a struct whose fields are the parameters,
/// each with its doc comment (the sentence a regulator reads) and its
/// default. Names are the fields' (snake_case with a unit); kinds come from
/// the types (`f64`, `i64`, `bool`, `String`).
///
/// # Examples
/// ```
/// use escort_policy_sdk::{ParamValue, Params, params};
///
/// params! {
///     /// How fast is too fast.
///     pub struct Limits {
///         /// Reported speed above this is excessive, km/h.
///         excessive_kmh: f64 = 110.0,
///         /// Fixes with a higher hdop are poor.
///         max_hdop: f64 = 5.0,
///     }
/// }
///
/// let specs = Limits::specs();
/// assert_eq!(specs[0].name, "excessive_kmh");
/// assert_eq!(specs[0].doc, "Reported speed above this is excessive, km/h.");
/// let limits = Limits::from_values(&[ParamValue::Float(90.0), ParamValue::Float(4.0)]).unwrap();
/// assert_eq!((limits.excessive_kmh, Limits::defaults().max_hdop), (90.0, 5.0));
/// ```
#[macro_export]
macro_rules! params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:literal])+ $field:ident : $type:ty = $default:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[doc = $doc])+ pub $field: $type, )*
        }

        impl $crate::Params for $name {
            fn specs() -> ::std::vec::Vec<$crate::ParamSpec> {
                ::std::vec![$(
                    $crate::ParamSpec {
                        name: ::std::string::String::from(stringify!($field)),
                        kind: <$type as $crate::ParamType>::KIND,
                        default: $crate::ParamType::value(<$type>::from($default)),
                        doc: $crate::__doc_sentence(&[$($doc),+]),
                    }
                ),*]
            }

            fn from_values(values: &[$crate::ParamValue]) -> ::std::result::Result<Self, ::std::string::String> {
                #[allow(unused_mut, unused_variables)]
                let mut values = values.iter();
                ::std::result::Result::Ok($name {
                    $( $field: <$type as $crate::ParamType>::from_value(stringify!($field), values.next())?, )*
                })
            }
        }
    };
}

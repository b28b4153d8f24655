//! Parameters by name. The host has already checked every value against the
//! policy's `describe()`, so a lookup fails only if the policy asks for a
//! name it never declared.

use crate::{Descriptor, Param, ParamKind, ParamSpec, ParamValue};

/// The parameters of one call.
#[derive(Debug, Clone)]
pub struct Params(Vec<Param>);

impl Params {
    /// Wraps the parameters a call received.
    pub fn new(params: Vec<Param>) -> Self {
        Params(params)
    }

    fn value(&self, name: &str) -> Result<&ParamValue, String> {
        self.0
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
            .ok_or_else(|| format!("parameter `{name}` was not passed"))
    }

    /// A `float` parameter.
    pub fn float(&self, name: &str) -> Result<f64, String> {
        match self.value(name)? {
            ParamValue::Float(v) => Ok(*v),
            _ => Err(format!("parameter `{name}` is not a float")),
        }
    }

    /// An `integer` parameter.
    pub fn integer(&self, name: &str) -> Result<i64, String> {
        match self.value(name)? {
            ParamValue::Integer(v) => Ok(*v),
            _ => Err(format!("parameter `{name}` is not an integer")),
        }
    }

    /// A `boolean` parameter.
    pub fn boolean(&self, name: &str) -> Result<bool, String> {
        match self.value(name)? {
            ParamValue::Boolean(v) => Ok(*v),
            _ => Err(format!("parameter `{name}` is not a boolean")),
        }
    }

    /// A `text` parameter.
    pub fn text(&self, name: &str) -> Result<&str, String> {
        match self.value(name)? {
            ParamValue::Text(v) => Ok(v),
            _ => Err(format!("parameter `{name}` is not a text")),
        }
    }
}

impl ParamSpec {
    /// A `float` parameter with its default.
    pub fn float(name: &str, default: f64, doc: &str) -> Self {
        Self::new(name, ParamKind::Float, ParamValue::Float(default), doc)
    }

    /// An `integer` parameter with its default.
    pub fn integer(name: &str, default: i64, doc: &str) -> Self {
        Self::new(name, ParamKind::Integer, ParamValue::Integer(default), doc)
    }

    /// A `boolean` parameter with its default.
    pub fn boolean(name: &str, default: bool, doc: &str) -> Self {
        Self::new(name, ParamKind::Boolean, ParamValue::Boolean(default), doc)
    }

    /// A `text` parameter with its default.
    pub fn text(name: &str, default: &str, doc: &str) -> Self {
        Self::new(name, ParamKind::Text, ParamValue::Text(default.to_owned()), doc)
    }

    fn new(name: &str, kind: ParamKind, default: ParamValue, doc: &str) -> Self {
        ParamSpec {
            name: name.to_owned(),
            kind,
            default,
            doc: doc.to_owned(),
        }
    }
}

impl Descriptor {
    /// Every parameter at its default, as the host passes them when nothing
    /// is configured: what a policy's own unit tests call it with.
    ///
    /// # Examples
    /// ```
    /// use escort_policy_sdk::{Descriptor, ParamSpec, ParamValue};
    /// let descriptor = Descriptor {
    ///     id: "speed".into(),
    ///     version: "0.1.0".into(),
    ///     summary: "Speed sanity.".into(),
    ///     params: vec![ParamSpec::float("excessive_kmh", 110.0, "Too fast, km/h.")],
    /// };
    /// assert_eq!(descriptor.default_params()[0].value, ParamValue::Float(110.0));
    /// ```
    pub fn default_params(&self) -> Vec<Param> {
        self.params
            .iter()
            .map(|spec| Param {
                name: spec.name.clone(),
                value: spec.default.clone(),
            })
            .collect()
    }
}

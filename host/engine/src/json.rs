//! Strict JSON: a document read into a `serde_json::Value`, refusing a key given twice in an object
//! at any depth ([`from_str`], [`JsonError`]).
//!
//! serde_json keeps the last of two equal keys without a word, so the fix line
//! `{"seal":"cable_cut","seal":"intact"}` read as intact and the transit was clear, and a transit's
//! `"zone":"red","zone":"green"` read green (issue 10 item 6). Another reader of the same bytes may
//! keep the first value, so a duplicate key is a way to show the engine one thing and a person
//! another; RFC 8259 leaves the outcome to the implementation. Every reader of untrusted JSON in the
//! host (NDJSON fix lines, `transit.json`) goes through [`from_str`], which refuses the document and
//! names the key and where it is.
//!
//! The check is a `Deserialize` visitor that builds the same `Value` serde_json would, so the rest of
//! the host keeps working on `Value`s. Nesting stays bounded by serde_json's own recursion limit (128
//! arrays or objects deep): the limit lives in the deserializer, and a visitor cannot lift it. The
//! path of a duplicate is put together only when there is one, on the way out of the recursion, so a
//! well-formed document costs no more than `serde_json::from_str` does.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::excerpt::Excerpt;

/// Why a text is not a strict JSON document.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JsonError {
    /// Not JSON at all, as serde_json words it (its messages quote nothing of the input).
    #[error("{0}")]
    Syntax(#[source] serde_json::Error),
    /// An object gives the same key twice.
    #[error("{}the key `{}` is given twice", at_path(.path), Excerpt::of(.key))]
    DuplicateKey {
        /// Where the object is, as the transit's messages name a field (`importer`, `stops[0]`);
        /// empty for the top-level object.
        path: String,
        /// The repeated key.
        key: String,
    },
}

/// `path` as a message leads with it (`` `importer`: ``), or nothing for the
/// top level: how the host names where a key is given twice.
pub(crate) fn at_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("`{path}`: ")
    }
}

/// Parses a whole JSON document, refusing duplicate keys.
pub(crate) fn from_str(text: &str) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Strict { duplicate: &duplicate }
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(found)) => Err(found.into_error()),
        (Err(err), None) => Err(JsonError::Syntax(err)),
    }
}

/// A duplicate key found deep inside, and the way back up to the top, innermost step first.
struct Duplicate {
    key: String,
    outward: Vec<Step>,
}

enum Step {
    Key(String),
    Index(usize),
}

impl Duplicate {
    fn into_error(self) -> JsonError {
        let mut path = String::new();
        for step in self.outward.iter().rev() {
            match step {
                Step::Key(key) if path.is_empty() => path.push_str(&Excerpt::of(key).to_string()),
                Step::Key(key) => path.push_str(&format!(".{}", Excerpt::of(key))),
                Step::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        JsonError::DuplicateKey { path, key: self.key }
    }
}

/// Reads one value; the shared slot receives the first duplicate key met.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a RefCell<Option<Duplicate>>,
}

impl Strict<'_> {
    /// Adds a step to the path of a duplicate found below it, if that is why reading failed.
    fn outward(self, step: impl FnOnce() -> Step) {
        if let Some(duplicate) = self.duplicate.borrow_mut().as_mut() {
            duplicate.outward.push(step());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // JSON cannot spell NaN or infinity; `Null` is what serde_json's own `Value` does with them.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(err) => {
                    self.outward(|| Step::Index(items.len()));
                    return Err(err);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(Duplicate {
                    key,
                    outward: Vec::new(),
                });
                // serde_json wraps this in its own error; `from_str` replaces it with the duplicate.
                return Err(de::Error::custom("duplicate key"));
            }
            match access.next_value_seed(self) {
                Ok(value) => {
                    map.insert(key, value);
                }
                Err(err) => {
                    self.outward(|| Step::Key(key));
                    return Err(err);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

/// Duplicates at every depth, their paths, and documents that must read as serde_json reads them.
#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(text: &str) -> String {
        match from_str(text) {
            Err(err @ JsonError::DuplicateKey { .. }) => err.to_string(),
            other => panic!("{text}: expected a duplicate key, got {other:?}"),
        }
    }

    /// Guards issue 10 item 6: serde_json kept the last `seal`, and a cut cable read as intact.
    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        assert_eq!(
            duplicate(r#"{"seal":"cable_cut","lat":1,"seal":"intact"}"#),
            "the key `seal` is given twice"
        );
        assert_eq!(
            duplicate(r#"{"importer": {"zone": "red", "zone": "green"}}"#),
            "`importer`: the key `zone` is given twice"
        );
        assert_eq!(
            duplicate(r#"{"stops": [{"id": "A"}, {"id": "B", "lat": 1, "lat": 2}]}"#),
            "`stops[1]`: the key `lat` is given twice"
        );
        assert_eq!(
            duplicate(r#"{"route": {"geometry": {"coordinates": [[1, 2], {"x": [{"a": 1, "a": 1}]}]}}}"#),
            "`route.geometry.coordinates[1].x[0]`: the key `a` is given twice"
        );
        assert_eq!(duplicate(r#"[{}, {"": 1, "": 2}]"#), "`[1]`: the key `` is given twice");
    }

    /// Guards issue 10 item 11: the key and the path are quoted back, so both are bounded.
    #[test]
    fn a_long_duplicate_key_is_quoted_short() {
        let key = "k".repeat(100_000);
        let text = format!(r#"{{"{key}": {{"{key}": 1, "{key}": 2}}}}"#);
        let message = duplicate(&text);
        assert!(message.len() < 300, "{} bytes", message.len());
        assert!(message.ends_with("…` is given twice"), "{message}");
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 3.5, 1e400, "x\u00e9", true, null, {}], "b": {"c": 18446744073709551615}}"#;
        // 1e400 is out of range for both, as an error.
        assert!(matches!(from_str(text), Err(JsonError::Syntax(_))));
        assert!(serde_json::from_str::<Value>(text).is_err());
        let text = r#" {"a": [1, -2, 3.5, "x\u00e9", true, null, {}], "b": {"c": 18446744073709551615}} "#;
        let expected: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(from_str(text).expect("strict JSON"), expected);
        for text in ["[]", "\"text\"", "0", "null"] {
            assert_eq!(
                from_str(text).expect(text),
                serde_json::from_str::<Value>(text).expect(text)
            );
        }
    }

    #[test]
    fn syntax_errors_are_serde_jsons() {
        for text in ["", "{\"a\": ", "{} {}", "{\"a\" 1}", "[1,]"] {
            let err = from_str(text).expect_err(text);
            let theirs = serde_json::from_str::<Value>(text).expect_err(text);
            assert_eq!(err.to_string(), theirs.to_string(), "{text}");
        }
    }

    /// serde_json's recursion limit still bounds the depth, so a hostile document cannot overflow the
    /// stack through this visitor.
    #[test]
    fn depth_stays_bounded() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = from_str(&deep).expect_err("too deep");
        assert!(err.to_string().starts_with("recursion limit exceeded"), "{err}");
        let fine = format!("{}{}", "[".repeat(120), "]".repeat(120));
        assert!(from_str(&fine).is_ok());
    }
}

//! A deployment's parameters: the `policies.toml` of a policy folder, which
//! sets each policy's parameter values and limits.
//!
//! Parameters decide findings as much as code does, so a service that
//! loads only signed bundles (`trusted_keys`) loads only signed parameters
//! too: `policies.toml.sig` beside the file, written by `escort policy sign
//! --key KEY.key policies.toml`, in the format of a bundle's `policy.sig`
//! (over the one file). And a change of parameters is a version of each
//! policy it changes, with its own effective time: the file's top-level
//! `effective_from` (RFC 3339, as in a bundle's manifest; default: the
//! moment the service reads it). Commands without a timeline (`escort
//! check`, `escort test`) take the values and leave the time aside.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use serde::Deserialize;

use crate::file::{self, MAX_SETTINGS_BYTES};
use crate::{BundleError, Trust, read_signature, write_signature};
use escort_engine::{PolicyConfig, content_hash};

/// The parameters' file in a policy folder.
pub const PARAMS_FILE: &str = "policies.toml";

/// Its signature, beside it.
pub const PARAMS_SIGNATURE: &str = "policies.toml.sig";

/// A `policies.toml`, read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Params {
    /// When the values it changes come into force; `None` for the moment a
    /// service reads them.
    #[serde(default, with = "crate::moment")]
    pub effective_from: Option<DateTime<Utc>>,
    /// Each policy's configuration, by policy id.
    #[serde(flatten)]
    pub policies: BTreeMap<String, PolicyConfig>,
}

/// Why a `policies.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// It, or its signature, could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// It is not well formed.
    #[error("{}: {reason}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line and column.
        reason: String,
    },
    /// The host loads only signed parameters, and these are not signed.
    #[error(
        "{}: the parameters are not signed, and this host loads only parameters signed by a trusted key (sign \
         them with `escort policy sign --key KEY.key policies.toml`, which writes {PARAMS_SIGNATURE})",
        path.display()
    )]
    Unsigned {
        /// The file.
        path: PathBuf,
    },
    /// They are signed by a key the host does not trust.
    #[error("{}: the parameters are signed by key {key}, which this host does not trust", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The signer's public key, hex.
        key: String,
    },
    /// The signature does not hold: a corrupt signature, or the file
    /// changed after it was signed.
    #[error("{}: {reason}", path.display())]
    BadSignature {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Params {
    /// Reads the `policies.toml` at `path`, if there is one (`Ok(None)`
    /// otherwise), checking its signature as `trust` asks; errors name it
    /// `shown`.
    ///
    /// # Errors
    /// When it cannot be read or parsed, and when `trust` asks for a
    /// signature that is missing, untrusted or does not hold. A signature
    /// that is there is checked even when `trust` asks for none.
    pub fn read(path: &Path, shown: &Path, trust: &Trust) -> Result<Option<Params>, ParamsError> {
        if path.symlink_metadata().is_err() {
            return Ok(None);
        }
        read_signed(path, shown, trust).map(|(params, _signer)| Some(params))
    }
}

/// Checks the signature of the `policies.toml` at `path` as `trust` asks,
/// and that it reads; returns who signed it (their public key, hex), if
/// anyone did. Errors name it `shown`.
///
/// # Errors
/// As [`Params::read`], and when there is no file at `path`.
pub fn verify_file(path: &Path, shown: &Path, trust: &Trust) -> Result<Option<String>, ParamsError> {
    read_signed(path, shown, trust).map(|(_params, signer)| signer)
}

/// The `policies.toml` at `path`, read once, with who signed it: its
/// signature checked as `trust` asks, then its text parsed.
fn read_signed(path: &Path, shown: &Path, trust: &Trust) -> Result<(Params, Option<String>), ParamsError> {
    let text = file::read_text(path, MAX_SETTINGS_BYTES).map_err(|source| ParamsError::Io {
        path: shown.to_owned(),
        source,
    })?;
    let signer = verify(path, shown, text.as_bytes(), trust)?;
    let params = file::parse_toml(&text).map_err(|reason| ParamsError::Syntax {
        path: shown.to_owned(),
        reason,
    })?;
    Ok((params, signer))
}

/// Signs the `policies.toml` at `path` with `key`, writing
/// `policies.toml.sig` beside it; returns the signature's path.
///
/// # Errors
/// When the file cannot be read or the signature written.
pub fn sign(path: &Path, key: &SigningKey) -> Result<PathBuf, BundleError> {
    let bytes = file::read(path, MAX_SETTINGS_BYTES).map_err(|source| BundleError::Io {
        path: path.to_owned(),
        source,
    })?;
    let signature = path.with_file_name(PARAMS_SIGNATURE);
    write_signature(&signature, key, vec![listed(&bytes)])?;
    Ok(signature)
}

/// The signed listing of a `policies.toml` holding `bytes`.
fn listed(bytes: &[u8]) -> String {
    format!("{}  {PARAMS_FILE}", content_hash(bytes))
}

/// Checks the signature of the `policies.toml` at `path` (holding
/// `bytes`), when there is one or `trust` asks for one.
fn verify(path: &Path, shown: &Path, bytes: &[u8], trust: &Trust) -> Result<Option<String>, ParamsError> {
    let signature = path.with_file_name(PARAMS_SIGNATURE);
    if signature.symlink_metadata().is_err() {
        return if trust.requires_signature() {
            Err(ParamsError::Unsigned { path: shown.to_owned() })
        } else {
            Ok(None)
        };
    }
    let file = read_signature(&signature, shown.with_file_name(PARAMS_SIGNATURE), "", trust).map_err(|e| match e {
        BundleError::Io { path, source } => ParamsError::Io { path, source },
        BundleError::UnknownKey { key, .. } => ParamsError::UnknownKey {
            path: shown.to_owned(),
            key,
        },
        other => ParamsError::BadSignature {
            path: shown.to_owned(),
            reason: other.to_string(),
        },
    })?;
    if file.files != [listed(bytes)] {
        return Err(ParamsError::BadSignature {
            path: shown.to_owned(),
            reason: "it changed after it was signed".to_owned(),
        });
    }
    Ok(Some(file.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn trusting(key: &SigningKey) -> Trust {
        Trust::keys([hex::encode(key.verifying_key().as_bytes()).as_str()]).expect("a key")
    }

    #[test]
    fn signed_parameters_read_with_their_time_and_a_change_after_signing_is_named() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join(PARAMS_FILE);
        let shown = Path::new("live policies.toml");
        std::fs::write(
            &path,
            "effective_from = 2027-01-01T00:00:00+05:00\n[speed.params]\nexcessive_kmh = 150.0\n",
        )
        .expect("written");
        let refused = Params::read(&path, shown, &trusting(&key())).expect_err("unsigned");
        assert!(matches!(refused, ParamsError::Unsigned { .. }), "{refused}");
        sign(&path, &key()).expect("signed");
        let params = Params::read(&path, shown, &trusting(&key()))
            .expect("read")
            .expect("there");
        assert_eq!(
            params
                .effective_from
                .map(|at| escort_engine::format_time(&at))
                .as_deref(),
            Some("2026-12-31T19:00:00Z")
        );
        assert!(params.policies["speed"].params.contains_key("excessive_kmh"));

        assert_eq!(
            verify_file(&path, shown, &trusting(&key())).expect("verified"),
            Some(hex::encode(key().verifying_key().as_bytes()))
        );
        let other = SigningKey::from_bytes(&[8; 32]);
        let refused = Params::read(&path, shown, &trusting(&other)).expect_err("untrusted");
        assert!(matches!(refused, ParamsError::UnknownKey { .. }), "{refused}");

        std::fs::write(&path, "[speed.params]\nexcessive_kmh = 250.0\n").expect("changed");
        let refused = Params::read(&path, shown, &Trust::default()).expect_err("changed after signing");
        assert_eq!(
            refused.to_string(),
            "live policies.toml: it changed after it was signed"
        );
    }

    #[test]
    fn a_time_that_is_none_and_an_unknown_field_are_named() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join(PARAMS_FILE);
        std::fs::write(&path, "effective_from = \"soon\"\n").expect("written");
        let refused = Params::read(&path, Path::new("policies.toml"), &Trust::default()).expect_err("not a time");
        assert!(refused.to_string().contains("`soon` is not a date-time"), "{refused}");
        std::fs::write(&path, "[speed]\nfeul = 1\n").expect("written");
        let refused = Params::read(&path, Path::new("policies.toml"), &Trust::default()).expect_err("a typo");
        assert!(refused.to_string().contains("feul"), "{refused}");
    }
}

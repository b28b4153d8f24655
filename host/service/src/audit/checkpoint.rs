//! Signed checkpoints of the audit chain: how many records it held and the
//! hash of the last, at some moment, signed with Ed25519.
//!
//! The chain has no secret in it, so whoever can write the database can cut
//! records off its end, or rewrite it from some record on with new hashes,
//! and the chain alone still verifies. A checkpoint kept somewhere else,
//! signed with a key the database never sees, is what such a chain no
//! longer matches: verification ([`crate::verification::verify_database`])
//! checks that record N still has the hash the checkpoint recorded. The key
//! files are those of `escort policy keygen` (`bundle::keygen`).

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{AuditError, VerifiedChain};
use escort_engine::format_time;

/// The head of the chain at a moment, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// How many records the chain held.
    records: u64,
    /// The hash of the last of them.
    head: String,
    /// When the checkpoint was taken (RFC 3339).
    at: String,
    /// The signer's Ed25519 public key, hex.
    key: String,
    /// The signature over [`Checkpoint::signed_text`], hex.
    signature: String,
}

/// Why a checkpoint file cannot be used at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text is not a checkpoint.
    #[error("not a checkpoint as `escort audit checkpoint` prints it: {0}")]
    Unreadable(String),
    /// A public key given to check it by is not one.
    #[error("the trusted key {0}")]
    TrustedKey(String),
}

impl Checkpoint {
    /// Signs the head of a verified chain as of `at`.
    pub fn sign(chain: &VerifiedChain, at: DateTime<Utc>, key: &SigningKey) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            records: chain.records,
            head: chain.head.clone(),
            at: format_time(&at),
            key: hex::encode(key.verifying_key().as_bytes()),
            signature: String::new(),
        };
        checkpoint.signature = hex::encode(key.sign(checkpoint.signed_text().as_bytes()).to_bytes());
        checkpoint
    }

    /// Reads a checkpoint as [`Checkpoint::to_json`] wrote it. The signature
    /// is checked by [`crate::verification::verify_database`].
    pub fn from_json(text: &str) -> Result<Checkpoint, CheckpointError> {
        let checkpoint: Checkpoint =
            serde_json::from_str(text).map_err(|e| CheckpointError::Unreadable(e.to_string()))?;
        DateTime::parse_from_rfc3339(&checkpoint.at)
            .map_err(|e| CheckpointError::Unreadable(format!("`at` is not an RFC 3339 time: {e}")))?;
        Ok(checkpoint)
    }

    /// The checkpoint as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a checkpoint always serializes")
    }

    /// How many records the chain held.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The hash of the last of them.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// When it was taken (RFC 3339).
    pub fn at(&self) -> &str {
        &self.at
    }

    /// The signer's public key, hex.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What the signature covers: every field but the signer, in a fixed
    /// text form that no JSON formatting changes.
    fn signed_text(&self) -> String {
        format!(
            "escort audit checkpoint\nrecords {}\nhead {}\nat {}\n",
            self.records, self.head, self.at
        )
    }

    fn refused(&self, reason: String) -> AuditError {
        AuditError::Checkpoint {
            at: self.at.clone(),
            reason,
        }
    }

    /// Checks the signature, and that the signer is `trusted` when given.
    /// Without a trusted key, anyone with a key pair can make a checkpoint
    /// that passes: the check then shows only that the file is whole.
    pub(crate) fn check_signature(&self, trusted: Option<&VerifyingKey>) -> Result<(), AuditError> {
        let key = escort_bundle::verifying_key(&self.key)
            .map_err(|reason| self.refused(format!("its signer's key {reason}")))?;
        if let Some(trusted) = trusted.filter(|trusted| **trusted != key) {
            return Err(self.refused(format!(
                "it is signed by {}, not by the trusted key {}",
                self.key,
                hex::encode(trusted.as_bytes())
            )));
        }
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or_else(|| self.refused("its signature is not 128 hex digits".to_owned()))?;
        key.verify(self.signed_text().as_bytes(), &signature)
            .map_err(|_| self.refused("its signature does not match its content (it was forged or changed)".to_owned()))
    }

    /// Checks record `seq`, the checkpoint's last, against it.
    pub(crate) fn check_record(&self, seq: i64, hash: &str) -> Result<(), AuditError> {
        if hash == self.head {
            return Ok(());
        }
        Err(self.refused(format!(
            "audit record {seq} has hash {hash}, not the {} the checkpoint recorded: the chain was rewritten \
             at or before that record",
            self.head
        )))
    }

    /// Checks that a chain of `records` records is not shorter than the
    /// checkpoint's.
    pub(crate) fn check_length(&self, records: u64) -> Result<(), AuditError> {
        if records >= self.records {
            return Ok(());
        }
        Err(self.refused(format!(
            "the audit log holds {records} records, but held {} then: records {} to {} were cut off its end",
            self.records,
            records + 1,
            self.records
        )))
    }
}

/// A public key given as 64 hex digits, as `escort policy keygen` writes
/// it to `NAME.pub`.
pub fn public_key(hex: &str) -> Result<VerifyingKey, CheckpointError> {
    escort_bundle::verifying_key(hex).map_err(CheckpointError::TrustedKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> VerifiedChain {
        VerifiedChain {
            records: 40,
            head: "ab".repeat(32),
        }
    }

    #[test]
    fn a_checkpoint_verifies_by_its_signer_and_nothing_in_it_can_change() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let at = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let checkpoint = Checkpoint::from_json(&Checkpoint::sign(&chain(), at, &key).to_json()).expect("readable");
        checkpoint.check_signature(None).expect("signed");
        checkpoint
            .check_signature(Some(&key.verifying_key()))
            .expect("by the trusted key");
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        let refused = checkpoint.check_signature(Some(&other)).unwrap_err().to_string();
        assert!(refused.contains("not by the trusted key"), "{refused}");

        let mut changed = checkpoint.clone();
        changed.records = 41;
        let refused = changed.check_signature(None).unwrap_err().to_string();
        assert!(refused.contains("does not match its content"), "{refused}");
        let mut changed = checkpoint;
        changed.at = "2027-01-16T08:00:00Z".to_owned();
        assert!(changed.check_signature(None).is_err());
    }
}

//! `escort audit verify`: the audit log of a service database checked as it
//! is on disk, by a connection that only reads.
//!
//! Verification writes nothing, not even a migration: a database an older
//! build wrote is reported as such, and `escort serve` brings it up to date
//! (adopting its rows into the chain). A verifier that migrated would change
//! the evidence it was asked to check.

use std::path::Path;

use ed25519_dalek::VerifyingKey;

use crate::audit::{AuditError, Checkpoint, Verified};
use crate::store::Store;

/// Verifies the service database at `path` (`DATA/escort.db`): walks the
/// whole chain, naming the first record that does not follow from the ones
/// before it; given a checkpoint, checks that its signature holds (by
/// `trusted_key` when given) and that the chain still holds what it
/// recorded; then checks every table against the step records. All of it
/// reads one snapshot, so a service writing meanwhile does not make it
/// differ.
///
/// # Errors
/// [`AuditError::Store`] when the database is missing, cannot be read, or
/// is of a schema version this build does not read without migrating it;
/// every other kind is a finding about the database.
pub fn verify_database(
    path: &Path,
    checkpoint: Option<&Checkpoint>,
    trusted_key: Option<&VerifyingKey>,
) -> Result<Verified, AuditError> {
    Store::open_verified_reader(path)?.verify_audit(checkpoint, trusted_key)
}

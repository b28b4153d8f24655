//! The SQL of the policy timeline: every version published
//! (`policy_versions`, append-only like the audit log) and the components
//! they judge with (`components`, by content hash), each publication an
//! audit record in the same transaction.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, time};
use crate::audit;
use crate::timeline::{Change, Judge, PolicyVersion};
use escort_bundle::{AppliesTo, Mode};

impl Store {
    /// Every version of every policy, in the order they were published.
    pub(crate) fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT seq, policy, version, content_hash, fingerprint, origin, config, effective_from_ms,
                    effective_until_ms, applies_to, published_at_ms, published_by, mode, change
             FROM policy_versions ORDER BY seq",
        )?;
        let mut rows = statement.query([])?;
        let mut versions = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let corrupt = |what: String| StoreError::Corrupt(format!("policy version {seq}: {what}"));
            let fingerprint: Option<String> = row.get(4)?;
            let judged_by = match fingerprint {
                Some(fingerprint) => {
                    let config: String = row.get(6)?;
                    Some(Judge {
                        version: row.get(2)?,
                        content_hash: row.get(3)?,
                        fingerprint,
                        origin: row.get(5)?,
                        config: serde_json::from_str(&config).map_err(|e| corrupt(format!("its config: {e}")))?,
                    })
                }
                None => None,
            };
            let applies_to: String = row.get(9)?;
            let mode: String = row.get(12)?;
            let change: String = row.get(13)?;
            versions.push(PolicyVersion {
                seq,
                policy: row.get(1)?,
                judged_by,
                effective_from: row.get::<_, Option<i64>>(7)?.map(time),
                effective_until: row.get::<_, Option<i64>>(8)?.map(time),
                applies_to: AppliesTo::named(&applies_to)
                    .ok_or_else(|| corrupt(format!("applies to {applies_to:?}")))?,
                published_at: time(row.get(10)?),
                published_by: row.get(11)?,
                mode: Mode::named(&mode).ok_or_else(|| corrupt(format!("mode {mode:?}")))?,
                change: Change::named(&change).ok_or_else(|| corrupt(format!("change {change:?}")))?,
            });
        }
        Ok(versions)
    }

    /// Whether the component with this SHA-256 is kept.
    pub(crate) fn has_component(&self, content_hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM components WHERE content_hash = ?1")?
            .exists([content_hash])?)
    }

    /// The component with this SHA-256, if it is kept.
    pub(crate) fn component(&self, content_hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT bytes FROM components WHERE content_hash = ?1",
                [content_hash],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Adds `versions` to the timeline and `components` (SHA-256, bytes) to
    /// those kept, with an audit record per version, in one transaction.
    pub(crate) fn add_policy_versions(
        &mut self,
        versions: &[PolicyVersion],
        components: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for (content_hash, bytes) in components {
            tx.execute(
                "INSERT OR IGNORE INTO components (content_hash, bytes) VALUES (?1, ?2)",
                params![content_hash, bytes],
            )?;
        }
        for version in versions {
            let judge = version.judged_by.as_ref();
            let config =
                judge.map(|judge| serde_json::to_string(&judge.config).expect("a configuration always serializes"));
            tx.execute(
                "INSERT INTO policy_versions (seq, policy, version, content_hash, fingerprint, origin, config,
                     effective_from_ms, effective_until_ms, applies_to, published_at_ms, published_by, mode, change)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    version.seq,
                    version.policy,
                    judge.map(|judge| &judge.version),
                    judge.map(|judge| &judge.content_hash),
                    judge.map(|judge| &judge.fingerprint),
                    judge.map(|judge| &judge.origin),
                    config,
                    version.effective_from.map(|at| at.timestamp_millis()),
                    version.effective_until.map(|at| at.timestamp_millis()),
                    version.applies_to.as_str(),
                    version.published_at.timestamp_millis(),
                    version.published_by,
                    version.mode.as_str(),
                    version.change.as_str(),
                ],
            )?;
        }
        super::audit::push(&tx, versions.iter().map(audit::publication))?;
        tx.commit()?;
        Ok(())
    }
}

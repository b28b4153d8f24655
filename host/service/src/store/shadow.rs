//! The SQL of shadow runs: each shadow version's state and findings for
//! each transit it ran on (`shadow_runs`), apart from everything that
//! decides the transit.

use rusqlite::{Transaction, params};

use super::{Store, StoreError};
use escort_engine::{Finding, PolicyState};

impl Store {
    /// The shadow runs of the transit `id`, by shadow version.
    pub(crate) fn shadow_runs(&self, id: &str) -> Result<Vec<ShadowRun>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT r.shadow, v.policy, r.fingerprint, r.state, r.open, r.finals
             FROM shadow_runs r JOIN policy_versions v ON v.seq = r.shadow
             WHERE r.transit = (SELECT key FROM transits WHERE id = ?1) ORDER BY r.shadow",
        )?;
        let rows = statement.query_map([id], run_of)?;
        rows.map(|run| run?).collect()
    }

    /// Every transit the shadow version `shadow` ran on, by id, with its
    /// run.
    pub(crate) fn runs_of_shadow(&self, shadow: i64) -> Result<Vec<(String, ShadowRun)>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT r.shadow, v.policy, r.fingerprint, r.state, r.open, r.finals, t.id
             FROM shadow_runs r JOIN policy_versions v ON v.seq = r.shadow JOIN transits t ON t.key = r.transit
             WHERE r.shadow = ?1 ORDER BY t.id",
        )?;
        let rows = statement.query_map([shadow], |row| Ok((row.get::<_, String>(6)?, run_of(row)?)))?;
        rows.map(|row| {
            let (id, run) = row?;
            Ok((id, run?))
        })
        .collect()
    }
}

/// One shadow version's run on one transit, as the last step that ran it
/// left it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowRun {
    /// The shadow version's place in the timeline.
    pub shadow: i64,
    /// Its state and open findings, as [`escort_engine::PolicySet::resume`] takes them.
    pub state: PolicyState,
    /// The final findings it raised since the transit's first fix.
    pub finals: Vec<Finding>,
}

impl ShadowRun {
    /// Every finding of the run, final and open, in report order.
    pub(crate) fn findings(&self) -> Vec<Finding> {
        let mut findings: Vec<Finding> = self.finals.iter().chain(&self.state.open).cloned().collect();
        findings.sort_by(Finding::report_order);
        findings
    }
}

/// Writes a step's shadow runs for the transit with this key, each
/// replacing the one its shadow version left before.
pub(super) fn write_runs(tx: &Transaction<'_>, key: i64, runs: &[ShadowRun]) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO shadow_runs (transit, shadow, fingerprint, state, open, finals)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for run in runs {
        insert.execute(params![
            key,
            run.shadow,
            run.state.fingerprint,
            run.state.state,
            json(&run.state.open),
            json(&run.finals),
        ])?;
    }
    Ok(())
}

fn json(findings: &[Finding]) -> String {
    serde_json::to_string(findings).expect("findings always serialize")
}

/// A run from a row of `shadow, policy, fingerprint, state, open, finals`.
fn run_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<ShadowRun, StoreError>> {
    let shadow: i64 = row.get(0)?;
    let findings = |column: usize| -> rusqlite::Result<Result<Vec<Finding>, StoreError>> {
        let text: String = row.get(column)?;
        Ok(serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("the run of shadow version {shadow}: {e}"))))
    };
    let (open, finals) = (findings(4)?, findings(5)?);
    Ok(open.and_then(|open| {
        Ok(ShadowRun {
            shadow,
            state: PolicyState {
                policy: row.get(1)?,
                fingerprint: row.get(2)?,
                state: row.get(3)?,
                open,
            },
            finals: finals?,
        })
    }))
}

//! The report (`docs/reference.md` § The report): what `escort check` prints as JSON for
//! machines. The text a person reads is the case file (`escort-casefile`), which needs the
//! declaration and a time zone as well.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::finding::{Finding, Verdict};
use crate::telemetry::Rejection;

/// How many fixes were taken, refused and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FixCounts {
    /// Fixes evaluated.
    pub accepted: usize,
    /// Lines refused as malformed or impossible.
    pub rejected: usize,
    /// Fixes dropped as repeats of an earlier one.
    pub duplicates: usize,
}

/// The outcome of evaluating one transit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The transit's id.
    pub transit: String,
    /// What the findings add up to.
    pub verdict: Verdict,
    /// The evaluation clock.
    #[serde(with = "crate::finding::wire_time")]
    pub evaluated_at: DateTime<Utc>,
    /// Fix counts.
    pub fixes: FixCounts,
    /// Findings by `from`, then policy, then code.
    pub findings: Vec<Finding>,
    /// Refused lines, in line order.
    pub rejected: Vec<Rejection>,
}

impl Report {
    /// The report as pretty-printed JSON with a final newline. The same report
    /// always gives the same bytes: fields in a fixed order, evidence sorted by
    /// name, numbers printed by one algorithm.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a report always serializes");
        json.push('\n');
        json
    }
}

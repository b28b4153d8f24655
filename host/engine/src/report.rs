//! The report (`docs/reference.md` § The report): what `escort check` prints, as JSON
//! for machines and as text for a person.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::finding::{EvidenceValue, Finding, FindingStatus, Verdict, format_time};
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

    /// The report for a person: a verdict line, then one line per finding and
    /// per refused line.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "{}: {} at {} ({} fixes accepted, {} rejected, {} duplicates)",
            self.transit,
            self.verdict.as_str().to_uppercase(),
            format_time(&self.evaluated_at),
            self.fixes.accepted,
            self.fixes.rejected,
            self.fixes.duplicates,
        );
        for finding in &self.findings {
            let place = match (finding.lat, finding.lon) {
                (Some(lat), Some(lon)) => format!(" at {lat:.5},{lon:.5}"),
                _ => String::new(),
            };
            // An officer acts differently on an episode still under way.
            let open = if finding.status == FindingStatus::Open {
                " (still going on)"
            } else {
                ""
            };
            let _ = writeln!(
                text,
                "  {}  {:<9}  {:<26} {}{}{}",
                format_time(&finding.from),
                finding.severity.as_str(),
                finding.code,
                finding.message,
                place,
                open,
            );
            for (name, value) in &finding.evidence {
                if let EvidenceValue::Texts(values) = value {
                    for value in values {
                        let _ = writeln!(text, "      {name}: {value}");
                    }
                }
            }
        }
        for rejection in &self.rejected {
            let _ = writeln!(text, "  line {}: rejected: {}", rejection.line, rejection.reason);
        }
        text
    }
}

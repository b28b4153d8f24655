//! Findings, their severities and the verdict they add up to (`docs/reference.md` § The
//! report, § Finding codes).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

/// How serious a finding is, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; needs no action.
    Info,
    /// An officer should look.
    Warning,
    /// A breach of the escort's conditions.
    Violation,
    /// A breach that needs action now (the seal was broken or opened).
    Critical,
}

impl Severity {
    /// Every severity, from least to most serious.
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Violation,
        Severity::Critical,
    ];

    /// The name used in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Violation => "violation",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a transit's findings add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing at warning or above, and every policy ran.
    Clear,
    /// A warning, or a policy failed: a person must look.
    Review,
    /// A violation or a critical finding.
    Violation,
}

impl Verdict {
    /// The verdict of a set of findings (`docs/reference.md` § The report). A failed
    /// policy raises a `policy.error` warning, so a failure can never leave a
    /// transit clear.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Verdict {
        findings
            .into_iter()
            .map(|f| match f.severity {
                Severity::Info => Verdict::Clear,
                Severity::Warning => Verdict::Review,
                Severity::Violation | Severity::Critical => Verdict::Violation,
            })
            .max()
            .unwrap_or(Verdict::Clear)
    }

    /// Every verdict, from least to most serious.
    pub const ALL: [Verdict; 3] = [Verdict::Clear, Verdict::Review, Verdict::Violation];

    /// The verdict with this name, or `None` for anything else.
    ///
    /// # Examples
    /// ```
    /// use escort_engine::Verdict;
    /// assert_eq!(Verdict::from_name("review"), Some(Verdict::Review));
    /// assert_eq!(Verdict::from_name("Review"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|verdict| verdict.as_str() == name)
    }

    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clear => "clear",
            Verdict::Review => "review",
            Verdict::Violation => "violation",
        }
    }
}

/// A value in a finding's evidence: one text, or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EvidenceValue {
    /// A single value, such as `"61230"`.
    Text(String),
    /// Several values, such as every reason a transit is ineligible.
    Texts(Vec<String>),
}

/// Something a policy (or the host's own telemetry checks) concluded.
///
/// It reads back from its own JSON, which is how the service stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Id of the policy that raised it.
    pub policy: String,
    /// Version of that policy, from its `describe()`.
    pub policy_version: String,
    /// Stable code, such as `corridor.deviation`.
    pub code: String,
    /// How serious it is.
    pub severity: Severity,
    /// One sentence for a customs officer.
    pub message: String,
    /// When it began.
    #[serde(serialize_with = "rfc3339")]
    pub from: DateTime<Utc>,
    /// When it ended, or the latest time it was seen.
    #[serde(serialize_with = "rfc3339")]
    pub to: DateTime<Utc>,
    /// Latitude where it happened, WGS 84 degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude where it happened, WGS 84 degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Named values that support it, in name order.
    pub evidence: BTreeMap<String, EvidenceValue>,
}

impl Finding {
    /// The order of the report: by `from`, then policy, then code (`docs/reference.md`
    /// § The report);
    /// then by `to` and message, so that the order is total and the bytes of
    /// a report never depend on the order policies ran in.
    pub fn report_order(&self, other: &Finding) -> std::cmp::Ordering {
        (self.from, &self.policy, &self.code, self.to, &self.message).cmp(&(
            other.from,
            &other.policy,
            &other.code,
            other.to,
            &other.message,
        ))
    }
}

/// Times on the wire: RFC 3339 in UTC with a `Z`, with fractions of a second
/// only when there are some.
pub fn format_time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_time(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            policy: "seal".into(),
            policy_version: "0.1.0".into(),
            code: "seal.breach".into(),
            severity,
            message: "cable cut".into(),
            from: DateTime::UNIX_EPOCH,
            to: DateTime::UNIX_EPOCH,
            lat: None,
            lon: None,
            evidence: BTreeMap::new(),
        }
    }

    #[test]
    fn verdict_follows_the_most_serious_finding() {
        assert_eq!(Verdict::of([]), Verdict::Clear);
        assert_eq!(Verdict::of(&[finding(Severity::Info)]), Verdict::Clear);
        assert_eq!(
            Verdict::of(&[finding(Severity::Info), finding(Severity::Warning)]),
            Verdict::Review
        );
        assert_eq!(
            Verdict::of(&[finding(Severity::Critical), finding(Severity::Warning)]),
            Verdict::Violation
        );
    }

    #[test]
    fn times_have_fractions_only_when_needed() {
        let whole = DateTime::parse_from_rfc3339("2021-05-16T06:00:00Z").unwrap().to_utc();
        let fraction = DateTime::parse_from_rfc3339("2021-05-16T06:00:00.250Z")
            .unwrap()
            .to_utc();
        assert_eq!(format_time(&whole), "2021-05-16T06:00:00Z");
        assert_eq!(format_time(&fraction), "2021-05-16T06:00:00.250Z");
    }
}

//! Findings, their severities and the verdict they add up to (`docs/reference.md` § The
//! report, § Finding codes), and the one format of times on the wire ([`format_time`],
//! [`wire_time`]).
//!
//! A finding's [`key`](Finding::key) names its episode: a SHA-256 over what does not change
//! while the episode grows (the transit, the policy, the code and `from`), so a stop that lasts
//! over many batches, and then ends, keeps one key and a consumer de-duplicates its alerts by
//! it. The transit is part of the key so that a key is unique across transits, not only within
//! one report; the policy's version is not, so that a version that judges an open transit again
//! (`applies_to = "open-transits"`) keeps the keys of the episodes it finds again.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// Whether a finding's episode is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// The episode is over: the finding no longer changes. The default, because a
    /// finding stored by a build older than the status was a final one unless it was
    /// stored among a policy's open findings (where the store says `Open`).
    #[default]
    Final,
    /// The episode was still going on at the evaluation's clock: a later batch may
    /// extend it (same key) or show it never was.
    Open,
}

impl FindingStatus {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Final => "final",
            FindingStatus::Open => "open",
        }
    }
}

impl fmt::Display for FindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a policy (or the host's own telemetry checks) concluded.
///
/// It reads back from its own JSON, which is how the service stores it. A
/// finding stored by an older build has no `key` or `status`: it reads with
/// an empty key and [`FindingStatus::Final`], and the reader fills them in
/// ([`Finding::with_episode_key`]).
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
    /// Whether its episode is over or still going on.
    #[serde(default)]
    pub status: FindingStatus,
    /// Its episode's key ([`Finding::episode_key`]): the same while the episode
    /// grows and when it becomes final.
    #[serde(default)]
    pub key: String,
    /// One sentence for a customs officer.
    pub message: String,
    /// When it began.
    #[serde(with = "wire_time")]
    pub from: DateTime<Utc>,
    /// When it ended, or the latest time it was seen.
    #[serde(with = "wire_time")]
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
    /// The key of an episode: the first 16 hex digits of a SHA-256 over the
    /// transit's id, the policy's id, the code and `from` (as [`format_time`]
    /// writes it), each preceded by its length in bytes so that no two lists
    /// of fields encode alike.
    ///
    /// Two findings of one transit with the same policy, code and `from` share
    /// a key: by this definition they are one episode (a policy that reports
    /// one moment twice, under one code, raises one alert). The report still
    /// lists both.
    ///
    /// # Examples
    /// ```
    /// use escort_engine::Finding;
    /// let from = "2021-05-16T09:12:00Z".parse().unwrap();
    /// let key = Finding::episode_key("KZ-2021-000123", "corridor", "corridor.deviation", &from);
    /// assert_eq!(key.len(), 16);
    /// assert_ne!(key, Finding::episode_key("KZ-2021-000124", "corridor", "corridor.deviation", &from));
    /// ```
    pub fn episode_key(transit: &str, policy: &str, code: &str, from: &DateTime<Utc>) -> String {
        let mut hasher = Sha256::new();
        for field in [transit, policy, code, &format_time(from)] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The finding with its key filled in for `transit` when it has none (one
    /// stored by a build older than the key).
    pub fn with_episode_key(mut self, transit: &str) -> Finding {
        if self.key.is_empty() {
            self.key = Finding::episode_key(transit, &self.policy, &self.code, &self.from);
        }
        self
    }

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

/// Serde for a time on the wire, the one format of every JSON answer:
/// `#[serde(with = "escort_engine::wire_time")]` writes [`format_time`] and reads
/// RFC 3339.
pub mod wire_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `at` as [`format_time`](super::format_time) does.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_time(at))
    }

    /// Reads an RFC 3339 time, in any offset, as UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(deserializer)
    }

    /// The same for an optional time: `None` is `null`.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes `at` as [`format_time`](crate::format_time) does, or `null`.
        pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads an optional RFC 3339 time as UTC.
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(deserializer)
        }
    }
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
            status: FindingStatus::Final,
            key: String::new(),
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
    fn an_older_build_s_finding_reads_and_gets_its_key() {
        let old = r#"{"policy":"seal","policy_version":"0.1.0","code":"seal.breach","severity":"critical",
            "message":"cable cut","from":"2021-05-16T06:00:00Z","to":"2021-05-16T06:00:00Z","evidence":{}}"#;
        let finding: Finding = serde_json::from_str(old).unwrap();
        assert_eq!(finding.status, FindingStatus::Final);
        let finding = finding.with_episode_key("KZ-1");
        let from = "2021-05-16T06:00:00Z".parse().unwrap();
        assert_eq!(finding.key, Finding::episode_key("KZ-1", "seal", "seal.breach", &from));
        let again: Finding = serde_json::from_str(&serde_json::to_string(&finding).unwrap()).unwrap();
        assert_eq!(again, finding);
    }

    #[test]
    fn the_key_encodes_its_fields_unambiguously() {
        let from = DateTime::UNIX_EPOCH;
        assert_ne!(
            Finding::episode_key("a", "bc", "d.e", &from),
            Finding::episode_key("ab", "c", "d.e", &from)
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

//! `transit.overdue`: the deadline passed before the truck arrived.

use escort_policy_sdk::*;

const HOUR_MS: f64 = 3_600_000.0;

/// The lateness against `deadline`: until the arrival if the truck arrived,
/// else until `now`, when the truck may still arrive (the finding is then
/// open: every call reports it again, as `now` advances).
pub(crate) fn finding(deadline: Timestamp, arrived_at: Option<Timestamp>, now: Timestamp) -> Option<Finding> {
    let until = arrived_at.unwrap_or(now);
    if until <= deadline {
        return None;
    }
    let hours_late = (until - deadline) as f64 / HOUR_MS;
    let message = match arrived_at {
        Some(_) => format!("arrived {hours_late:.1} h after the deadline"),
        None => format!("not arrived {hours_late:.1} h after the deadline"),
    };
    Some(Finding {
        code: "transit.overdue".into(),
        severity: Severity::Violation,
        message,
        from: deadline,
        to: until,
        position: None,
        evidence: vec![Evidence::number("hours_late", hours_late, 1)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Timestamp = 48 * 60 * MINUTE_MS;

    #[test]
    fn on_time_is_not_overdue() {
        assert_eq!(finding(DEADLINE, Some(DEADLINE), DEADLINE + 600 * MINUTE_MS), None);
        assert_eq!(finding(DEADLINE, None, DEADLINE), None);
    }

    #[test]
    fn late_arrival_and_no_arrival_say_how_late() {
        let late = finding(DEADLINE, Some(DEADLINE + 90 * MINUTE_MS), DEADLINE + 600 * MINUTE_MS).unwrap();
        assert_eq!(late.message, "arrived 1.5 h after the deadline");
        assert_eq!((late.from, late.to), (DEADLINE, DEADLINE + 90 * MINUTE_MS));
        let missing = finding(DEADLINE, None, DEADLINE + 600 * MINUTE_MS).unwrap();
        assert_eq!(missing.message, "not arrived 10.0 h after the deadline");
        assert_eq!(missing.evidence, [Evidence::number("hours_late", 10.0, 1)]);
    }
}

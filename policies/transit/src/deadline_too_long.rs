//! `transit.deadline_too_long`: the declared deadline allows less progress
//! along the route than the EAEU ceiling of 2,000 km per month requires.

use escort_policy_sdk::*;

const DAY_MS: f64 = 86_400_000.0;
const MONTH_DAYS: f64 = 30.0;

/// The warning if a route of `route_m` metres, from `opened_at` to
/// `deadline`, is covered at less than `min_km_per_month`.
pub(crate) fn finding(
    route_m: f64,
    opened_at: Timestamp,
    deadline: Timestamp,
    min_km_per_month: f64,
) -> Option<Finding> {
    let days_allowed = (deadline - opened_at) as f64 / DAY_MS;
    // A deadline at or before the opening is a malformed declaration, not a
    // generous one.
    if days_allowed <= 0.0 {
        return None;
    }
    let route_km = route_m / 1000.0;
    let km_per_month = route_km / (days_allowed / MONTH_DAYS);
    (km_per_month < min_km_per_month).then(|| Finding {
        code: "transit.deadline_too_long".into(),
        severity: Severity::Warning,
        message: format!(
            "the deadline allows {days_allowed:.1} days for {route_km:.1} km, {km_per_month:.0} km per month, \
             less than the {min_km_per_month:.0} km per month required"
        ),
        from: opened_at,
        to: opened_at,
        position: None,
        evidence: vec![
            Evidence::number("route_km", route_km, 1),
            Evidence::number("days_allowed", days_allowed, 1),
            Evidence::number("km_per_month", km_per_month, 0),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Timestamp = 86_400_000;

    #[test]
    fn a_deadline_at_the_ceiling_is_fine() {
        // 400 km at 2,000 km per month is 6 days.
        assert_eq!(finding(400_000.0, DAY, 7 * DAY, 2000.0), None);
        assert_eq!(finding(400_000.0, DAY, DAY, 2000.0), None);
    }

    #[test]
    fn a_longer_deadline_is_a_warning_with_its_arithmetic() {
        let warning = finding(380_500.0, DAY, 13 * DAY, 2000.0).unwrap();
        assert_eq!((warning.from, warning.to), (DAY, DAY));
        assert_eq!(
            warning.evidence,
            [
                Evidence::number("route_km", 380.5, 1),
                Evidence::number("days_allowed", 12.0, 1),
                Evidence::number("km_per_month", 380.5 / (12.0 / 30.0), 0),
            ]
        );
        assert_eq!(
            warning.message,
            "the deadline allows 12.0 days for 380.5 km, 951 km per month, less than the 2000 km per month required"
        );
    }
}

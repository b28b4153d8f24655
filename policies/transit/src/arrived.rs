//! `transit.arrived`: the first fix inside the destination zone.

use escort_policy_sdk::*;

/// The arrival at `fix`, the first fix inside `destination`.
pub(crate) fn finding(fix: &Fix, destination: &Zone) -> Finding {
    Finding {
        code: "transit.arrived".into(),
        severity: Severity::Info,
        message: format!("arrived at {}", destination.name),
        from: fix.at,
        to: fix.at,
        position: Some(fix.position()),
        evidence: vec![Evidence::text("zone_id", &destination.id)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_destination() {
        let destination = Zone {
            id: "ALMATY-TC".into(),
            name: "Almaty terminal".into(),
            center: Position { lat: 43.30, lon: 76.95 },
            radius_m: 1500.0,
        };
        let finding = finding(&Fix::new(MINUTE_MS, 43.301, 76.951), &destination);
        assert_eq!(finding.message, "arrived at Almaty terminal");
        assert_eq!(finding.evidence, [Evidence::text("zone_id", "ALMATY-TC")]);
        assert_eq!((finding.from, finding.to), (MINUTE_MS, MINUTE_MS));
    }
}

//! Eligibility: may this transit travel under electronic escort at all?
//!
//! Customs lets a navigation seal replace a physical convoy only for low-risk
//! transits, so this is decided once, on admission, from the declaration:
//!
//! - `eligibility.eligible` (info): every condition holds.
//! - `eligibility.ineligible` (violation): the importer is not in the green
//!   zone, the carrier is in the red zone, goods are subject to excise or in a
//!   sensitive HS group (`sensitive_hs_prefixes`: alcohol, tobacco, fuels,
//!   arms), no seal is declared, or no route. `evidence.reasons` lists every
//!   failed condition, one sentence each, so an officer sees all of them at
//!   once rather than one per resubmission.

use escort_policy_sdk::*;

/// The eligibility policy; see the crate documentation for its rule.
pub struct Eligibility;

params! {
    /// Which goods may never travel under electronic escort.
    pub struct Limits {
        /// Comma-separated HS code prefixes of goods that may not travel under electronic escort.
        sensitive_hs_prefixes: String = "2203,2204,2205,2206,2207,2208,2402,2403,2710,9301,9302,9303,9304,9305,9306",
    }
}

impl Policy for Eligibility {
    const ID: &'static str = "eligibility";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str = "Eligibility: whether the transit may travel under electronic escort at all.";
    type Params = Limits;
    // Decided once, on admission: fixes change nothing, and nothing is ever
    // in progress.
    type State = ();

    /// One finding, eligible or not with every reason.
    fn admit(transit: &impl Transit, limits: &Limits) -> Result<Vec<Finding>, String> {
        let reasons = reasons(
            &transit.declaration(),
            transit.has_route(),
            &limits.sensitive_hs_prefixes,
        );
        let opened_at = transit.opened_at();
        let finding = if reasons.is_empty() {
            Finding {
                code: "eligibility.eligible".into(),
                severity: Severity::Info,
                message: "may travel under electronic escort".into(),
                from: opened_at,
                to: opened_at,
                position: None,
                evidence: Vec::new(),
            }
        } else {
            Finding {
                code: "eligibility.ineligible".into(),
                severity: Severity::Violation,
                message: format!("may not travel under electronic escort: {}", reasons.join("; ")),
                from: opened_at,
                to: opened_at,
                position: None,
                evidence: vec![Evidence::texts("reasons", reasons)],
            }
        };
        Ok(vec![finding])
    }
}

export!(Eligibility);

/// Every condition the transit fails, as a sentence for an officer, in the
/// order of the declaration.
fn reasons(declaration: &Declaration, has_route: bool, sensitive_hs_prefixes: &str) -> Vec<String> {
    let mut reasons = Vec::new();
    let importer = &declaration.importer;
    if importer.zone != RiskZone::Green {
        reasons.push(format!(
            "importer {} is in the {} zone",
            importer.name,
            zone_name(importer.zone)
        ));
    }
    if let Some(carrier) = declaration
        .carrier
        .as_ref()
        .filter(|carrier| carrier.zone == RiskZone::Red)
    {
        reasons.push(format!("carrier {} is in the red zone", carrier.name));
    }
    let sensitive: Vec<&str> = sensitive_hs_prefixes
        .split(',')
        .map(str::trim)
        .filter(|prefix| !prefix.is_empty())
        .collect();
    for item in &declaration.goods {
        if item.excise {
            reasons.push(format!(
                "goods {} ({}) are subject to excise",
                item.hs, item.description
            ));
        }
        if let Some(group) = sensitive.iter().find(|prefix| item.hs.starts_with(**prefix)) {
            reasons.push(format!(
                "goods {} ({}) are in sensitive group {group}",
                item.hs, item.description
            ));
        }
    }
    if declaration
        .seal_id
        .as_deref()
        .is_none_or(|seal_id| seal_id.trim().is_empty())
    {
        reasons.push("no navigation seal is declared".into());
    }
    if !has_route {
        reasons.push("no route is declared".into());
    }
    reasons
}

fn zone_name(zone: RiskZone) -> &'static str {
    match zone {
        RiskZone::Green => "green",
        RiskZone::Yellow => "yellow",
        RiskZone::Red => "red",
    }
}

/// The rule over hand-made declarations: each reason, all of them at once,
/// and the findings `admit` makes (a transit without a route needs no host).
#[cfg(test)]
mod tests {
    use super::*;

    fn party(name: &str, zone: RiskZone) -> Party {
        Party {
            bin: "990240000111".into(),
            name: name.into(),
            zone,
        }
    }

    fn goods(hs: &str, description: &str, excise: bool) -> GoodsItem {
        GoodsItem {
            hs: hs.into(),
            description: description.into(),
            value_usd: 125000.0,
            excise,
        }
    }

    fn transit() -> DeclaredTransit {
        let example = DeclaredTransit::example();
        DeclaredTransit {
            declaration: Declaration {
                importer: party("Alatau Trade LLP", RiskZone::Green),
                carrier: Some(party("Silk Road Haulage", RiskZone::Yellow)),
                goods: vec![goods("847130", "portable computers", false)],
                ..example.declaration
            },
            opened_at: 1_621_144_800_000,
            ..example
        }
    }

    fn sensitive_hs_prefixes() -> String {
        Limits::defaults().sensitive_hs_prefixes
    }

    #[test]
    fn a_low_risk_transit_with_seal_and_route_is_eligible() {
        assert!(reasons(&transit().declaration, true, &sensitive_hs_prefixes()).is_empty());
    }

    #[test]
    fn every_reason_is_listed() {
        let mut declaration = transit().declaration;
        declaration.importer.zone = RiskZone::Yellow;
        declaration.carrier = Some(party("Steppe Cargo", RiskZone::Red));
        declaration.goods.push(goods("220830", "whisky", true));
        declaration.goods.push(goods("2710192100", "diesel", false));
        declaration.seal_id = Some(" ".into());
        assert_eq!(
            reasons(&declaration, false, &sensitive_hs_prefixes()),
            [
                "importer Alatau Trade LLP is in the yellow zone",
                "carrier Steppe Cargo is in the red zone",
                "goods 220830 (whisky) are subject to excise",
                "goods 220830 (whisky) are in sensitive group 2208",
                "goods 2710192100 (diesel) are in sensitive group 2710",
                "no navigation seal is declared",
                "no route is declared",
            ]
        );
    }

    #[test]
    fn the_sensitive_groups_are_a_parameter() {
        let declaration = transit().declaration;
        assert!(reasons(&declaration, true, "").is_empty());
        assert_eq!(
            reasons(&declaration, true, " 8703, 8471 "),
            ["goods 847130 (portable computers) are in sensitive group 8471"]
        );
    }

    #[test]
    fn admit_reports_one_finding_at_the_opening() {
        let defaults = Limits::default_values();
        let mut transit = transit();
        transit.declaration.seal_id = None;
        // A transit as data declares no route.
        let findings = escort_policy_sdk::admit::<Eligibility>(&transit, &defaults).unwrap();
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(
            (finding.code.as_str(), finding.severity),
            ("eligibility.ineligible", Severity::Violation)
        );
        assert_eq!(
            (finding.from, finding.to, finding.position),
            (transit.opened_at, transit.opened_at, None)
        );
        assert_eq!(
            finding.message,
            "may not travel under electronic escort: no navigation seal is declared; no route is declared"
        );
        assert_eq!(
            finding.evidence,
            [Evidence::texts(
                "reasons",
                vec!["no navigation seal is declared".into(), "no route is declared".into()]
            )]
        );
    }
}

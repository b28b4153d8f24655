//! `{{id}}`: warns when a fix reports the seal's battery running low.
//!
//! A starting point made by `escort policy new`: change the rule, keep the
//! shape. `describe` says who the policy is and what it takes; `admit` looks
//! at a transit once, when it opens; `observe` looks at each batch of new
//! fixes. This rule needs no memory between batches, so it hands its state
//! back unchanged.

use escort_policy_sdk::*;

/// The policy.
pub struct Rule;

impl Policy for Rule {
    fn describe() -> Descriptor {
        Descriptor {
            id: "{{id}}".into(),
            version: "0.1.0".into(),
            summary: "Warns when a fix reports the seal's battery below a threshold.".into(),
            params: vec![ParamSpec::float(
                "min_battery_pct",
                20.0,
                "A battery charge below this, percent, is low.",
            )],
        }
    }

    fn admit(_: Transit, _: Option<&Route>, _: Vec<Param>) -> Result<Vec<Finding>, String> {
        Ok(Vec::new())
    }

    fn observe(
        _transit: Transit,
        _route: Option<&Route>,
        params: Vec<Param>,
        fixes: Fixes,
        _now: Timestamp,
        state: Vec<u8>,
    ) -> Result<Observation, String> {
        let min_battery_pct = Params::new(params).float("min_battery_pct")?;
        let findings = fixes
            .rows()
            .filter_map(|fix| {
                let pct = fix.battery_pct.filter(|&pct| pct < min_battery_pct)?;
                Some(Finding {
                    code: "{{id}}.battery_low".into(),
                    severity: Severity::Warning,
                    message: format!("seal battery at {pct:.0} %"),
                    from: fix.at,
                    to: fix.at,
                    position: Some(fix.position()),
                    evidence: vec![Evidence::text("battery_pct", format!("{pct:.0}"))],
                })
            })
            .collect();
        Ok(Observation {
            findings,
            open: Vec::new(),
            state,
        })
    }
}

#[cfg(target_arch = "wasm32")]
export_policy!(Rule);

//! `{{id}}`: warns when a fix reports the seal's battery running low.
//!
//! A starting point made by `escort policy new`: change the rule, keep the
//! shape. The constants say who the policy is; `params!` declares what a
//! regulator may set (the doc comment is what they read); `observe` looks at
//! each batch of new fixes. This rule needs no memory between batches, so
//! its state is `()`, and it does not judge the declaration, so it has no
//! `admit`.

use escort_policy_sdk::*;

/// The policy.
pub struct Rule;

params! {
    /// What counts as a low battery.
    pub struct Limits {
        /// A battery charge below this, percent, is low.
        min_battery_pct: f64 = 20.0,
    }
}

impl Policy for Rule {
    const ID: &'static str = "{{id}}";
    const VERSION: &'static str = "0.1.0";
    const SUMMARY: &'static str = "Warns when a fix reports the seal's battery below a threshold.";
    type Params = Limits;
    type State = ();

    fn observe(_: &impl Transit, limits: &Limits, fixes: &Fixes, _: Timestamp, _: &mut ()) -> Result<Observed, String> {
        let findings = fixes
            .rows()
            .filter_map(|fix| {
                let pct = fix.battery_pct.filter(|&pct| pct < limits.min_battery_pct)?;
                Some(Finding {
                    code: "{{id}}.battery_low".into(),
                    severity: Severity::Warning,
                    message: format!("seal battery at {pct:.0} %"),
                    from: fix.at,
                    to: fix.at,
                    position: Some(fix.position()),
                    evidence: vec![Evidence::number("battery_pct", pct, 0)],
                })
            })
            .collect();
        // A fix is over as soon as it is reported: nothing stays open.
        Ok(Observed {
            findings,
            open: Vec::new(),
        })
    }
}

export!(Rule);

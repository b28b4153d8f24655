"""``{{id}}``: warns when a fix reports the seal's battery running low.

A starting point made by ``escort policy new``: change the rule, keep the shape. The class says
who the policy is and which parameters it takes; ``observe`` looks at each batch of new fixes and
returns the findings of what is over and those of what is still going on (``open``). Escort's
SDK, ``escort_policy``, is put beside the packager in ``.escort/`` by every build.

A low reading is over as soon as it is reported, so this rule has nothing open and keeps no
state between batches. It reads no clock, files or randomness: the same fixes always give the
same findings.
"""

from escort_policy import Policy, Severity, finding, float_param, number


class LowBattery(Policy):
    id = "{{id}}"
    version = "0.1.0"
    summary = "Warns when a fix reports the seal's battery below a threshold."
    params = [float_param("min_battery_pct", 20.0, "A battery charge below this, percent, is low.")]

    def observe(self, transit, params, fixes, now, state):
        findings = [
            finding(
                "{{id}}.battery_low",
                Severity.WARNING,
                f"seal battery at {fix.battery_pct:.0f} %",
                fix.at,
                fix.at,
                position=fix.position,
                evidence=[number("battery_pct", fix.battery_pct, 0)],
            )
            for fix in fixes
            # None: the seal did not report its battery, so no reading and no finding.
            if fix.battery_pct is not None and fix.battery_pct < params.min_battery_pct
        ]
        return findings, []

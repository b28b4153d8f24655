// `{{id}}`: warns when a fix reports the seal's battery running low.
//
// A starting point made by `escort policy new`: change the rule, keep the
// shape. `escort policy build` puts Escort's SDK in `.escort/` and builds this
// file into `policy.wasm`. `observe` gets each batch of new fixes and returns
// the findings of what is over and of what is still going on (`open`). This
// rule judges each fix on its own, so it keeps no state and nothing stays open.

import { definePolicy, fixed, number, param } from './.escort/escort-policy.js';

export const policy = definePolicy({
    id: '{{id}}',
    version: '0.1.0',
    summary: "Warns when a fix reports the seal's battery below a threshold.",
    params: {
        min_battery_pct: param.float(20, 'A battery charge below this, percent, is low.'),
    },

    observe(transit, params, fixes, now, state) {
        const findings = [];
        for (const fix of fixes) {
            // NaN, a battery not reported, is never below the threshold.
            if (fix.batteryPct < params.min_battery_pct) {
                findings.push({
                    code: '{{id}}.battery_low',
                    severity: 'warning',
                    message: `seal battery at ${fixed(fix.batteryPct, 0)} %`,
                    from: fix.at,
                    to: fix.at,
                    position: { lat: fix.lat, lon: fix.lon },
                    evidence: [number('battery_pct', fix.batteryPct, 0)],
                });
            }
        }
        return { findings, open: [] };
    },
});

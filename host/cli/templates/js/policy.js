// `{{id}}`: warns when a fix reports the seal's battery running low.
//
// A starting point made by `escort policy new`: change the rule, keep the
// shape. componentize-js exports the object `policy` of this module as the
// contract's `policy` interface:
//
// - `describe` says who the policy is and which parameters it takes;
// - `admit` looks at a transit once, when it opens;
// - `observe` looks at each batch of new fixes, and returns the findings of
//   what is over, the findings of what is still going on (`open`), and the
//   state it wants back with the next batch.
//
// This rule needs no memory between batches, so it hands its state back
// unchanged. The component imports nothing but the host's geodesy: it reads
// no clock, files or randomness, so the same fixes always give the same
// findings. Times (`s64` in the contract) are BigInt.

/** An error the host reports as the policy's own (`err`), not as a crash. */
class PolicyError extends Error {
    constructor(message) {
        super(message);
        this.payload = message;
    }
}

/** A parameter's value; the host checked it against `describe`. */
function floatParam(params, name) {
    const param = params.find((p) => p.name === name && p.value.tag === 'float');
    if (param === undefined) {
        throw new PolicyError(`parameter \`${name}\` is missing`);
    }
    return param.value.val;
}

export const policy = {
    describe() {
        return {
            id: '{{id}}',
            version: '0.1.0',
            summary: "Warns when a fix reports the seal's battery below a threshold.",
            params: [
                {
                    name: 'min_battery_pct',
                    kind: 'float',
                    default: { tag: 'float', val: 20.0 },
                    doc: 'A battery charge below this, percent, is low.',
                },
            ],
        };
    },

    admit(transit, route, params) {
        return [];
    },

    observe(transit, route, params, fixes, now, state) {
        const minBatteryPct = floatParam(params, 'min_battery_pct');
        const findings = [];
        for (let i = 0; i < fixes.at.length; i++) {
            const pct = fixes.batteryPct[i];
            // NaN means the seal did not report its battery: no reading, no
            // finding (and `NaN < x` is false, so it falls out here).
            if (!(pct < minBatteryPct)) {
                continue;
            }
            findings.push({
                code: '{{id}}.battery_low',
                severity: 'warning',
                message: `seal battery at ${pct.toFixed(0)} %`,
                from: fixes.at[i],
                to: fixes.at[i],
                position: { lat: fixes.lat[i], lon: fixes.lon[i] },
                evidence: [{ name: 'battery_pct', value: { tag: 'text', val: pct.toFixed(0) } }],
            });
        }
        return { findings, open: [], state };
    },
};

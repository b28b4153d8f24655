// Speed sanity: the Escort policy `speed`, in JavaScript.
//
// - `speed.implausible` (violation): two consecutive fixes imply a speed no
//   truck reaches over a distance no receiver jitters. Spoofing, jamming or a
//   seal moved to another vehicle look like this. Consecutive jumps (out and
//   back) are one finding. Fixes with a poor hdop are exempt.
// - `speed.excessive` (warning): the reported speed stays above a limit.
// - `telemetry.quality` (info, warning when long): a run of poor fixes.
//
// Each is one finding per episode: final once a fix ends it, open (as it
// stands, reported again by every call) while it goes on.
//
// This module implements the contract `escort:policy@0.1.0` (wit/since_v0.1.0)
// and gives the same findings, to the byte, as the Rust policy in
// policies/speed. Built with componentize-js, it imports nothing but the
// host's `geo` interface.

import { legsM } from 'escort:policy/geo@0.1.0';

import * as episode from './lib/episode.js';
import * as params from './lib/params.js';
import { display, fixed } from './lib/rust-format.js';
import * as state from './lib/state.js';

/**
 * What the policy keeps between batches.
 * @typedef {object} State
 * @property {LastFix | null} last  the last fix seen, which the next batch's first leg starts from
 * @property {import('./lib/episode.js').Episode | null} jump  jumps going on
 * @property {import('./lib/episode.js').Episode | null} excessive  excessive speed going on
 * @property {import('./lib/episode.js').Episode | null} poor  poor fixes going on
 *
 * @typedef {object} LastFix  a fix as the rule keeps it
 * @property {bigint} at  the contract's `s64` milliseconds
 * @property {number} lat
 * @property {number} lon
 * @property {boolean} poor  whether its hdop was poor, which exempts the legs from and to it
 */

/** @returns {State} */
function initialState() {
    return { last: null, jump: null, excessive: null, poor: null };
}

/** The limits of one call, from its parameters. */
function readLimits(values) {
    return {
        implausibleKmh: params.float(values, 'implausible_kmh'),
        implausibleMinM: params.float(values, 'implausible_min_m'),
        maxHdop: params.float(values, 'max_hdop'),
        excessiveKmh: params.float(values, 'excessive_kmh'),
        excessiveMinMinutes: params.float(values, 'excessive_min_minutes'),
        poorWarningMinutes: params.float(values, 'poor_warning_minutes'),
    };
}

// componentize-js binds the exported interface `policy` of the world to the
// module's export of that name: an object holding its functions.
export const policy = {
    describe() {
        return {
            id: 'speed',
            version: '0.1.0',
            summary: 'Speed sanity: position jumps, excessive reported speed and poor fixes.',
            params: [
                params.floatSpec(
                    'implausible_kmh',
                    150,
                    'A speed implied by two consecutive fixes above this is a jump, km/h.',
                ),
                params.floatSpec(
                    'implausible_min_m',
                    1000,
                    'Hops shorter than this are receiver noise, never jumps, metres.',
                ),
                params.floatSpec(
                    'max_hdop',
                    5,
                    'Fixes with a higher hdop are poor: exempt from jumps and reported as data quality.',
                ),
                params.floatSpec('excessive_kmh', 110, 'Reported speed above this is excessive, km/h.'),
                params.floatSpec(
                    'excessive_min_minutes',
                    2,
                    'Excessive speed must last this long to be reported, minutes.',
                ),
                params.floatSpec(
                    'poor_warning_minutes',
                    30,
                    'A run of poor fixes this long is a warning, not info, minutes.',
                ),
            ],
        };
    },

    // Nothing to check when a transit opens.
    admit(_transit, _route, _params) {
        return [];
    },

    // `fixes` arrives as columns: `at` a BigInt64Array, the numbers
    // Float64Arrays. `_route` (a borrowed handle, valid only during the call),
    // the transit and the clock are not needed by this rule.
    observe(_transit, _route, paramValues, fixes, _now, stateBytes) {
        const limits = readLimits(paramValues);
        const current = state.load(stateBytes, initialState);

        // One host call for every leg of the batch, the leg into it included:
        // from the previous batch's last fix, if any, to this batch's first.
        const previous = current.last === null ? 0 : 1;
        const lat = new Float64Array(previous + fixes.lat.length);
        const lon = new Float64Array(previous + fixes.lon.length);
        if (current.last !== null) {
            lat[0] = current.last.lat;
            lon[0] = current.last.lon;
        }
        lat.set(fixes.lat, previous);
        lon.set(fixes.lon, previous);
        const legs = legsM(lat, lon);

        const findings = follow(current, fixes, legs, limits);
        return { findings, open: stillOpen(current, limits), state: state.save(current) };
    },
};

/**
 * Feeds fixes to the open episodes; `legs` are the legs between the previous
 * batch's last fix, if any, and the fixes, in order. Returns the findings of
 * the episodes that ended; those still open are `stillOpen`'s.
 * @param {State} current  updated in place
 */
function follow(current, fixes, legs, limits) {
    const findings = [];
    // Without a fix from an earlier batch, the first fix has no leg into it
    // and fix i's leg is legs[i - 1]; with one, it is legs[i].
    const legOffset = current.last === null ? -1 : 0;
    // The batch is read column by column rather than as a row object per fix:
    // in the component's interpreter that would cost several times the rule
    // itself, and the fuel of one call is bounded.
    const { at, lat, lon, speedKmh, hdop } = fixes;
    for (let i = 0; i < at.length; i++) {
        // A value the device did not report is NaN, and NaN > x is false: a
        // fix without an hdop is not poor, one without a speed is not fast.
        /** @type {LastFix} */
        const fix = { at: at[i], lat: lat[i], lon: lon[i], poor: hdop[i] > limits.maxHdop };
        const last = current.last;
        if (last !== null) {
            const legM = legs[i + legOffset];
            // BigInt difference, then one rounding to a double, as Rust's `as f64`.
            const hours = Number(fix.at - last.at) / 3_600_000;
            // Two fixes at one instant (which the host rules out) would be an
            // infinitely fast jump.
            const impliedKmh = hours > 0 ? legM / 1000 / hours : Infinity;
            const jumped =
                !fix.poor && !last.poor && legM > limits.implausibleMinM && impliedKmh > limits.implausibleKmh;
            if (jumped) {
                // A jump that starts where the last one ended (out and back)
                // belongs to the same episode.
                if (current.jump !== null && current.jump.to === last.at) {
                    episode.extend(current.jump, fix, impliedKmh);
                } else {
                    if (current.jump !== null) findings.push(jumpFinding(current.jump));
                    current.jump = episode.start(fix, impliedKmh, last.at);
                }
            } else if (current.jump !== null) {
                findings.push(jumpFinding(current.jump));
                current.jump = null;
            }
        }

        if (speedKmh[i] > limits.excessiveKmh) {
            current.excessive = episode.startOrExtend(current.excessive, fix, speedKmh[i]);
        } else if (current.excessive !== null) {
            // A run too short to report ends without a finding.
            const finding = excessiveFinding(current.excessive, limits);
            if (finding !== null) findings.push(finding);
            current.excessive = null;
        }

        if (fix.poor) {
            current.poor = episode.startOrExtend(current.poor, fix, hdop[i]);
        } else if (current.poor !== null) {
            findings.push(poorFinding(current.poor, limits));
            current.poor = null;
        }

        current.last = fix;
    }
    return findings;
}

/**
 * The findings of the episodes still open, as they stand. Every call reports
 * them, an empty batch's too: the host keeps only the last call's open findings.
 * @param {State} current
 */
function stillOpen(current, limits) {
    const open = [];
    if (current.jump !== null) open.push(jumpFinding(current.jump));
    if (current.excessive !== null) {
        const finding = excessiveFinding(current.excessive, limits);
        if (finding !== null) open.push(finding);
    }
    if (current.poor !== null) open.push(poorFinding(current.poor, limits));
    return open;
}

function jumpFinding(jump) {
    const jumps = jump.fixes;
    return {
        code: 'speed.implausible',
        severity: 'violation',
        message: `position jumped at an implied ${fixed(jump.peak, 0)} km/h (${jumps} jump${jumps === 1 ? '' : 's'})`,
        from: jump.from,
        to: jump.to,
        position: episode.peakPosition(jump),
        evidence: [text('max_implied_kmh', fixed(jump.peak, 0)), text('jumps', String(jumps))],
    };
}

/** The finding of a run of excessive speed, or null if it is too short to report. */
function excessiveFinding(run, limits) {
    const minutes = episode.minutes(run);
    if (minutes < limits.excessiveMinMinutes) return null;
    return {
        code: 'speed.excessive',
        severity: 'warning',
        message: `reported up to ${fixed(run.peak, 0)} km/h for ${fixed(minutes, 0)} min`,
        from: run.from,
        to: run.to,
        position: episode.peakPosition(run),
        evidence: [text('max_speed_kmh', fixed(run.peak, 1)), text('minutes', fixed(minutes, 0))],
    };
}

function poorFinding(run, limits) {
    const minutes = episode.minutes(run);
    return {
        code: 'telemetry.quality',
        severity: minutes >= limits.poorWarningMinutes ? 'warning' : 'info',
        message: `${run.fixes} fix${run.fixes === 1 ? '' : 'es'} with hdop above ${display(limits.maxHdop)} over ${fixed(minutes, 0)} min`,
        from: run.from,
        to: run.to,
        position: episode.peakPosition(run),
        evidence: [text('poor_fixes', String(run.fixes)), text('max_hdop', fixed(run.peak, 1))],
    };
}

/** One named piece of evidence with a single text value. */
function text(name, value) {
    return { name, value: { tag: 'text', val: value } };
}

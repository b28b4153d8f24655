// Speed sanity, the Escort policy `speed` in JavaScript: the same findings, to the byte, as the Rust
// policy in policies/speed. One finding per episode, final once a fix ends it, open while it goes on:
// - `speed.implausible` (violation): two consecutive fixes imply a speed no truck reaches over a
//   distance no receiver jitters (spoofing, jamming, a seal moved to another vehicle). A jump out
//   and back is one finding. Fixes with a poor hdop are exempt.
// - `speed.excessive` (warning): the reported speed stays above a limit.
// - `telemetry.quality` (info, warning when long): a run of poor fixes.

import { definePolicy, display, Episode, fixed, integer, number, param } from './.escort/escort-policy.js';

export const policy = definePolicy({
    id: 'speed',
    version: '0.1.0',
    summary: 'Speed sanity: position jumps, excessive reported speed and poor fixes.',
    params: {
        implausible_kmh: param.float(150, 'A speed implied by two consecutive fixes above this is a jump, km/h.'),
        implausible_min_m: param.float(1000, 'Hops shorter than this are receiver noise, never jumps, metres.'),
        max_hdop: param.float(5, 'Fixes with a higher hdop are poor: exempt from jumps and reported as data quality.'),
        excessive_kmh: param.float(110, 'Reported speed above this is excessive, km/h.'),
        excessive_min_minutes: param.float(2, 'Excessive speed must last this long to be reported, minutes.'),
        poor_warning_minutes: param.float(30, 'A run of poor fixes this long is a warning, not info, minutes.'),
    },
    // The last fix seen (`{ at, lat, lon, poor }`) and the episodes going on.
    state: () => ({ last: null, jump: null, excessive: null, poor: null }),
    observe(transit, limits, fixes, _now, state) {
        // One host call for every leg of the batch, the leg from the previous batch's last fix included.
        const positions = fixes.positionsAfter(state.last);
        const legsM = transit.legsM(positions.lat, positions.lon);
        const firstLeg = state.last === null ? -1 : 0; // fix i's leg is legsM[i + firstLeg]
        const { at, lat, lon, speedKmh, hdop } = fixes;
        const findings = [];
        for (let i = 0; i < fixes.length; i++) {
            // NaN, a value not reported, is never above a limit.
            const fix = { at: at[i], lat: lat[i], lon: lon[i], poor: hdop[i] > limits.max_hdop };
            const last = state.last;
            if (last !== null) {
                const legM = legsM[i + firstLeg];
                const hours = (fix.at - last.at) / 3_600_000;
                const impliedKmh = hours > 0 ? legM / 1000 / hours : Infinity;
                if (!fix.poor && !last.poor && legM > limits.implausible_min_m && impliedKmh > limits.implausible_kmh) {
                    if (state.jump !== null && state.jump.to === last.at) {
                        Episode.extend(state.jump, fix, impliedKmh);
                    } else {
                        if (state.jump !== null) findings.push(jumpFinding(state.jump));
                        state.jump = Episode.startAt(last.at, fix, impliedKmh);
                    }
                } else if (state.jump !== null) {
                    findings.push(jumpFinding(state.jump));
                    state.jump = null;
                }
            }
            if (speedKmh[i] > limits.excessive_kmh) {
                state.excessive = Episode.startOrExtend(state.excessive, fix, speedKmh[i]);
            } else if (state.excessive !== null) {
                findings.push(...excessiveFinding(state.excessive, limits));
                state.excessive = null;
            }
            if (fix.poor) {
                state.poor = Episode.startOrExtend(state.poor, fix, hdop[i]);
            } else if (state.poor !== null) {
                findings.push(poorFinding(state.poor, limits));
                state.poor = null;
            }
            state.last = fix;
        }
        const open = [];
        if (state.jump !== null) open.push(jumpFinding(state.jump));
        if (state.excessive !== null) open.push(...excessiveFinding(state.excessive, limits));
        if (state.poor !== null) open.push(poorFinding(state.poor, limits));
        return { findings, open };
    },
});

function jumpFinding(jump) {
    const message = `position jumped at an implied ${fixed(jump.peak, 0)} km/h (${count(jump.fixes, 'jump', 'jumps')})`;
    const evidence = [number('max_implied_kmh', jump.peak, 0), integer('jumps', jump.fixes)];
    return { code: 'speed.implausible', severity: 'violation', message, ...where(jump), evidence };
}

/** The finding of a run of excessive speed; none if it is too short to report. */
function excessiveFinding(run, limits) {
    const minutes = Episode.minutes(run);
    if (minutes < limits.excessive_min_minutes) return [];
    const message = `reported up to ${fixed(run.peak, 0)} km/h for ${fixed(minutes, 0)} min`;
    const evidence = [number('max_speed_kmh', run.peak, 1), number('minutes', minutes, 0)];
    return [{ code: 'speed.excessive', severity: 'warning', message, ...where(run), evidence }];
}

function poorFinding(run, limits) {
    const minutes = Episode.minutes(run);
    const fixesAbove = `${count(run.fixes, 'fix', 'fixes')} with hdop above ${display(limits.max_hdop)}`;
    const severity = minutes >= limits.poor_warning_minutes ? 'warning' : 'info';
    const evidence = [integer('poor_fixes', run.fixes), number('max_hdop', run.peak, 1)];
    const message = `${fixesAbove} over ${fixed(minutes, 0)} min`;
    return { code: 'telemetry.quality', severity, message, ...where(run), evidence };
}

const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const where = (episode) => ({ from: episode.from, to: episode.to, position: Episode.peakPosition(episode) });

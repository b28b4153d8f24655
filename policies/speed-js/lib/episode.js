// A run of consecutive fixes that all meet some condition: outside the
// corridor, above a speed, with a poor hdop. A rule keeps the open episode in
// its state, so a run that spans batches stays one finding. Episodes are plain
// data, so that the state they live in encodes as it is.

/** One minute in the contract's time unit (milliseconds). */
const MINUTE_MS = 60_000;

/**
 * A run of fixes, with the fix where a measured value peaked.
 * @typedef {object} Episode
 * @property {bigint} from  time of the first fix of the run
 * @property {bigint} to  time of the last fix of the run so far
 * @property {number} fixes  how many fixes the run holds
 * @property {number} peak  the largest value seen (the rule decides what it measures)
 * @property {bigint} peakAt  time of the fix with the peak value
 * @property {number} peakLat
 * @property {number} peakLon
 */

/**
 * Starts a run at `fix`, whose measured value is `value`; `from` may be an
 * earlier time, a fix the rule already let go of (such as the fix before a jump).
 * @returns {Episode}
 */
export function start(fix, value, from = fix.at) {
    return { from, to: fix.at, fixes: 1, peak: value, peakAt: fix.at, peakLat: fix.lat, peakLon: fix.lon };
}

/** Adds `fix` to the run; `value` becomes the peak if it is larger. */
export function extend(episode, fix, value) {
    episode.to = fix.at;
    episode.fixes += 1;
    if (value > episode.peak) {
        episode.peak = value;
        episode.peakAt = fix.at;
        episode.peakLat = fix.lat;
        episode.peakLon = fix.lon;
    }
}

/**
 * Extends the open run with `fix`, or starts one if none is open.
 * @param {Episode | null} open
 * @returns {Episode} the run, to keep in the state
 */
export function startOrExtend(open, fix, value) {
    if (open === null) return start(fix, value);
    extend(open, fix, value);
    return open;
}

/** Minutes from the first to the last fix of the run. */
export function minutes(episode) {
    return minutesBetween(episode.from, episode.to);
}

/** Where the peak value was measured, as the contract's `position`. */
export function peakPosition(episode) {
    return { lat: episode.peakLat, lon: episode.peakLon };
}

/**
 * The whole and fractional minutes between two timestamps. The difference is
 * taken exactly in BigInt, then rounded once to a double, as Rust's `as f64`.
 * @param {bigint} from
 * @param {bigint} to
 */
function minutesBetween(from, to) {
    return Number(to - from) / MINUTE_MS;
}

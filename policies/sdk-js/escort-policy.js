// Escort's JavaScript SDK for writing policies, contract `escort:policy@0.2.0`.
//
// `escort policy build` writes this module into the project's `.escort/`
// folder on every build, so a policy imports it by relative path, as it would
// any module of its own:
//
//     import { definePolicy, param, number, integer, Episode, fixed } from './.escort/escort-policy.js';
//
//     export const policy = definePolicy({ id, version, summary, params, state, admit, observe });
//
// componentize-js exports the module's `policy` as the contract's `policy`
// interface. `definePolicy` turns the author's declaration into the
// contract's four functions, and hides what the generated bindings would
// make the author write:
//
// - parameters are declared once, with their kind, default and doc
//   (`param.float(150, 'doc')`), and every call reads them into an object by
//   name (`params.max_hdop`), from the contract's list in `describe()` order;
// - times are plain Numbers of milliseconds, not the contract's BigInt
//   `s64`: a Number holds every integer up to 2^53 exactly (the year 287396),
//   so nothing is lost, and the SDK converts at the boundary both ways;
// - the state is the author's own object, kept as JSON between batches;
// - findings are plain objects, evidence is built with `number`, `integer`,
//   `text` and `texts`;
// - an exception thrown anywhere in `admit` or `observe` reaches the host as
//   the contract's `err("<name>: <message> (<file>:<line>)")`, which Escort
//   reports as a `policy.error` finding, instead of a trap the host can only
//   call "wasm `unreachable` instruction executed".

import { distancesToM, legsM } from 'escort:policy/geo@0.2.0';
import * as transitHost from 'escort:policy/transit@0.2.0';
import { columns } from 'escort:policy/batch@0.2.0';

/** One minute in the contract's time unit (milliseconds). */
export const MINUTE_MS = 60_000;

// ---------------------------------------------------------------------------
// The policy

/**
 * The contract's `policy` interface for a policy declared as
 *
 *     definePolicy({
 *         id: 'speed', version: '0.2.0', summary: 'One sentence.',
 *         params: { max_hdop: param.float(5, 'Fixes with a higher hdop are poor.') },
 *         state: () => ({ last: null }),              // the first batch's state
 *         admit(transit, params) { return []; },      // optional: findings about the declaration
 *         observe(transit, params, fixes, now, state) { return { findings: [], open: [] }; },
 *     })
 *
 * `observe` updates `state` in place; the SDK saves it for the next batch.
 * `findings` are about what is over (final, they accumulate), `open` about
 * what is still going on, as it stands: each call's `open` replaces the
 * previous call's whole, so an episode still going on is reported again by
 * every call, an empty batch's too. The declaration is checked here, when the
 * module loads, so a mistake in it fails the build rather than a call.
 */
export function definePolicy({ id, version, summary, params = {}, state = () => ({}), admit, observe }) {
    const specs = Object.entries(params).map(([name, spec]) => ({ name, ...spec }));
    for (const spec of specs) {
        if (spec.kind === undefined) {
            throw new TypeError(`parameter \`${spec.name}\`: declare it with param.float(...) or another kind`);
        }
    }
    if (typeof observe !== 'function') {
        throw new TypeError(`policy \`${id}\`: observe(transit, params, fixes, now, state) is missing`);
    }
    const descriptor = { id, version, summary, params: specs };
    // `configure` reads the parameters once for the instance's later calls.
    let configured;
    const configuredParams = () => {
        if (configured === undefined) throw new Error('called before `configure`');
        return configured;
    };
    const transit = new Transit(transitHost);
    return {
        describe() {
            return descriptor;
        },
        configure(values) {
            reported(() => {
                configured = readParams(specs, values);
            });
        },
        admit() {
            if (admit === undefined) return [];
            return reported(() => admit(transit, configuredParams()).map(toContract));
        },
        observe(now, count, stateBytes) {
            return reported(() => {
                const current = loadState(stateBytes, state);
                // The host is asked for the fixes only when there are any.
                const fixes = new Fixes(count === 0 ? NO_FIXES : columns());
                const observed = observe(transit, configuredParams(), fixes, Number(now), current);
                return {
                    findings: observed.findings.map(toContract),
                    open: observed.open.map(toContract),
                    state: saveState(current),
                };
            });
        },
    };
}

/** Runs `call`, and turns anything it throws into the contract's `err`. */
function reported(call) {
    try {
        return call();
    } catch (e) {
        // componentize-js answers `err(payload)` for a thrown value that has
        // its own `payload`; anything else it rethrows, and the call traps.
        throw { payload: errorText(e) };
    }
}

/**
 * `TypeError: x is undefined (policy.js:42)`: the exception's name and
 * message, and the line of the policy where it happened: the first frame of
 * its stack outside this module, since an error the SDK raises (a time that is
 * not a whole number) is the fault of the policy line that called it.
 */
function errorText(e) {
    if (!(e instanceof Error)) return `thrown: ${String(e)}`;
    const frames = String(e.stack ?? '')
        .split('\n')
        // SpiderMonkey's `observe@policy.js:42:7`, or V8's `at observe (file:///…/policy.js:42:7)` under Node.
        .map((line) => /([^\s(@]+):(\d+):\d+\)?$/.exec(line))
        .filter((match) => match !== null);
    const frame = frames.find(([, file]) => !file.endsWith('escort-policy.js')) ?? frames[0];
    return frame === undefined ? `${e.name}: ${e.message}` : `${e.name}: ${e.message} (${frame[1]}:${frame[2]})`;
}

// ---------------------------------------------------------------------------
// Parameters

/**
 * Parameter declarations for `definePolicy({ params })`: the default, then one
 * sentence for the regulator who sets it. The parameter's name, snake_case
 * with its unit, is its key: `{ corridor_m: param.float(5000, 'Half-width of the corridor, metres.') }`.
 * An `integer` is a Number in the policy (whole, within ±2^53).
 */
export const param = {
    /** @param {number} value @param {string} doc */
    float: (value, doc) => ({ kind: 'float', default: { tag: 'float', val: value }, doc }),
    /** @param {number} value @param {string} doc */
    integer: (value, doc) => ({ kind: 'integer', default: { tag: 'integer', val: BigInt(value) }, doc }),
    /** @param {boolean} value @param {string} doc */
    boolean: (value, doc) => ({ kind: 'boolean', default: { tag: 'boolean', val: value }, doc }),
    /** @param {string} value @param {string} doc */
    text: (value, doc) => ({ kind: 'text', default: { tag: 'text', val: value }, doc }),
};

/** A call's parameter values, which the host sends in declaration order, by name. */
function readParams(specs, values) {
    const params = {};
    specs.forEach(({ name }, i) => {
        const { tag, val } = values[i];
        params[name] = tag === 'integer' ? exactNumber(val, `parameter \`${name}\``) : val;
    });
    return params;
}

/** An `s64` as a Number, which it must fit exactly. */
function exactNumber(value, what) {
    const number = Number(value);
    if (!Number.isSafeInteger(number)) throw new RangeError(`${what} is ${value}, beyond what a Number holds exactly`);
    return number;
}

// ---------------------------------------------------------------------------
// The transit and the fixes

/**
 * The transit the call in progress is about: ask it for what the rule needs,
 * each answer is copied when asked. Times are Numbers of
 * milliseconds; "none" is `undefined`. A zone is `{ id, name, center: { lat,
 * lon }, radiusM }`; an authorised stop `{ zone, maxMinutes }` (`maxMinutes`
 * undefined: no limit); the declaration `{ number, sealId, vehicle, importer:
 * { bin, name, zone: 'green' | 'yellow' | 'red' }, carrier, goods: [{ hs,
 * description, valueUsd, excise }] }`. The route questions and the host's
 * geodesy take columns of positions (arrays or Float64Arrays) and answer a
 * Float64Array of metres, one per position.
 */
export class Transit {
    #host;

    constructor(host) {
        this.#host = host;
    }

    /** @returns {string} */
    id() {
        return this.#host.id();
    }

    /** When it was opened. @returns {number} */
    openedAt() {
        return exactNumber(this.#host.openedAt(), 'opened_at');
    }

    /** When the goods must reach the destination, if declared. @returns {number | undefined} */
    deadline() {
        const deadline = this.#host.deadline();
        return deadline === undefined ? undefined : exactNumber(deadline, 'deadline');
    }

    /** The corridor's declared half-width, metres, if declared. @returns {number | undefined} */
    corridorM() {
        return this.#host.corridorM();
    }

    departure() {
        return this.#host.departure();
    }

    destination() {
        return this.#host.destination();
    }

    stops() {
        return this.#host.stops();
    }

    declaration() {
        return this.#host.declaration();
    }

    /** Whether the transit declares a route; without one the route questions answer undefined. */
    hasRoute() {
        return this.#host.hasRoute();
    }

    /** @returns {number | undefined} */
    routeLengthM() {
        return this.#host.routeLengthM();
    }

    /** Each position's shortest distance to the route, metres. */
    routeOffsetsM(lat, lon) {
        return this.#host.routeOffsetsM(lat, lon);
    }

    /** How far along the route each position lies, metres from its start. */
    routeProgressM(lat, lon) {
        return this.#host.routeProgressM(lat, lon);
    }

    /** The lengths of the legs between consecutive positions, metres: n positions, n - 1 legs. */
    legsM(lat, lon) {
        return legsM(lat, lon);
    }

    /** Each position's distance to `to` (`{ lat, lon }`), metres: inside a zone when at most its `radiusM`. */
    distancesToM(lat, lon, to) {
        return distancesToM(lat, lon, to);
    }
}

/** The columns of an empty batch. */
const NO_FIXES = { at: [], numbers: new Float64Array(0), seal: new Uint8Array(0) };

/** The seal states, by the index the contract sends in the `seal` column. */
export const SEAL_STATES = ['unknown', 'intact', 'opened', 'cable-cut', 'housing-breached', 'fault'];

/**
 * A batch of fixes, in time order, as columns (`fixes.hdop[i]`) or as rows
 * (`fixes.row(i)`, `for (const fix of fixes)`). `at` holds Numbers of
 * milliseconds; `lat`, `lon` degrees; `speedKmh`, `courseDeg`, `hdop`,
 * `sats`, `batteryPct` numbers, NaN where the device did not report one: every
 * comparison with NaN is false, so an unreported hdop is never above a limit.
 * `seal` holds each fix's seal state as its index in `SEAL_STATES`; a row has
 * its name ('unknown', 'intact', 'opened', 'cable-cut', 'housing-breached' or
 * 'fault'). Rows are objects made on demand: a rule over long batches that
 * reads only two columns spends less fuel reading the columns.
 */
export class Fixes {
    constructor(columns) {
        this.at = Float64Array.from(columns.at, Number);
        // The contract sends the seven numeric columns as one list, one after the other.
        const n = this.at.length;
        const column = (k) => columns.numbers.subarray(k * n, (k + 1) * n);
        this.lat = column(0);
        this.lon = column(1);
        this.speedKmh = column(2);
        this.courseDeg = column(3);
        this.hdop = column(4);
        this.sats = column(5);
        this.batteryPct = column(6);
        this.seal = columns.seal;
    }

    /** The number of fixes; 0 when only time has passed. */
    get length() {
        return this.at.length;
    }

    /** Fix `i` as `{ at, lat, lon, speedKmh, courseDeg, hdop, sats, batteryPct, seal }`. */
    row(i) {
        return {
            at: this.at[i],
            lat: this.lat[i],
            lon: this.lon[i],
            speedKmh: this.speedKmh[i],
            courseDeg: this.courseDeg[i],
            hdop: this.hdop[i],
            sats: this.sats[i],
            batteryPct: this.batteryPct[i],
            seal: SEAL_STATES[this.seal[i]],
        };
    }

    /**
     * The batch's positions as `{ lat, lon }` columns, preceded by `previous` (anything with `lat`
     * and `lon`, such as the last fix of the previous batch) unless it is null: what
     * `transit.legsM` takes to measure the leg into the batch as well as those within it.
     */
    positionsAfter(previous) {
        if (previous === null || previous === undefined) return { lat: this.lat, lon: this.lon };
        const lat = new Float64Array(this.length + 1);
        const lon = new Float64Array(this.length + 1);
        [lat[0], lon[0]] = [previous.lat, previous.lon];
        lat.set(this.lat, 1);
        lon.set(this.lon, 1);
        return { lat, lon };
    }

    *[Symbol.iterator]() {
        for (let i = 0; i < this.length; i++) yield this.row(i);
    }
}

// ---------------------------------------------------------------------------
// Findings and evidence

/**
 * A finding as the contract carries it, from the author's
 * `{ code, severity, message, from, to, position, evidence }`: `severity` is
 * 'info', 'warning', 'violation' or 'critical'; `from` and `to` are Numbers of
 * milliseconds, whole; `position` is `{ lat, lon }` or left out.
 */
function toContract({ code, severity, message, from, to, position, evidence = [] }) {
    return { code, severity, message, from: BigInt(from), to: BigInt(to), position: position ?? undefined, evidence };
}

/**
 * A number for the host to print with `decimals` digits after the point, as
 * Rust's `{:.N}` does (ties to even): `number('max_offset_m', 1234.56, 0)`
 * reads "1235" in every report, whatever language wrote the policy. The unit
 * goes in the name. `value` finite, `decimals` 0 to 9.
 */
export function number(name, value, decimals) {
    return { name, value: { tag: 'number', val: { value, decimals } } };
}

/** A whole number, such as a count. */
export function integer(name, value) {
    return { name, value: { tag: 'integer', val: BigInt(value) } };
}

/** One text. */
export function text(name, value) {
    return { name, value: { tag: 'text', val: value } };
}

/** A list of texts. */
export function texts(name, values) {
    return { name, value: { tag: 'texts', val: values } };
}

// ---------------------------------------------------------------------------
// Episodes

/**
 * A run of consecutive fixes that all meet some condition (outside the
 * corridor, above a speed, with a poor hdop), with the fix where a measured
 * value peaked: `{ from, to, fixes, peak, peakAt, peakLat, peakLon }`, times
 * in milliseconds. Keep the open one in the state, so that a run spanning
 * batches stays one finding; it is plain data, so the state saves as it is.
 * A fix here is anything with `at`, `lat` and `lon`.
 */
export const Episode = {
    /** Starts a run at `fix`, whose measured value is `value`. */
    start(fix, value) {
        return { from: fix.at, to: fix.at, fixes: 1, peak: value, peakAt: fix.at, peakLat: fix.lat, peakLon: fix.lon };
    },

    /** Starts a run at an earlier time `from` (a fix the rule let go of, such as the one before a jump) up to `fix`. */
    startAt(from, fix, value) {
        return { ...Episode.start(fix, value), from };
    },

    /** Adds `fix` to the run; `value` becomes the peak if it is larger. */
    extend(episode, fix, value) {
        episode.to = fix.at;
        episode.fixes += 1;
        if (value > episode.peak) {
            episode.peak = value;
            episode.peakAt = fix.at;
            episode.peakLat = fix.lat;
            episode.peakLon = fix.lon;
        }
    },

    /** Extends `open`, or starts a run if it is null; returns the run to keep. */
    startOrExtend(open, fix, value) {
        if (open === null || open === undefined) return Episode.start(fix, value);
        Episode.extend(open, fix, value);
        return open;
    },

    /** Minutes from the first to the last fix of the run. */
    minutes(episode) {
        return (episode.to - episode.from) / MINUTE_MS;
    },

    /** Where the peak was measured, as a finding's `position`. */
    peakPosition(episode) {
        return { lat: episode.peakLat, lon: episode.peakLon };
    },
};

// ---------------------------------------------------------------------------
// State

/** The state the previous call saved, or a fresh `initial()` for the first batch. */
function loadState(bytes, initial) {
    if (bytes.length === 0) return initial();
    return JSON.parse(new TextDecoder().decode(bytes), revive);
}

/** The state as bytes for the host to hand back, JSON in UTF-8. */
function saveState(state) {
    return new TextEncoder().encode(JSON.stringify(state, replace));
}

// JSON has no BigInt, and writes -0 as 0 and NaN or ±Infinity as null (an
// infinitely fast jump is a peak like any other). Such values are saved as a
// one-key object naming their type, so the state reads back as it was.
function replace(_key, value) {
    if (typeof value === 'bigint') return { int: value.toString() };
    if (typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0))) {
        return { float: Object.is(value, -0) ? '-0' : String(value) };
    }
    return value;
}

function revive(_key, value) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const keys = Object.keys(value);
    if (keys.length !== 1) return value;
    if (keys[0] === 'int') return BigInt(value.int);
    if (keys[0] === 'float') return Number(value.float);
    return value;
}

// ---------------------------------------------------------------------------
// Numbers in messages, as Rust writes them
//
// A customs officer must read the same sentence whichever language wrote a
// policy, and reports are compared byte for byte. JavaScript's own formatting
// differs from Rust's: `toFixed` rounds a tie (an `x.5` exact in binary) away
// from zero where Rust's `{:.N}` rounds the exact value half to even
// (0.5 → "0", 2.5 → "2"), and `String(x)` writes exponents below 1e-6 and
// from 1e21, where Rust's `{}` never does.

/**
 * Rust's `format!("{:.N}", x)`: `x` rounded to `decimals` digits after the
 * point, half to even on its exact binary value. `fixed(2.5, 0)` is "2".
 * @param {number} x
 * @param {number} decimals
 */
export function fixed(x, decimals) {
    if (Number.isNaN(x)) return 'NaN';
    const sign = x < 0 || Object.is(x, -0) ? '-' : '';
    const magnitude = Math.abs(x);
    if (magnitude === Infinity) return `${sign}inf`;
    // `toFixed` rounds the exact value too and differs only on a tie, so
    // unless `magnitude` is within rounding error of one (or too large for
    // `toFixed`), it is the answer; the exact expansion below costs far more.
    const shifted = magnitude * 10 ** decimals; // off by at most 2^-13 below 2^40
    if (shifted < 2 ** 40 && Math.abs(shifted - Math.floor(shifted) - 0.5) > 1e-3) {
        return sign + magnitude.toFixed(decimals);
    }
    const { scaled, scale } = exactDecimal(magnitude); // magnitude = scaled / 10^scale
    let units; // magnitude rounded to `decimals` digits, times 10^decimals
    if (scale <= decimals) {
        units = scaled * 10n ** BigInt(decimals - scale);
    } else {
        const divisor = 10n ** BigInt(scale - decimals);
        units = scaled / divisor;
        const twiceRest = (scaled % divisor) * 2n;
        if (twiceRest > divisor || (twiceRest === divisor && units % 2n === 1n)) units += 1n;
    }
    const digits = units.toString().padStart(decimals + 1, '0');
    return decimals === 0 ? sign + digits : `${sign}${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/**
 * Rust's `format!("{}", x)`: the shortest digits that read back as `x`
 * (5 → "5", 0.1 → "0.1"), never in exponent notation.
 * @param {number} x
 */
export function display(x) {
    if (Number.isNaN(x)) return 'NaN';
    const sign = x < 0 || Object.is(x, -0) ? '-' : '';
    const magnitude = Math.abs(x);
    if (magnitude === Infinity) return `${sign}inf`;
    if (magnitude === 0) return `${sign}0`;
    let shortest = decimalDigits(magnitude.toString());
    // When x lies exactly halfway between two shortest candidates, JavaScript
    // takes the one with an even last digit and Rust the upper one. Two
    // decimals of at most 15 digits never read as the same double, so such a
    // tie needs 16 digits or more.
    if (shortest.digits.length >= 16) {
        const { scaled, scale } = exactDecimal(magnitude);
        const exact = decimalDigits(`${scaled}e-${scale}`);
        if (exact.point === shortest.point && exact.digits === `${shortest.digits}5`) {
            const unit = shortest.point - shortest.digits.length; // the exponent of the last digit
            const upper = decimalDigits(`${BigInt(shortest.digits) + 1n}e${unit}`);
            if (Number(`0.${upper.digits}e${upper.point}`) === magnitude) shortest = upper;
        }
    }
    const { digits, point } = shortest;
    if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
    if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
    return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A positive number written `123.45` or `1.2345e2` as `0.DIGITS × 10^point`: `{ digits: '12345', point: 3 }`. */
function decimalDigits(written) {
    const [mantissa, exponent = '0'] = written.split('e');
    const [whole, fraction = ''] = mantissa.split('.');
    const all = whole + fraction;
    const leadingZeros = all.length - all.replace(/^0+/, '').length;
    const digits = all.slice(leadingZeros).replace(/0+$/, '');
    return { digits, point: whole.length + Number(exponent) - leadingZeros };
}

/**
 * The exact decimal value of a finite, non-negative double, as `scaled / 10^scale`.
 * A double is `m · 2^e`; for `e < 0` that is `m · 5^-e / 10^-e`, exact and finite.
 */
function exactDecimal(x) {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    const bits = view.getBigUint64(0);
    const biasedExponent = Number((bits >> 52n) & 0x7ffn);
    const fraction = bits & ((1n << 52n) - 1n);
    // Normal numbers have an implicit leading 1 bit; subnormals (biased
    // exponent 0) do not, and share the exponent of the smallest normal.
    const mantissa = biasedExponent === 0 ? fraction : fraction | (1n << 52n);
    const exponent = Math.max(biasedExponent, 1) - 1075; // x = mantissa · 2^exponent
    if (exponent >= 0) return { scaled: mantissa << BigInt(exponent), scale: 0 };
    return { scaled: mantissa * 5n ** BigInt(-exponent), scale: -exponent };
}

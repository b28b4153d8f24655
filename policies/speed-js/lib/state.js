// The state a policy keeps between batches. The host stores it as opaque
// bytes and hands it back with the next batch; here it is JSON in UTF-8.

import { PolicyError } from './errors.js';

/**
 * Reads the state the previous call returned; the first call of a transit gets
 * empty bytes and so `initial`.
 * @param {Uint8Array} bytes
 * @param {() => object} initial
 */
export function load(bytes, initial) {
    if (bytes.length === 0) return initial();
    try {
        return JSON.parse(new TextDecoder().decode(bytes), revive);
    } catch (e) {
        throw new PolicyError(`state from the previous batch is unreadable: ${e.message}`);
    }
}

/**
 * Encodes the state to hand back to the host.
 * @param {object} state
 * @returns {Uint8Array}
 */
export function save(state) {
    return new TextEncoder().encode(JSON.stringify(state, replace));
}

// JSON has no BigInt (timestamps), and writes -0 as 0 and NaN or ±Infinity as
// null. Such values are written as a one-key object naming their type, so
// that the state reads back exactly what was saved.
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

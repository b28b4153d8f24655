// A policy's parameters: declared in `describe`, looked up by name in each
// call. The host has already checked every value against the declaration, so
// a lookup fails only if the policy asks for a name it never declared.

import { PolicyError } from './errors.js';

/**
 * The declaration of a `float` parameter, for `describe`.
 * @param {string} name  snake_case, with its unit
 * @param {number} value  the default
 * @param {string} doc  one sentence for the regulator who sets it
 */
export function floatSpec(name, value, doc) {
    return { name, kind: 'float', default: { tag: 'float', val: value }, doc };
}

/**
 * The value of the `float` parameter `name`.
 * @param {Array<{name: string, value: {tag: string, val: unknown}}>} params
 * @param {string} name
 * @returns {number}
 */
export function float(params, name) {
    const param = params.find((p) => p.name === name);
    if (param === undefined) throw new PolicyError(`parameter \`${name}\` was not passed`);
    if (param.value.tag !== 'float') throw new PolicyError(`parameter \`${name}\` is not a float`);
    return param.value.val;
}

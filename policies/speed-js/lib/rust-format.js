// Numbers written the way Rust writes them.
//
// Findings are compared byte for byte with those of the Rust policies, and a
// customs officer must read the same sentence whichever language a policy is
// written in. JavaScript's own formatting differs from Rust's in two places:
//
// - `Number.prototype.toFixed` rounds a tie (an `x.5` that is exact in binary)
//   away from zero; Rust's `format!("{:.N}", x)` rounds the exact binary value
//   half to even, so 0.5 → "0", 1.5 → "2", 2.5 → "2".
// - `String(x)` switches to exponent notation below 1e-6 and from 1e21;
//   Rust's `format!("{}", x)` never does, and prints the sign of -0.

/**
 * Rust's `format!("{:.N}", x)`: `x` rounded to `digits` decimals, half to even.
 * @param {number} x
 * @param {number} digits
 * @returns {string}
 */
export function fixed(x, digits) {
    if (Number.isNaN(x)) return 'NaN';
    const sign = isNegative(x) ? '-' : '';
    const magnitude = Math.abs(x);
    if (magnitude === Infinity) return `${sign}inf`;

    // `toFixed` rounds the exact value too, and differs only on a tie. So
    // unless `magnitude` is within rounding error of a tie (or too large for
    // `toFixed`), it is the answer; the exact expansion below costs far more.
    const shifted = magnitude * 10 ** digits; // off by at most 2^-13 below 2^40
    if (shifted < 2 ** 40 && Math.abs(shifted - Math.floor(shifted) - 0.5) > 1e-3) {
        return sign + magnitude.toFixed(digits);
    }

    // magnitude == scaled / 10^scale, exactly.
    const { scaled, scale } = exactDecimal(magnitude);
    let units; // magnitude rounded to `digits` decimals, times 10^digits
    if (scale <= digits) {
        units = scaled * 10n ** BigInt(digits - scale);
    } else {
        const divisor = 10n ** BigInt(scale - digits);
        units = scaled / divisor;
        const twiceRest = (scaled % divisor) * 2n;
        if (twiceRest > divisor || (twiceRest === divisor && units % 2n === 1n)) units += 1n;
    }

    const text = units.toString().padStart(digits + 1, '0');
    if (digits === 0) return sign + text;
    return `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/**
 * Rust's `format!("{}", x)` of an `f64`: the shortest digits that read back as
 * `x` (5 → "5", 5.5 → "5.5"), never in exponent notation.
 * @param {number} x
 * @returns {string}
 */
export function display(x) {
    if (Number.isNaN(x)) return 'NaN';
    const sign = isNegative(x) ? '-' : '';
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
            const unit = shortest.point - shortest.digits.length; // exponent of the last digit
            const upper = decimalDigits(`${BigInt(shortest.digits) + 1n}e${unit}`);
            if (Number(`0.${upper.digits}e${upper.point}`) === magnitude) shortest = upper;
        }
    }

    const { digits, point } = shortest;
    if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
    if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
    return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * A positive number written as `123.45` or `1.2345e2`, as `0.DIGITS × 10^point`
 * with no leading or trailing zero in DIGITS: `{digits: '12345', point: 3}`.
 * @param {string} text
 * @returns {{digits: string, point: number}}
 */
function decimalDigits(text) {
    const [mantissa, exponent = '0'] = text.split('e');
    const [whole, fraction = ''] = mantissa.split('.');
    const all = whole + fraction;
    const leadingZeros = all.length - all.replace(/^0+/, '').length;
    return {
        digits: all.slice(leadingZeros).replace(/0+$/, ''),
        point: whole.length + Number(exponent) - leadingZeros,
    };
}

/** Whether the sign bit is set: true for -0 too, as Rust prints "-0". */
function isNegative(x) {
    return x < 0 || Object.is(x, -0);
}

/**
 * The exact decimal value of a finite, non-negative double, as an integer
 * `scaled` and a number of decimals `scale`. A double is `m · 2^e`; for
 * `e < 0` that is `m · 5^-e / 10^-e`, so the expansion is exact and finite.
 * @param {number} x
 * @returns {{scaled: bigint, scale: number}}
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

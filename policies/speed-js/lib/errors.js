// Failures of the policy itself (not findings): the `err` of the contract's
// `result<_, string>`.

/**
 * An error the host receives as `err(message)`. componentize-js turns a thrown
 * value that has its own `payload` property into `err(payload)`; a plain
 * `Error` would make the component trap instead.
 */
export class PolicyError extends Error {
    constructor(message) {
        super(message);
        this.payload = message;
    }
}

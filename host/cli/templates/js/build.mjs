// Builds a policy's JavaScript into a WebAssembly component, for
// `escort policy build`: node build.mjs SOURCE WIT_DIR OUTPUT.
//
// Every feature that would import WASI is disabled, so the component imports
// only what the contract's world offers (the host's `geo` and `transits`).
// componentize-js maps the working folder (the project) as the component's
// root: the policy's imports of its own modules and of the SDK in `.escort/`
// are paths within it.

import { writeFile } from 'node:fs/promises';
import { componentize } from './node_modules/@bytecodealliance/componentize-js/src/componentize.js';

const [sourcePath, witPath, output] = process.argv.slice(2);
const { component } = await componentize({
    sourcePath,
    witPath,
    worldName: 'escort-policy',
    disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});
await writeFile(output, component);

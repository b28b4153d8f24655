//! Escort's default policies: corridor, dwell, eligibility, seal, signal,
//! speed and transit, compiled from `policies/` into components by the build
//! script and embedded here as bytes, so that `escort check` works without
//! `--policies`.
//!
//! Depending on this crate builds the seven policies for `wasm32-unknown-unknown`
//! once (the build script adds the target with `rustup` when it is missing);
//! an embedder that brings its own components does not need it.
//!
//! ```no_run
//! use escort_engine::Sandbox;
//!
//! let sandbox = Sandbox::new()?;
//! let policies = escort_builtin::policies(&sandbox)?;
//! assert_eq!(policies.policies().len(), escort_builtin::COMPONENTS.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use escort_engine::{LoadError, Policy, PolicySet, Sandbox};

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// The component of the default policy `id`, if there is one.
pub fn component(id: &str) -> Option<&'static [u8]> {
    COMPONENTS
        .iter()
        .find(|(builtin, _)| *builtin == id)
        .map(|(_, bytes)| *bytes)
}

/// The default policy set, with default parameters. Each policy's origin is
/// `built-in ID`.
pub fn policies(sandbox: &Sandbox) -> Result<PolicySet, LoadError> {
    let policies = COMPONENTS
        .iter()
        .map(|(id, bytes)| Policy::load(sandbox, &format!("built-in {id}"), bytes))
        .collect::<Result<Vec<_>, _>>()?;
    PolicySet::new(policies)
}

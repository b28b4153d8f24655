//! One sandbox per test process, on the tests' component cache, and the
//! built-in policy set loaded into it once.

use std::sync::OnceLock;

use escort_engine::{ComponentCache, PolicySet, Sandbox};

use crate::workspace::cache_dir;

/// The sandbox every test of the process loads its policies into.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox::with_cache(ComponentCache::in_dir(cache_dir())).expect("the sandbox starts"))
}

/// The default policy set that ships with Escort, with default parameters.
pub fn builtin() -> &'static PolicySet {
    static BUILTIN: OnceLock<PolicySet> = OnceLock::new();
    BUILTIN.get_or_init(|| escort_builtin::policies(sandbox()).expect("the built-in policies load"))
}

//! Where the tests find the repository they test, and where they keep the
//! policies they compile between runs.

use std::path::{Path, PathBuf};

/// The workspace's root folder (this crate is its `tests/`).
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
}

/// The tests' component cache, `target/escort-test-cache`: every sandbox,
/// binary and server of every test crate compiles policies into it, so that
/// only the first test run of a checkout pays for compiling them.
pub fn cache_dir() -> PathBuf {
    workspace().join("target/escort-test-cache")
}

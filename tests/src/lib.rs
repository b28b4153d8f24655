//! Escort's test kit: what every test crate of the workspace shares, so that
//! there is one way to do each thing a test needs (as ripgrep's
//! `tests/util.rs`):
//!
//! - find the workspace and the tests' component cache ([`workspace`],
//!   [`cache_dir`]), and evaluate in one sandbox on that cache ([`sandbox`],
//!   [`builtin`]);
//! - read a scenario folder as `escort check` reads it ([`Scenario`],
//!   [`scenarios`], [`scenario`]);
//! - run the `escort` binary ([`escort`], [`escort_command`]);
//! - start `escort serve` on loopback and talk to it ([`Server`], [`Client`]);
//! - use the hostile policies, built once by this crate's build script
//!   ([`HOSTILE_POLICY`], [`HOSTILE_POLICY_0_2`], [`hostile_bundle`],
//!   [`live_hostile`]).
//!
//! The golden scenarios, hostile-policy and id tests themselves are this
//! crate's `suite` test binary; the command line's and the service's tests
//! live with the `escort` binary in `host/cli/tests`, which alone can run it.

#![deny(missing_docs)]

mod binary;
mod bundle;
mod hostile;
mod sandbox;
mod scenario;
mod server;
mod workspace;

pub use binary::{audit_verify, check, escort, escort_command, use_binary};
pub use bundle::{copy_dir, tar_of};
pub use hostile::{
    HOSTILE_DESCRIBE_BLOAT, HOSTILE_DESCRIBE_CROWD, HOSTILE_POLICY, HOSTILE_POLICY_0_2, HOSTILE_POLICY_V2,
    hostile_bundle, hostile_bundle_of, live_hostile,
};
pub use sandbox::{builtin, sandbox};
pub use scenario::{Scenario, moved, ndjson_line, opening_at, scenario, scenarios, template_scenario, transit_as};
pub use server::{Client, INGEST, OFFICER, REGULATOR, Server, eventually, metric, serve_refused, settings};
pub use workspace::{cache_dir, workspace};

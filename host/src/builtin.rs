//! The default policy set, compiled from `policies/` by the build script and
//! embedded in the binary, so that `escort check` works without `--policies`.

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

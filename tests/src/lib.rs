//! Escort test suite: see `suite/`.

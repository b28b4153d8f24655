//! Escort's test suite: one binary, one module per concern, on the test kit
//! this crate's library is (`src/`).
//!
//! - `golden`: every scenario in `tests/scenarios` against its `expected.json`, plus
//!   what must hold across all of them (coverage of the SPEC's codes, clean
//!   runs, determinism, streaming equal to batch);
//! - `hostile`: policies that misbehave on purpose, built from `hostile/`;
//! - `hostile_0_2`: the same for contract 0.2, built from `hostile-0-2/`;
//! - `ids`: the transit id rule over every shipped id and other spellings;
//! - `modules`: no import cycle between the modules of a host crate;
//! - `reference`: `docs/reference.md`'s finding codes against the golden files;
//! - `routes`: the default policies on routes that cross the antimeridian or
//!   run far from a spoofed track.

mod golden;
mod hostile;
mod hostile_0_2;
mod ids;
mod modules;
mod reference;
mod routes;

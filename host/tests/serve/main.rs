//! `escort serve` as a seal gateway, an officer and a regulator use it: the
//! real binary on loopback, with its real SQLite files.

mod access;
mod audit;
mod durability;
mod reload;
mod requests;
mod streaming;
mod support;
mod tick;

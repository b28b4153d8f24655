//! `escort serve` as a seal gateway, an officer and a regulator use it (the
//! real binary on loopback, with its real SQLite files), and policy bundles
//! as a regulator makes, signs and publishes them. The server, the binary
//! and the hostile policy come from the test kit, `escort-tests`.

mod access;
mod audit;
mod bundles;
mod clock;
mod data_folder;
mod durability;
mod edge;
mod group_commit;
mod ids;
mod isolation;
mod keys;
mod languages;
mod publishing;
mod reload;
mod requests;
mod streaming;
mod tick;
mod versions;

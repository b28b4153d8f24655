//! Great-circle distance computed inside the component, for the few rules
//! that need one distance at a time (a stop's anchor against each new fix).
//! Batch questions go to a [`Geodesy`](crate::Geodesy) instead: the host's
//! `geo` interface inside a component.

use crate::Position;

/// Mean Earth radius in metres (IUGG), the same the host uses.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Haversine distance between two positions, in metres.
///
/// # Examples
/// ```
/// use escort_policy_sdk::{distance_m, Position};
/// let almaty = Position { lat: 43.25667, lon: 76.92861 };
/// let taraz = Position { lat: 42.9, lon: 71.36667 };
/// assert!((distance_m(almaty, taraz) - 453_000.0).abs() < 2_000.0);
/// ```
pub fn distance_m(a: Position, b: Position) -> f64 {
    let (lat_a, lat_b) = (a.lat.to_radians(), b.lat.to_radians());
    let d_lat = lat_b - lat_a;
    let d_lon = (b.lon - a.lon).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat_a.cos() * lat_b.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

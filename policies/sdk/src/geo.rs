//! The geodesy a rule runs on, as a trait: the host's `geo` interface inside a
//! component ([`HostGeodesy`]), or a native implementation when the same rule
//! runs outside WebAssembly, where the contract's imports cannot be called
//! (benchmarks against the component, tests).
//!
//! A rule written against [`Geodesy`] is the same source in both places; its
//! `impl Policy` only forwards the call with [`HostGeodesy::new`].

use crate::bindings::escort::policy::geo as host;
use crate::{Position, Route};

/// The geodesy a rule runs on: the host's `geo` interface inside a component,
/// or a native implementation when the same rule runs outside WebAssembly
/// (benchmarks, tests).
///
/// It mirrors the contract's `geo` interface, with the transit's route folded
/// in: the route's questions answer `None` when the transit declares no route.
/// All distances are metres on the WGS 84 mean sphere (haversine, radius
/// 6,371,008.8 m, as [`distance_m`](crate::distance_m)); all positions are
/// WGS 84 degrees. Every question takes whole columns of positions, `lat[i]`
/// and `lon[i]` being position `i`, so that a batch costs one call to the host.
///
/// # Examples
///
/// A native geodesy for a transit without a route, and a rule that runs on
/// any geodesy:
///
/// ```
/// use escort_policy_sdk::{Geodesy, Position, Zone, distance_m};
///
/// struct Routeless;
///
/// impl Geodesy for Routeless {
///     fn route_length_m(&self) -> Option<f64> {
///         None
///     }
///     fn offsets_m(&self, _: &[f64], _: &[f64]) -> Option<Vec<f64>> {
///         None
///     }
///     fn progress_m(&self, _: &[f64], _: &[f64]) -> Option<Vec<f64>> {
///         None
///     }
///     fn distances_to_m(&self, lat: &[f64], lon: &[f64], to: Position) -> Vec<f64> {
///         lat.iter().zip(lon).map(|(&lat, &lon)| distance_m(Position { lat, lon }, to)).collect()
///     }
///     fn legs_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
///         let positions: Vec<Position> = lat.iter().zip(lon).map(|(&lat, &lon)| Position { lat, lon }).collect();
///         positions.windows(2).map(|leg| distance_m(leg[0], leg[1])).collect()
///     }
/// }
///
/// /// How many of the positions are inside `zone`: in a component, `geo` is
/// /// `HostGeodesy::new(route)` and this costs one host call.
/// fn inside(geo: &impl Geodesy, zone: &Zone, lat: &[f64], lon: &[f64]) -> usize {
///     zone.contains(geo, lat, lon).into_iter().filter(|&inside| inside).count()
/// }
///
/// let almaty = Zone {
///     id: "ALMATY-TC".into(),
///     name: "Almaty terminal".into(),
///     center: Position { lat: 43.30, lon: 76.95 },
///     radius_m: 1500.0,
/// };
/// // 0.01° of latitude is 1.1 km.
/// assert_eq!(inside(&Routeless, &almaty, &[43.30, 43.31, 43.40], &[76.95, 76.95, 76.95]), 2);
/// assert!(!Routeless.has_route());
/// ```
pub trait Geodesy {
    /// Whether the transit declares a route, that is whether the route's
    /// questions have answers. By default, whether [`route_length_m`] does;
    /// [`HostGeodesy`] answers without asking the host.
    ///
    /// [`route_length_m`]: Geodesy::route_length_m
    fn has_route(&self) -> bool {
        self.route_length_m().is_some()
    }

    /// Length of the transit's route along its line, in metres; `None` when
    /// the transit declares no route.
    fn route_length_m(&self) -> Option<f64>;

    /// For each position, its shortest distance to the route in metres;
    /// `None` without a route.
    fn offsets_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>>;

    /// For each position, how far along the route (metres from its start) the
    /// point of the route closest to it lies; `None` without a route.
    fn progress_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>>;

    /// For each position, its distance in metres to `to`.
    fn distances_to_m(&self, lat: &[f64], lon: &[f64], to: Position) -> Vec<f64>;

    /// The lengths in metres of the legs between consecutive positions: `n`
    /// positions give `n - 1` legs (none for fewer than two).
    fn legs_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64>;
}

/// The host's geodesy, inside a component: each question is one call to the
/// contract's `geo` interface, with the route the host passed to the policy.
///
/// Outside WebAssembly the contract's imports cannot be called (they panic):
/// run a rule natively with a native [`Geodesy`] instead.
#[derive(Clone, Copy)]
pub struct HostGeodesy<'a> {
    route: Option<&'a Route>,
}

impl<'a> HostGeodesy<'a> {
    /// The geodesy of one call, over the route the host passed to it (`None`
    /// when the transit declares no route). Asks the host nothing yet.
    pub fn new(route: Option<&'a Route>) -> Self {
        HostGeodesy { route }
    }
}

impl Geodesy for HostGeodesy<'_> {
    fn has_route(&self) -> bool {
        self.route.is_some()
    }

    fn route_length_m(&self) -> Option<f64> {
        self.route.map(Route::length_m)
    }

    fn offsets_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
        self.route.map(|route| route.offsets_m(lat, lon))
    }

    fn progress_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
        self.route.map(|route| route.progress_m(lat, lon))
    }

    fn distances_to_m(&self, lat: &[f64], lon: &[f64], to: Position) -> Vec<f64> {
        host::distances_to_m(lat, lon, to)
    }

    fn legs_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
        host::legs_m(lat, lon)
    }
}

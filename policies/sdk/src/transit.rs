//! The transit a rule judges, and the geodesy around it: the host's inside a
//! component, any other when the same rule runs natively (unit tests,
//! benchmarks against the component).
//!
//! Under contract 0.2 the host holds the transit of the call: each question
//! is one call to the host, which copies only its answer into the component.
//! So a rule asks for what it needs, once per call: `transit.destination()`
//! costs one zone, never the goods list.

use crate::{AuthorisedStop, Declaration, Fix, Fixes, Position, Timestamp, Zone, distance_m};

/// Great-circle geodesy: the host's `geo` interface inside a component.
///
/// All distances are metres on the WGS 84 mean sphere (haversine, radius
/// 6,371,008.8 m, as [`distance_m`]); all positions are WGS 84 degrees.
/// Every question takes whole columns, `lat[i]` and `lon[i]` being position
/// `i`, so that a batch costs one call to the host. The provided methods
/// compute natively with [`distance_m`], the host's formula; a component's
/// [`Transit`] asks the host instead, under the call's geodesy budget.
pub trait Geodesy {
    /// For each position, its distance in metres to `to`.
    fn distances_to_m(&self, lat: &[f64], lon: &[f64], to: Position) -> Vec<f64> {
        lat.iter()
            .zip(lon)
            .map(|(&lat, &lon)| distance_m(Position { lat, lon }, to))
            .collect()
    }

    /// The lengths in metres of the legs between consecutive positions: `n`
    /// positions give `n - 1` legs (none for fewer than two).
    fn legs_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
        let at = |i: usize| Position {
            lat: lat[i],
            lon: lon[i],
        };
        (1..lat.len().min(lon.len()))
            .map(|i| distance_m(at(i - 1), at(i)))
            .collect()
    }

    /// For each fix of a batch, the length in metres of the leg into it:
    /// from the fix before it or, for the first, from `last`, the fix before
    /// the batch (the previous batch's last), `None` without one. One
    /// [`Geodesy::legs_m`] for the whole batch, none for an empty batch.
    ///
    /// # Examples
    /// ```
    /// use escort_policy_sdk::{DeclaredTransit, Fix, Fixes, Geodesy};
    /// // 0.01° of latitude is 1.1 km.
    /// let fixes: Fixes = [Fix::new(60_000, 43.31, 76.95), Fix::new(120_000, 43.32, 76.95)].into_iter().collect();
    /// let transit = DeclaredTransit::example();
    /// let first = transit.legs_into_m(None, &fixes);
    /// assert!(first[0].is_none() && first[1].is_some_and(|m| (m - 1112.0).abs() < 1.0));
    /// let later = transit.legs_into_m(Some(&Fix::new(0, 43.30, 76.95)), &fixes);
    /// assert!(later[0].is_some_and(|m| (m - 1112.0).abs() < 1.0));
    /// ```
    fn legs_into_m(&self, last: Option<&Fix>, fixes: &Fixes) -> Vec<Option<f64>> {
        if fixes.is_empty() {
            return Vec::new();
        }
        let (mut lat, mut lon) = (Vec::with_capacity(fixes.len() + 1), Vec::with_capacity(fixes.len() + 1));
        lat.extend(last.map(|last| last.lat));
        lon.extend(last.map(|last| last.lon));
        lat.extend_from_slice(fixes.lat());
        lon.extend_from_slice(fixes.lon());
        let mut legs = Vec::with_capacity(fixes.len());
        if last.is_none() {
            legs.push(None); // nothing leads into the first fix
        }
        legs.extend(self.legs_m(&lat, &lon).into_iter().map(Some));
        assert_eq!(legs.len(), fixes.len(), "the geodesy measured every leg");
        legs
    }
}

/// The transit a rule judges, as declared when it was opened, with its
/// route and the geodesy around it.
///
/// Inside a component the host answers each question (see the module
/// docs); natively, [`DeclaredTransit`] or a type of the caller's answers.
///
/// # Examples
///
/// A rule that asks only what it needs:
///
/// ```
/// use escort_policy_sdk::{DeclaredTransit, Transit};
///
/// /// How many of the positions are inside the destination zone.
/// fn at_destination(transit: &impl Transit, lat: &[f64], lon: &[f64]) -> usize {
///     transit.destination().contains(transit, lat, lon).into_iter().filter(|&inside| inside).count()
/// }
///
/// let transit = DeclaredTransit::example();
/// // 0.01° of latitude is 1.1 km; the terminal's radius is 1.5 km.
/// assert_eq!(at_destination(&transit, &[43.30, 43.31, 43.40], &[76.95, 76.95, 76.95]), 2);
/// ```
pub trait Transit: Geodesy {
    /// The transit's id.
    fn id(&self) -> String;
    /// When it was opened.
    fn opened_at(&self) -> Timestamp;
    /// When the goods must reach the destination, if declared.
    fn deadline(&self) -> Option<Timestamp>;
    /// The corridor's half-width declared for this transit, metres; when
    /// `None`, a rule uses its own parameter.
    fn corridor_m(&self) -> Option<f64>;
    /// The customs office of departure.
    fn departure(&self) -> Zone;
    /// The customs office of destination.
    fn destination(&self) -> Zone;
    /// Where the truck may stop, and for how long.
    fn stops(&self) -> Vec<AuthorisedStop>;
    /// Who and what the transit declares: parties, goods, seal, vehicle.
    fn declaration(&self) -> Declaration;

    /// Whether the transit declares a route; without one, the route's
    /// questions answer `None`.
    fn has_route(&self) -> bool;
    /// Length of the route along its line, metres.
    fn route_length_m(&self) -> Option<f64>;
    /// For each position, its shortest distance to the route, metres.
    fn route_offsets_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>>;
    /// For each position, how far along the route (metres from its start)
    /// the point of the route closest to it lies.
    fn route_progress_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>>;
}

/// A transit as plain data, without a route: what a rule's unit tests judge
/// natively. Geodesy is computed with [`distance_m`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredTransit {
    /// The transit's id.
    pub id: String,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// The delivery deadline, if declared.
    pub deadline: Option<Timestamp>,
    /// The declared corridor half-width, metres.
    pub corridor_m: Option<f64>,
    /// The customs office of departure.
    pub departure: Zone,
    /// The customs office of destination.
    pub destination: Zone,
    /// The authorised stops.
    pub stops: Vec<AuthorisedStop>,
    /// Parties, goods, seal and vehicle.
    pub declaration: Declaration,
}

impl DeclaredTransit {
    /// A green-zone transit opened at time 0 from and to the Almaty terminal,
    /// with a seal, no goods, no stops and no deadline: a start for tests,
    /// changed with struct update syntax.
    pub fn example() -> DeclaredTransit {
        let terminal = Zone {
            id: "ALMATY-TC".into(),
            name: "Almaty terminal".into(),
            center: Position { lat: 43.30, lon: 76.95 },
            radius_m: 1500.0,
        };
        DeclaredTransit {
            id: "KZ-2021-000123".into(),
            opened_at: 0,
            deadline: None,
            corridor_m: None,
            departure: terminal.clone(),
            destination: terminal,
            stops: Vec::new(),
            declaration: Declaration {
                number: None,
                seal_id: Some("NS-778812".into()),
                vehicle: None,
                importer: crate::Party {
                    bin: "990240000111".into(),
                    name: "Alatau Trade LLP".into(),
                    zone: crate::RiskZone::Green,
                },
                carrier: None,
                goods: Vec::new(),
            },
        }
    }
}

impl Geodesy for DeclaredTransit {}

impl Transit for DeclaredTransit {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn opened_at(&self) -> Timestamp {
        self.opened_at
    }
    fn deadline(&self) -> Option<Timestamp> {
        self.deadline
    }
    fn corridor_m(&self) -> Option<f64> {
        self.corridor_m
    }
    fn departure(&self) -> Zone {
        self.departure.clone()
    }
    fn destination(&self) -> Zone {
        self.destination.clone()
    }
    fn stops(&self) -> Vec<AuthorisedStop> {
        self.stops.clone()
    }
    fn declaration(&self) -> Declaration {
        self.declaration.clone()
    }
    fn has_route(&self) -> bool {
        false
    }
    fn route_length_m(&self) -> Option<f64> {
        None
    }
    fn route_offsets_m(&self, _: &[f64], _: &[f64]) -> Option<Vec<f64>> {
        None
    }
    fn route_progress_m(&self, _: &[f64], _: &[f64]) -> Option<Vec<f64>> {
        None
    }
}

/// The transit of the call in progress: every question is one call to the
/// contract's `transit` or `geo` interface.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub struct HostTransit;

#[cfg(target_arch = "wasm32")]
mod host {
    use super::HostTransit;
    use crate::bindings::escort::policy::{geo, transit};
    use crate::{AuthorisedStop, Declaration, Geodesy, Position, Timestamp, Transit, Zone};

    impl Geodesy for HostTransit {
        fn distances_to_m(&self, lat: &[f64], lon: &[f64], to: Position) -> Vec<f64> {
            geo::distances_to_m(lat, lon, to)
        }
        fn legs_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
            geo::legs_m(lat, lon)
        }
    }

    impl Transit for HostTransit {
        fn id(&self) -> String {
            transit::id()
        }
        fn opened_at(&self) -> Timestamp {
            transit::opened_at()
        }
        fn deadline(&self) -> Option<Timestamp> {
            transit::deadline()
        }
        fn corridor_m(&self) -> Option<f64> {
            transit::corridor_m()
        }
        fn departure(&self) -> Zone {
            transit::departure()
        }
        fn destination(&self) -> Zone {
            transit::destination()
        }
        fn stops(&self) -> Vec<AuthorisedStop> {
            transit::stops()
        }
        fn declaration(&self) -> Declaration {
            transit::declaration()
        }
        fn has_route(&self) -> bool {
            transit::has_route()
        }
        fn route_length_m(&self) -> Option<f64> {
            transit::route_length_m()
        }
        fn route_offsets_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
            transit::route_offsets_m(lat, lon)
        }
        fn route_progress_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
            transit::route_progress_m(lat, lon)
        }
    }
}

//! What the host answers a policy's imports, for every contract version:
//! the `geo` interface of 0.1 and 0.2 and the `transit` and `batch`
//! interfaces of 0.2, served by the sandbox's store data ([`CallState`]).
//!
//! The answers are the host's own geodesy and the transit and batch it lends
//! the call; every question about positions is checked and charged to the
//! call's geodesy budget first ([`CallState::ask`]). This module joins the
//! two layers below it: the contract's generated traits and the sandbox's
//! store, neither of which names the other.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::contract::{Imports, LentTransit, RouteRef, v0_1, v0_2};
use crate::geodesy::{RouteIndex, distance_m};
use crate::sandbox::CallState;

impl CallState {
    /// `geo.distances-to-m` of every contract version: for each position,
    /// its distance in metres to `(to_lat, to_lon)`.
    fn distances_to_m(&mut self, lat: &[f64], lon: &[f64], to_lat: f64, to_lon: f64) -> wasmtime::Result<Vec<f64>> {
        self.ask(lat, lon)?;
        self.ask(&[to_lat], &[to_lon])?;
        Ok(lat
            .iter()
            .zip(lon)
            .map(|(&lat, &lon)| distance_m(lat, lon, to_lat, to_lon))
            .collect())
    }

    /// `geo.legs-m` of every contract version: the lengths in metres of the
    /// legs between consecutive positions.
    fn legs_m(&mut self, lat: &[f64], lon: &[f64]) -> wasmtime::Result<Vec<f64>> {
        self.ask(lat, lon)?;
        Ok(lat
            .windows(2)
            .zip(lon.windows(2))
            .map(|(lat, lon)| distance_m(lat[0], lon[0], lat[1], lon[1]))
            .collect())
    }

    /// The answer `answer` makes of the transit of the 0.2 call in
    /// progress, charged to the call as about `bytes` of it before it is
    /// made ([`CallState::answer`]).
    fn about_transit<T>(
        &mut self,
        bytes: impl FnOnce(&LentTransit) -> usize,
        answer: impl FnOnce(&LentTransit) -> T,
    ) -> wasmtime::Result<T> {
        let bytes = bytes(self.call_transit()?);
        self.answer(bytes)?;
        Ok(answer(self.call_transit()?))
    }

    /// The route `handle` lends a call of contract 0.1.
    fn route(&self, handle: &Resource<RouteRef>) -> wasmtime::Result<&RouteIndex> {
        Ok(&self.lent(handle)?.0)
    }
}

impl v0_1::geo::HostRoute for CallState {
    fn length_m(&mut self, route: Resource<RouteRef>) -> wasmtime::Result<f64> {
        Ok(self.route(&route)?.length_m())
    }

    fn offsets_m(&mut self, route: Resource<RouteRef>, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        self.ask(&lat, &lon)?;
        Ok(self.route(&route)?.offsets_m(&lat, &lon))
    }

    fn progress_m(&mut self, route: Resource<RouteRef>, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        self.ask(&lat, &lon)?;
        Ok(self.route(&route)?.progress_m(&lat, &lon))
    }

    fn drop(&mut self, route: Resource<RouteRef>) -> wasmtime::Result<()> {
        self.take_back(route)
    }
}

impl v0_1::geo::Host for CallState {
    fn distances_to_m(&mut self, lat: Vec<f64>, lon: Vec<f64>, to: v0_1::Position) -> wasmtime::Result<Vec<f64>> {
        CallState::distances_to_m(self, &lat, &lon, to.lat, to.lon)
    }

    fn legs_m(&mut self, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        CallState::legs_m(self, &lat, &lon)
    }
}

impl v0_2::geo::Host for CallState {
    fn distances_to_m(&mut self, lat: Vec<f64>, lon: Vec<f64>, to: v0_2::Position) -> wasmtime::Result<Vec<f64>> {
        CallState::distances_to_m(self, &lat, &lon, to.lat, to.lon)
    }

    fn legs_m(&mut self, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Vec<f64>> {
        CallState::legs_m(self, &lat, &lon)
    }
}

impl v0_2::transit::Host for CallState {
    fn id(&mut self) -> wasmtime::Result<String> {
        self.about_transit(|lent| lent.transit.id.len(), |lent| lent.transit.id.clone())
    }

    fn opened_at(&mut self) -> wasmtime::Result<i64> {
        self.about_transit(|_| SCALAR_BYTES, |lent| lent.transit.opened_at.timestamp_millis())
    }

    fn deadline(&mut self) -> wasmtime::Result<Option<i64>> {
        self.about_transit(
            |_| SCALAR_BYTES,
            |lent| lent.transit.deadline.map(|d| d.timestamp_millis()),
        )
    }

    fn corridor_m(&mut self) -> wasmtime::Result<Option<f64>> {
        self.about_transit(|_| SCALAR_BYTES, |lent| lent.transit.corridor_m)
    }

    fn departure(&mut self) -> wasmtime::Result<v0_2::Zone> {
        self.about_transit(
            |lent| zone_bytes(&lent.transit.departure),
            |lent| v0_2::zone(&lent.transit.departure),
        )
    }

    fn destination(&mut self) -> wasmtime::Result<v0_2::Zone> {
        self.about_transit(
            |lent| zone_bytes(&lent.transit.destination),
            |lent| v0_2::zone(&lent.transit.destination),
        )
    }

    fn stops(&mut self) -> wasmtime::Result<Vec<v0_2::AuthorisedStop>> {
        self.about_transit(
            |lent| {
                let stops = &lent.transit.stops;
                stops.iter().map(|stop| zone_bytes(&stop.zone) + SCALAR_BYTES).sum()
            },
            |lent| v0_2::stops(&lent.transit.stops),
        )
    }

    fn declaration(&mut self) -> wasmtime::Result<v0_2::Declaration> {
        self.about_transit(
            |lent| declaration_bytes(&lent.transit),
            |lent| v0_2::declaration(&lent.transit),
        )
    }

    fn has_route(&mut self) -> wasmtime::Result<bool> {
        self.about_transit(|_| SCALAR_BYTES, |lent| lent.route.is_some())
    }

    fn route_length_m(&mut self) -> wasmtime::Result<Option<f64>> {
        self.about_transit(|_| SCALAR_BYTES, |lent| lent.route.as_deref().map(RouteIndex::length_m))
    }

    fn route_offsets_m(&mut self, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Option<Vec<f64>>> {
        self.ask(&lat, &lon)?;
        let route = self.call_transit()?.route.as_deref();
        Ok(route.map(|route| route.offsets_m(&lat, &lon)))
    }

    fn route_progress_m(&mut self, lat: Vec<f64>, lon: Vec<f64>) -> wasmtime::Result<Option<Vec<f64>>> {
        self.ask(&lat, &lon)?;
        let route = self.call_transit()?.route.as_deref();
        Ok(route.map(|route| route.progress_m(&lat, &lon)))
    }
}

/// What an answer of a number, a time or a flag is charged.
const SCALAR_BYTES: usize = 8;

/// About what a zone is lowered into: its texts and three numbers.
fn zone_bytes(zone: &crate::Zone) -> usize {
    zone.id.len() + zone.name.len() + 3 * SCALAR_BYTES
}

/// About what a declaration is lowered into: its texts, and a few numbers
/// for each party and goods line.
fn declaration_bytes(transit: &crate::Transit) -> usize {
    let texts: usize = [&transit.declaration, &transit.seal_id, &transit.vehicle]
        .into_iter()
        .flatten()
        .map(String::len)
        .sum();
    let parties: usize = std::iter::once(&transit.importer)
        .chain(&transit.carrier)
        .map(|party| party.bin.len() + party.name.len() + SCALAR_BYTES)
        .sum();
    let goods: usize = transit
        .goods
        .iter()
        .map(|item| item.hs.len() + item.description.len() + 2 * SCALAR_BYTES)
        .sum();
    texts + parties + goods
}

impl Imports for CallState {
    fn fixes_v0_2(&mut self) -> wasmtime::Result<Arc<v0_2::Fixes>> {
        let fixes = self.call_fixes()?;
        // The time and seven numbers, 8 bytes each, and the seal's byte, per fix.
        self.answer(fixes.at.len() * (8 * SCALAR_BYTES + 1))?;
        Ok(fixes)
    }
}

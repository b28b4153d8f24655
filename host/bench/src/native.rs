//! The default policies compiled natively into this binary: the same Rust
//! source as the shipped components, called as plain functions through the
//! SDK's own contract path ([`sdk::observe_configured`]: parameters read
//! once, as a component reads them in `configure`; state loaded and saved
//! on every call). This is the limit the WebAssembly figures are measured
//! against.
//!
//! A native call asks the transit what a component asks the host, and gets
//! each answer as an owned copy, as a component does; its geodesy is the
//! host's own: the route index a component reaches through the lent transit
//! is the same [`RouteIndex`] here.

use std::sync::Arc;

use escort_policy_sdk as sdk;

use super::Answer;
use escort_engine::contract::LentTransit;
use escort_engine::geodesy::{RouteIndex, distance_m};
use escort_engine::{ParamValue, Policy, Transit};

/// `observe` of one default policy with its parameters read, natively.
pub type Observe = Box<dyn Fn(&NativeTransit, &sdk::Fixes, i64, &[u8]) -> Result<sdk::Observation, String>>;

/// The native `observe` of the default policy `id` with the parameter
/// `values`, read once.
pub fn observe_of(id: &str, values: &[sdk::ParamValue]) -> Option<Result<Observe, String>> {
    Some(match id {
        "corridor" => configured::<escort_policy_corridor::Corridor>(values),
        "dwell" => configured::<escort_policy_dwell::Dwell>(values),
        "eligibility" => configured::<escort_policy_eligibility::Eligibility>(values),
        "seal" => configured::<escort_policy_seal::Seal>(values),
        "signal" => configured::<escort_policy_signal::Signal>(values),
        "speed" => configured::<escort_policy_speed::Speed>(values),
        "transit" => configured::<escort_policy_transit::TransitPolicy>(values),
        _ => return None,
    })
}

fn configured<P: sdk::Policy + 'static>(values: &[sdk::ParamValue]) -> Result<Observe, String> {
    let params = <P::Params as sdk::Params>::from_values(values)?;
    Ok(Box::new(move |transit, fixes, now, state| {
        sdk::observe_configured::<P>(transit, &params, fixes, now, state)
    }))
}

/// The transit as the host lends it, answered directly instead of through
/// the contract's imports.
pub struct NativeTransit {
    transit: Arc<LentTransit>,
}

impl NativeTransit {
    fn declared(&self) -> &Transit {
        self.transit.transit()
    }

    fn route(&self) -> Option<&RouteIndex> {
        self.transit.route().map(|route| &**route)
    }
}

fn zone(zone: &escort_engine::Zone) -> sdk::Zone {
    sdk::Zone {
        id: zone.id.clone(),
        name: zone.name.clone(),
        center: sdk::Position {
            lat: zone.lat,
            lon: zone.lon,
        },
        radius_m: zone.radius_m,
    }
}

fn party(party: &escort_engine::Party) -> sdk::Party {
    sdk::Party {
        bin: party.bin.clone(),
        name: party.name.clone(),
        zone: match party.zone {
            escort_engine::RiskZone::Green => sdk::RiskZone::Green,
            escort_engine::RiskZone::Yellow => sdk::RiskZone::Yellow,
            escort_engine::RiskZone::Red => sdk::RiskZone::Red,
        },
    }
}

impl sdk::Geodesy for NativeTransit {
    fn distances_to_m(&self, lat: &[f64], lon: &[f64], to: sdk::Position) -> Vec<f64> {
        lat.iter()
            .zip(lon)
            .map(|(&lat, &lon)| distance_m(lat, lon, to.lat, to.lon))
            .collect()
    }

    fn legs_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
        lat.windows(2)
            .zip(lon.windows(2))
            .map(|(lat, lon)| distance_m(lat[0], lon[0], lat[1], lon[1]))
            .collect()
    }
}

impl sdk::Transit for NativeTransit {
    fn id(&self) -> String {
        self.declared().id.clone()
    }

    fn opened_at(&self) -> i64 {
        self.declared().opened_at.timestamp_millis()
    }

    fn deadline(&self) -> Option<i64> {
        self.declared().deadline.map(|deadline| deadline.timestamp_millis())
    }

    fn corridor_m(&self) -> Option<f64> {
        self.declared().corridor_m
    }

    fn departure(&self) -> sdk::Zone {
        zone(&self.declared().departure)
    }

    fn destination(&self) -> sdk::Zone {
        zone(&self.declared().destination)
    }

    fn stops(&self) -> Vec<sdk::AuthorisedStop> {
        self.declared()
            .stops
            .iter()
            .map(|stop| sdk::AuthorisedStop {
                zone: zone(&stop.zone),
                max_minutes: stop.max_minutes,
            })
            .collect()
    }

    fn declaration(&self) -> sdk::Declaration {
        let transit = self.declared();
        sdk::Declaration {
            number: transit.declaration.clone(),
            seal_id: transit.seal_id.clone(),
            vehicle: transit.vehicle.clone(),
            importer: party(&transit.importer),
            carrier: transit.carrier.as_ref().map(party),
            goods: transit
                .goods
                .iter()
                .map(|item| sdk::GoodsItem {
                    hs: item.hs.clone(),
                    description: item.description.clone(),
                    value_usd: item.value_usd,
                    excise: item.excise,
                })
                .collect(),
        }
    }

    fn has_route(&self) -> bool {
        self.route().is_some()
    }

    fn route_length_m(&self) -> Option<f64> {
        self.route().map(RouteIndex::length_m)
    }

    fn route_offsets_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
        self.route().map(|route| route.offsets_m(lat, lon))
    }

    fn route_progress_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
        self.route().map(|route| route.progress_m(lat, lon))
    }
}

/// A batch as the SDK's columns, from the host's fixes.
pub fn fixes(fixes: &[escort_engine::Fix]) -> sdk::Fixes {
    fixes
        .iter()
        .map(|fix| sdk::Fix {
            at: fix.at.timestamp_millis(),
            lat: fix.lat,
            lon: fix.lon,
            speed_kmh: fix.speed_kmh,
            course_deg: fix.course_deg,
            hdop: fix.hdop,
            sats: fix.sats.map(f64::from),
            battery_pct: fix.battery_pct,
            seal: match fix.seal {
                None => sdk::SealState::Unknown,
                Some(escort_engine::SealState::Intact) => sdk::SealState::Intact,
                Some(escort_engine::SealState::Opened) => sdk::SealState::Opened,
                Some(escort_engine::SealState::CableCut) => sdk::SealState::CableCut,
                Some(escort_engine::SealState::HousingBreached) => sdk::SealState::HousingBreached,
                Some(escort_engine::SealState::Fault) => sdk::SealState::Fault,
            },
        })
        .collect()
}

/// A policy's parameter values as the SDK's, in declaration order.
pub fn params(policy: &Policy) -> Vec<sdk::ParamValue> {
    policy
        .param_values()
        .into_iter()
        .map(|(_, value)| match value {
            ParamValue::Float(v) => sdk::ParamValue::Float(v),
            ParamValue::Integer(v) => sdk::ParamValue::Integer(v),
            ParamValue::Boolean(v) => sdk::ParamValue::Boolean(v),
            ParamValue::Text(v) => sdk::ParamValue::Text(v),
        })
        .collect()
}

/// A default policy's native `observe` over one transit, ready for any
/// number of calls.
pub struct NativeCall {
    observe: Observe,
    transit: NativeTransit,
}

impl NativeCall {
    /// Native calls of `policy` about `transit`, when `policy` is one of the
    /// default set.
    ///
    /// # Panics
    /// When the policy's parameter values are not of the kinds its native
    /// build declares: the two builds are of one source.
    pub fn new(policy: &Policy, transit: &Arc<LentTransit>) -> Option<NativeCall> {
        let observe = observe_of(policy.id(), &params(policy))?;
        Some(NativeCall {
            observe: observe.expect("a default policy reads its own parameters"),
            transit: NativeTransit {
                transit: Arc::clone(transit),
            },
        })
    }

    /// `observe` of `batch` as of `now` from `state`.
    pub fn observe(&self, batch: &sdk::Fixes, now: i64, state: &[u8]) -> Result<Answer, String> {
        let observation = (self.observe)(&self.transit, batch, now, state)?;
        Ok(Answer {
            findings: observation.findings.len() + observation.open.len(),
            state: observation.state,
        })
    }
}

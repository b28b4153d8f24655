//! The default policies compiled natively into this binary: the same Rust
//! source as the shipped components, called as plain functions. This is the
//! limit the WebAssembly figures are measured against.
//!
//! A native call is given what a component call is given, as owned values
//! (so it pays for one copy of its inputs, as lowering does), and the host's
//! own geodesy in place of the `geo` imports: the route index a component
//! reaches through `borrow<route>` is the same [`RouteIndex`] here.

use std::sync::Arc;

use escort_policy_sdk as sdk;

use super::Answer;
use escort_engine::contract::{route_index, v0_1};
use escort_engine::geodesy::{RouteIndex, distance_m};
use escort_engine::{ParamValue, Policy, Transit};

/// `observe` of one default policy, natively.
pub type Observe =
    fn(&NativeGeodesy, sdk::Transit, Vec<sdk::Param>, sdk::Fixes, i64, Vec<u8>) -> Result<sdk::Observation, String>;

/// The native `observe` of the default policy `id`.
pub fn observe_of(id: &str) -> Option<Observe> {
    Some(match id {
        "corridor" => |geo, transit, params, fixes, now, state| {
            escort_policy_corridor::observe(geo, transit, params, fixes, now, state)
        },
        "dwell" => |geo, transit, params, fixes, now, state| {
            escort_policy_dwell::observe(geo, transit, params, fixes, now, state)
        },
        "eligibility" => |geo, transit, params, fixes, now, state| {
            escort_policy_eligibility::observe(geo, transit, params, fixes, now, state)
        },
        "seal" => |geo, transit, params, fixes, now, state| {
            escort_policy_seal::observe(geo, transit, params, fixes, now, state)
        },
        "signal" => |geo, transit, params, fixes, now, state| {
            escort_policy_signal::observe(geo, transit, params, fixes, now, state)
        },
        "speed" => |geo, transit, params, fixes, now, state| {
            escort_policy_speed::observe(geo, transit, params, fixes, now, state)
        },
        "transit" => |geo, transit, params, fixes, now, state| {
            escort_policy_transit::observe(geo, transit, params, fixes, now, state)
        },
        _ => return None,
    })
}

/// The host's geodesy, called directly instead of through the `geo` imports.
pub struct NativeGeodesy {
    route: Option<Arc<RouteIndex>>,
}

impl NativeGeodesy {
    /// Geodesy over `route`, the transit's indexed route if it has one.
    pub fn new(route: Option<Arc<RouteIndex>>) -> NativeGeodesy {
        NativeGeodesy { route }
    }
}

impl sdk::Geodesy for NativeGeodesy {
    fn has_route(&self) -> bool {
        self.route.is_some()
    }

    fn route_length_m(&self) -> Option<f64> {
        self.route.as_ref().map(|route| route.length_m())
    }

    fn offsets_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
        let route = self.route.as_ref()?;
        Some(
            lat.iter()
                .zip(lon)
                .map(|(&lat, &lon)| route.locate(lat, lon).offset_m)
                .collect(),
        )
    }

    fn progress_m(&self, lat: &[f64], lon: &[f64]) -> Option<Vec<f64>> {
        let route = self.route.as_ref()?;
        Some(
            lat.iter()
                .zip(lon)
                .map(|(&lat, &lon)| route.locate(lat, lon).progress_m)
                .collect(),
        )
    }

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

/// The host's lowered transit as the SDK's type.
pub fn transit(t: &v0_1::Transit) -> sdk::Transit {
    sdk::Transit {
        id: t.id.clone(),
        declaration: t.declaration.clone(),
        seal_id: t.seal_id.clone(),
        vehicle: t.vehicle.clone(),
        importer: party(&t.importer),
        carrier: t.carrier.as_ref().map(party),
        goods: t
            .goods
            .iter()
            .map(|item| sdk::GoodsItem {
                hs: item.hs.clone(),
                description: item.description.clone(),
                value_usd: item.value_usd,
                excise: item.excise,
            })
            .collect(),
        departure: zone(&t.departure),
        destination: zone(&t.destination),
        stops: t
            .stops
            .iter()
            .map(|stop| sdk::AuthorisedStop {
                zone: zone(&stop.zone),
                max_minutes: stop.max_minutes,
            })
            .collect(),
        corridor_m: t.corridor_m,
        opened_at: t.opened_at,
        deadline: t.deadline,
    }
}

fn party(p: &v0_1::Party) -> sdk::Party {
    sdk::Party {
        bin: p.bin.clone(),
        name: p.name.clone(),
        zone: match p.zone {
            v0_1::RiskZone::Green => sdk::RiskZone::Green,
            v0_1::RiskZone::Yellow => sdk::RiskZone::Yellow,
            v0_1::RiskZone::Red => sdk::RiskZone::Red,
        },
    }
}

fn zone(z: &v0_1::Zone) -> sdk::Zone {
    sdk::Zone {
        id: z.id.clone(),
        name: z.name.clone(),
        center: sdk::Position {
            lat: z.center.lat,
            lon: z.center.lon,
        },
        radius_m: z.radius_m,
    }
}

/// The host's batch columns as the SDK's.
pub fn fixes(f: &v0_1::Fixes) -> sdk::Fixes {
    sdk::Fixes {
        at: f.at.clone(),
        lat: f.lat.clone(),
        lon: f.lon.clone(),
        speed_kmh: f.speed_kmh.clone(),
        course_deg: f.course_deg.clone(),
        hdop: f.hdop.clone(),
        sats: f.sats.clone(),
        battery_pct: f.battery_pct.clone(),
        seal: f
            .seal
            .iter()
            .map(|seal| match seal {
                v0_1::SealState::Unknown => sdk::SealState::Unknown,
                v0_1::SealState::Intact => sdk::SealState::Intact,
                v0_1::SealState::Opened => sdk::SealState::Opened,
                v0_1::SealState::CableCut => sdk::SealState::CableCut,
                v0_1::SealState::HousingBreached => sdk::SealState::HousingBreached,
                v0_1::SealState::Fault => sdk::SealState::Fault,
            })
            .collect(),
    }
}

/// A policy's parameter values as the SDK's.
pub fn params(policy: &Policy) -> Vec<sdk::Param> {
    policy
        .param_values()
        .into_iter()
        .map(|(name, value)| sdk::Param {
            name: name.to_owned(),
            value: match value {
                ParamValue::Float(v) => sdk::ParamValue::Float(v),
                ParamValue::Integer(v) => sdk::ParamValue::Integer(v),
                ParamValue::Boolean(v) => sdk::ParamValue::Boolean(v),
                ParamValue::Text(v) => sdk::ParamValue::Text(v),
            },
        })
        .collect()
}

/// A default policy's native `observe` over one transit, ready for any
/// number of calls.
pub struct NativeCall {
    observe: Observe,
    geo: NativeGeodesy,
    transit: sdk::Transit,
    params: Vec<sdk::Param>,
}

impl NativeCall {
    /// Native calls of `policy` about `transit`, when `policy` is one of the
    /// default set.
    pub fn new(policy: &Policy, transit: &Transit) -> Option<NativeCall> {
        Some(NativeCall {
            observe: observe_of(policy.id())?,
            geo: NativeGeodesy::new(route_index(transit)),
            transit: self::transit(&v0_1::Transit::of(transit)),
            params: params(policy),
        })
    }

    /// `observe` of `batch` as of `now` from `state`.
    pub fn observe(&self, batch: &sdk::Fixes, now: i64, state: &[u8]) -> Result<Answer, String> {
        let observation = (self.observe)(
            &self.geo,
            self.transit.clone(),
            self.params.clone(),
            batch.clone(),
            now,
            state.to_vec(),
        )?;
        Ok(Answer {
            findings: observation.findings.len() + observation.open.len(),
            state: observation.state,
        })
    }
}

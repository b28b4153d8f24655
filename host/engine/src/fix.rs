//! One position report from a navigation seal: [`Fix`], and the [`SealState`] it may carry.
//!
//! A `Fix` is what every reader in [`crate::telemetry`] produces and every policy consumes, whatever
//! file it came from. Readers build a `Fix` from the wire and then ask `Fix::check` whether it is
//! physically possible, so the rules of `docs/reference.md` § Fixes ("latitude outside ±90", "negative speed", …)
//! live in one place and word their rejections the same way for NDJSON, GPX and CSV.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state of the seal's cable and housing as the seal itself reports it (`docs/reference.md` § Fixes, `seal`).
///
/// On the wire these are the snake_case names `intact`, `opened`, `cable_cut`, `housing_breached` and
/// `fault`. A fix without a `seal` field has an unknown state, which is `None` in [`Fix::seal`], not a
/// variant here: "no report" must never read as "intact".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealState {
    /// Cable locked and housing closed.
    Intact,
    /// The seal was opened through its own mechanism (lawful only at the destination).
    Opened,
    /// The locking cable was cut.
    CableCut,
    /// The seal's housing was broken into.
    HousingBreached,
    /// The seal reports an internal fault and cannot vouch for the cargo.
    Fault,
}

impl SealState {
    /// Every state, in the order `docs/reference.md` § Fixes lists them.
    pub const ALL: [SealState; 5] = [
        SealState::Intact,
        SealState::Opened,
        SealState::CableCut,
        SealState::HousingBreached,
        SealState::Fault,
    ];

    /// The state's name on the wire, e.g. `"cable_cut"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SealState::Intact => "intact",
            SealState::Opened => "opened",
            SealState::CableCut => "cable_cut",
            SealState::HousingBreached => "housing_breached",
            SealState::Fault => "fault",
        }
    }

    /// The state with this wire name, or `None` for anything else.
    ///
    /// Exact and case-sensitive, like the serde form: `"Intact"` is not a state.
    ///
    /// # Examples
    /// ```
    /// use escort_engine::SealState;
    /// assert_eq!(SealState::from_name("cable_cut"), Some(SealState::CableCut));
    /// assert_eq!(SealState::from_name("broken"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<SealState> {
        SealState::ALL.into_iter().find(|state| state.as_str() == name)
    }
}

impl fmt::Display for SealState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One position report from a navigation seal (`docs/reference.md` § Fixes).
///
/// Every optional field is `None` when the source did not report it; readers never invent defaults,
/// because a policy must be able to tell "0 satellites" from "satellites not reported".
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// When the seal took the fix, in UTC (`at` on the wire).
    pub at: DateTime<Utc>,
    /// WGS 84 latitude in degrees, -90..=90.
    pub lat: f64,
    /// WGS 84 longitude in degrees, -180..=180.
    pub lon: f64,
    /// Ground speed reported by the receiver, km/h, >= 0 (`speed_kmh`).
    pub speed_kmh: Option<f64>,
    /// Course over ground, degrees clockwise from true north, 0..=360 (`course`).
    pub course_deg: Option<f64>,
    /// Horizontal dilution of precision, dimensionless, >= 0 (`hdop`).
    pub hdop: Option<f64>,
    /// Number of satellites used for the fix (`sats`).
    pub sats: Option<u32>,
    /// Charge left in the seal's battery, percent, 0..=100 (`battery`).
    pub battery_pct: Option<f64>,
    /// Seal state at the time of the fix (`seal`); `None` is "unknown".
    pub seal: Option<SealState>,
    /// Identifier of the seal that sent the fix (`seal_id`), for matching against the transit's seal.
    pub seal_id: Option<String>,
}

impl Fix {
    /// A fix with a time and a position and nothing else measured, as a
    /// receiver that reports no speed, course, quality, battery or seal
    /// sends it.
    ///
    /// # Examples
    /// ```
    /// use escort_engine::Fix;
    /// let at = "2021-05-16T06:05:00Z".parse().unwrap();
    /// let fix = Fix::at_position(at, 44.16, 80.39);
    /// assert_eq!((fix.lat, fix.lon, fix.seal), (44.16, 80.39, None));
    /// ```
    pub fn at_position(at: DateTime<Utc>, lat: f64, lon: f64) -> Fix {
        Fix {
            at,
            lat,
            lon,
            speed_kmh: None,
            course_deg: None,
            hdop: None,
            sats: None,
            battery_pct: None,
            seal: None,
            seal_id: None,
        }
    }

    /// Checks that the fix could be real: coordinates on the globe, every number finite, and each
    /// optional measurement inside its physical range.
    ///
    /// Returns the first problem as the sentence that goes into a rejected line's `reason`, naming the
    /// field and its value, e.g. `latitude 95.1 is outside -90..90`.
    pub(crate) fn check(&self) -> Result<(), String> {
        in_range("latitude", self.lat, -90.0, 90.0)?;
        in_range("longitude", self.lon, -180.0, 180.0)?;
        if let Some(speed) = self.speed_kmh {
            at_least_zero("speed_kmh", speed)?;
        }
        if let Some(course) = self.course_deg {
            // 360 is accepted because receivers round 359.96 up to it; it is the same direction as 0.
            in_range("course", course, 0.0, 360.0)?;
        }
        if let Some(hdop) = self.hdop {
            at_least_zero("hdop", hdop)?;
        }
        if let Some(battery) = self.battery_pct {
            in_range("battery", battery, 0.0, 100.0)?;
        }
        Ok(())
    }
}

fn finite(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(format!("{name} {value} is not a finite number"))
    }
}

fn in_range(name: &str, value: f64, min: f64, max: f64) -> Result<(), String> {
    finite(name, value)?;
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{name} {value} is outside {min}..{max}"))
    }
}

fn at_least_zero(name: &str, value: f64) -> Result<(), String> {
    finite(name, value)?;
    if value >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} {value} is negative"))
    }
}

/// Checks of the plausibility rules and the seal-state names; readers' tests are in `telemetry`.
/// What makes two fixes the same report (duplicates, `docs/reference.md` § Fixes):
/// time, position and seal state. A repeat with another seal state is not a
/// duplicate: dropping it could hide a breach behind an earlier `intact`
/// from the same time and place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixKey {
    at: DateTime<Utc>,
    lat_bits: u64,
    lon_bits: u64,
    seal: Option<SealState>,
}

impl FixKey {
    /// The key of a fix at `at`, at `lat`, `lon`, reporting `seal`.
    pub fn new(at: DateTime<Utc>, lat: f64, lon: f64, seal: Option<SealState>) -> FixKey {
        // Adding 0.0 turns -0.0 into 0.0: the same position, other bits.
        FixKey {
            at,
            lat_bits: (lat + 0.0).to_bits(),
            lon_bits: (lon + 0.0).to_bits(),
            seal,
        }
    }

    /// The key of a fix.
    pub fn of(fix: &Fix) -> FixKey {
        FixKey::new(fix.at, fix.lat, fix.lon, fix.seal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix() -> Fix {
        Fix {
            at: DateTime::parse_from_rfc3339("2021-05-16T06:05:00Z")
                .expect("valid time")
                .to_utc(),
            lat: 44.16,
            lon: 80.39,
            speed_kmh: Some(42.5),
            course_deg: Some(268.0),
            hdop: Some(0.9),
            sats: Some(11),
            battery_pct: Some(87.0),
            seal: Some(SealState::Intact),
            seal_id: None,
        }
    }

    #[test]
    fn a_plausible_fix_passes() {
        assert_eq!(fix().check(), Ok(()));
    }

    #[test]
    fn edges_of_each_range_pass() {
        let edge = Fix {
            lat: -90.0,
            lon: 180.0,
            speed_kmh: Some(0.0),
            course_deg: Some(360.0),
            hdop: Some(0.0),
            battery_pct: Some(100.0),
            ..fix()
        };
        assert_eq!(edge.check(), Ok(()));
    }

    #[test]
    fn each_impossible_value_is_named() {
        let cases = [
            (Fix { lat: 95.1, ..fix() }, "latitude 95.1 is outside -90..90"),
            (Fix { lon: -180.5, ..fix() }, "longitude -180.5 is outside -180..180"),
            (Fix { lat: f64::NAN, ..fix() }, "latitude NaN is not a finite number"),
            (
                Fix {
                    lon: f64::INFINITY,
                    ..fix()
                },
                "longitude inf is not a finite number",
            ),
            (
                Fix {
                    speed_kmh: Some(-3.0),
                    ..fix()
                },
                "speed_kmh -3 is negative",
            ),
            (
                Fix {
                    course_deg: Some(361.0),
                    ..fix()
                },
                "course 361 is outside 0..360",
            ),
            (
                Fix {
                    hdop: Some(-0.5),
                    ..fix()
                },
                "hdop -0.5 is negative",
            ),
            (
                Fix {
                    battery_pct: Some(101.0),
                    ..fix()
                },
                "battery 101 is outside 0..100",
            ),
            (
                Fix {
                    battery_pct: Some(f64::NAN),
                    ..fix()
                },
                "battery NaN is not a finite number",
            ),
        ];
        for (fix, reason) in cases {
            assert_eq!(fix.check(), Err(reason.to_string()));
        }
    }

    #[test]
    fn seal_states_round_trip_through_their_names() {
        for state in SealState::ALL {
            assert_eq!(SealState::from_name(state.as_str()), Some(state));
            let json = serde_json::to_string(&state).expect("serialises");
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<SealState>(&json).expect("deserialises"), state);
        }
        assert_eq!(SealState::from_name("Intact"), None);
    }
}

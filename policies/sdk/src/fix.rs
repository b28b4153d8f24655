//! Fixes as rows: the contract sends columns, rules read fixes one by one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Fixes, Position, SealState, Timestamp};

/// One fix of a batch. Values the device did not report are `None`.
///
/// A rule may keep a fix in its state, such as the last one, to compare the
/// next batch's first fix with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// When the fix was taken.
    pub at: Timestamp,
    /// Latitude, WGS 84 degrees.
    pub lat: f64,
    /// Longitude, WGS 84 degrees.
    pub lon: f64,
    /// Speed reported by the device, km/h.
    pub speed_kmh: Option<f64>,
    /// Course over ground, degrees clockwise from north.
    pub course_deg: Option<f64>,
    /// Horizontal dilution of precision; above 5 is a poor fix.
    pub hdop: Option<f64>,
    /// Satellites used.
    pub sats: Option<f64>,
    /// Seal battery charge, percent.
    pub battery_pct: Option<f64>,
    /// Seal state; `Unknown` when not reported.
    #[serde(with = "seal_state")]
    pub seal: SealState,
}

/// A [`SealState`] in a rule's state: the contract's enum, as its index.
mod seal_state {
    use super::*;

    pub(super) const ALL: [SealState; 6] = [
        SealState::Unknown,
        SealState::Intact,
        SealState::Opened,
        SealState::CableCut,
        SealState::HousingBreached,
        SealState::Fault,
    ];

    pub fn serialize<S: Serializer>(seal: &SealState, serializer: S) -> Result<S::Ok, S::Error> {
        // A match, not a search of ALL: a state the contract adds must be given an index here.
        let index: u8 = match seal {
            SealState::Unknown => 0,
            SealState::Intact => 1,
            SealState::Opened => 2,
            SealState::CableCut => 3,
            SealState::HousingBreached => 4,
            SealState::Fault => 5,
        };
        debug_assert_eq!(ALL[usize::from(index)], *seal);
        serializer.serialize_u8(index)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SealState, D::Error> {
        let index = u8::deserialize(deserializer)?;
        ALL.get(usize::from(index))
            .copied()
            .ok_or_else(|| serde::de::Error::custom(format!("no seal state {index}")))
    }
}

impl Fix {
    /// A fix that reports only its time and position; set the other fields
    /// with struct update syntax. Rules' unit tests build their fixes this way.
    ///
    /// # Examples
    /// ```
    /// use escort_policy_sdk::{Fix, SealState};
    /// let fix = Fix { seal: SealState::Opened, ..Fix::new(60_000, 43.25, 76.93) };
    /// assert_eq!((fix.at, fix.hdop, fix.seal), (60_000, None, SealState::Opened));
    /// ```
    pub fn new(at: Timestamp, lat: f64, lon: f64) -> Self {
        Fix {
            at,
            lat,
            lon,
            speed_kmh: None,
            course_deg: None,
            hdop: None,
            sats: None,
            battery_pct: None,
            seal: SealState::Unknown,
        }
    }

    /// The fix's position.
    pub fn position(&self) -> Position {
        Position {
            lat: self.lat,
            lon: self.lon,
        }
    }

    /// Whether the receiver reported an hdop above `max_hdop`.
    pub fn is_low_accuracy(&self, max_hdop: f64) -> bool {
        self.hdop.is_some_and(|hdop| hdop > max_hdop)
    }
}

fn reported(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

impl Fixes {
    /// The number of fixes in the batch.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether the batch has no fixes (only time has passed).
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Fix `i` as a row.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn row(&self, i: usize) -> Fix {
        Fix {
            at: self.at[i],
            lat: self.lat[i],
            lon: self.lon[i],
            speed_kmh: reported(self.speed_kmh[i]),
            course_deg: reported(self.course_deg[i]),
            hdop: reported(self.hdop[i]),
            sats: reported(self.sats[i]),
            battery_pct: reported(self.battery_pct[i]),
            seal: self.seal[i],
        }
    }

    /// The fixes as rows, in time order.
    pub fn rows(&self) -> impl Iterator<Item = Fix> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }
}

/// A batch as the host sends it, from rows: what a rule's `observe` takes
/// when it runs natively (tests, benchmarks). Absent values become NaN.
///
/// # Examples
/// ```
/// use escort_policy_sdk::{Fix, Fixes};
/// let fixes: Fixes = [Fix::new(0, 43.0, 76.0), Fix { hdop: Some(7.5), ..Fix::new(60_000, 43.1, 76.0) }]
///     .into_iter()
///     .collect();
/// assert_eq!((fixes.len(), fixes.lat[1]), (2, 43.1));
/// assert!(fixes.hdop[0].is_nan());
/// assert_eq!(fixes.row(1).hdop, Some(7.5));
/// ```
impl FromIterator<Fix> for Fixes {
    fn from_iter<I: IntoIterator<Item = Fix>>(rows: I) -> Self {
        let mut fixes = Fixes {
            at: Vec::new(),
            lat: Vec::new(),
            lon: Vec::new(),
            speed_kmh: Vec::new(),
            course_deg: Vec::new(),
            hdop: Vec::new(),
            sats: Vec::new(),
            battery_pct: Vec::new(),
            seal: Vec::new(),
        };
        for fix in rows {
            fixes.at.push(fix.at);
            fixes.lat.push(fix.lat);
            fixes.lon.push(fix.lon);
            fixes.speed_kmh.push(fix.speed_kmh.unwrap_or(f64::NAN));
            fixes.course_deg.push(fix.course_deg.unwrap_or(f64::NAN));
            fixes.hdop.push(fix.hdop.unwrap_or(f64::NAN));
            fixes.sats.push(fix.sats.unwrap_or(f64::NAN));
            fixes.battery_pct.push(fix.battery_pct.unwrap_or(f64::NAN));
            fixes.seal.push(fix.seal);
        }
        fixes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_kept_in_state_reads_back_the_same() {
        for seal in seal_state::ALL {
            let fix = Fix {
                hdop: Some(7.5),
                seal,
                ..Fix::new(60_000, 43.25, 76.93)
            };
            let bytes = postcard::to_allocvec(&fix).unwrap();
            assert_eq!(postcard::from_bytes::<Fix>(&bytes).unwrap(), fix);
        }
        assert!(
            postcard::from_bytes::<Fix>(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6])
                .is_err()
        );
    }
}

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

/// A [`SealState`] as a byte: its index in the contract's enum, the form of
/// the batch's `seal` column and of a rule's state.
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

    #[inline]
    pub fn index(seal: SealState) -> u8 {
        // A match, not a search of ALL: a state the contract adds must be given an index here.
        let index: u8 = match seal {
            SealState::Unknown => 0,
            SealState::Intact => 1,
            SealState::Opened => 2,
            SealState::CableCut => 3,
            SealState::HousingBreached => 4,
            SealState::Fault => 5,
        };
        debug_assert_eq!(ALL[usize::from(index)], seal);
        index
    }

    #[inline]
    pub fn of_index(index: u8) -> Option<SealState> {
        ALL.get(usize::from(index)).copied()
    }

    pub fn serialize<S: Serializer>(seal: &SealState, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(index(*seal))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SealState, D::Error> {
        let index = u8::deserialize(deserializer)?;
        of_index(index).ok_or_else(|| serde::de::Error::custom(format!("no seal state {index}")))
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
    #[inline]
    pub fn position(&self) -> Position {
        Position {
            lat: self.lat,
            lon: self.lon,
        }
    }

    /// Whether the receiver reported an hdop above `max_hdop`.
    #[inline]
    pub fn is_low_accuracy(&self, max_hdop: f64) -> bool {
        self.hdop.is_some_and(|hdop| hdop > max_hdop)
    }
}

#[inline]
fn reported(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

impl Fixes {
    /// The number of fixes in the batch.
    #[inline]
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
    #[inline(always)]
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
            seal: seal_state(self.seal[i]),
        }
    }

    /// The fixes as rows, in time order.
    #[inline]
    pub fn rows(&self) -> Rows<'_> {
        Rows { fixes: self, next: 0 }
    }

    /// The seal column as [`SealState`]s, without reading the other columns.
    #[inline]
    pub fn seal_states(&self) -> impl Iterator<Item = SealState> + '_ {
        self.seal.iter().map(|&index| seal_state(index))
    }
}

/// The host sends only the contract's six indices.
#[inline(always)]
fn seal_state(index: u8) -> SealState {
    seal_state::of_index(index).unwrap_or(SealState::Unknown)
}

/// The fixes of a batch as rows, in time order: [`Fixes::rows`].
pub struct Rows<'a> {
    fixes: &'a Fixes,
    next: usize,
}

impl Iterator for Rows<'_> {
    type Item = Fix;

    // Always inlined: a rule's loop then reads only the columns it looks at,
    // where a call per fix would build every field in memory.
    #[inline(always)]
    fn next(&mut self) -> Option<Fix> {
        let i = self.next;
        (i < self.fixes.len()).then(|| {
            self.next += 1;
            self.fixes.row(i)
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.fixes.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Rows<'_> {}

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
            fixes.seal.push(seal_state::index(fix.seal));
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

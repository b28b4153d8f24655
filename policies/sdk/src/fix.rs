//! Fixes as rows: the contract sends columns, rules read fixes one by one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bindings::escort::policy::types::Fixes as Columns;
use crate::{Position, SealState, Timestamp};

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

/// A batch of fixes, in time order, as the contract sends them: columns.
/// A rule reads fixes as rows ([`Fixes::rows`]) and hands the host's
/// geodesy whole columns ([`Fixes::lat`], [`Fixes::lon`]). In a column, a
/// number the device did not report is NaN; in a row, `None`.
///
/// Natively (tests, benchmarks) a batch is made from rows.
///
/// # Examples
/// ```
/// use escort_policy_sdk::{Fix, Fixes};
/// let fixes: Fixes = [Fix::new(0, 43.0, 76.0), Fix { hdop: Some(7.5), ..Fix::new(60_000, 43.1, 76.0) }]
///     .into_iter()
///     .collect();
/// assert_eq!((fixes.len(), fixes.lat()[1]), (2, 43.1));
/// assert!(fixes.hdop()[0].is_nan());
/// assert_eq!(fixes.rows().nth(1).unwrap().hdop, Some(7.5));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fixes {
    at: Vec<Timestamp>,
    /// The numeric columns one after the other, in the order of [`Column`].
    numbers: Vec<f64>,
    /// Each fix's seal state as its index in the contract's enum.
    seal: Vec<u8>,
}

/// The numeric columns, in the contract's order.
#[derive(Clone, Copy)]
enum Column {
    Lat,
    Lon,
    SpeedKmh,
    CourseDeg,
    Hdop,
    Sats,
    BatteryPct,
}

const COLUMNS: usize = 7;

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

    /// When each fix was taken.
    pub fn at(&self) -> &[Timestamp] {
        &self.at
    }

    /// Latitudes, WGS 84 degrees.
    pub fn lat(&self) -> &[f64] {
        self.column(Column::Lat)
    }

    /// Longitudes, WGS 84 degrees.
    pub fn lon(&self) -> &[f64] {
        self.column(Column::Lon)
    }

    /// Reported speeds, km/h.
    pub fn speed_kmh(&self) -> &[f64] {
        self.column(Column::SpeedKmh)
    }

    /// Courses over ground, degrees clockwise from north.
    pub fn course_deg(&self) -> &[f64] {
        self.column(Column::CourseDeg)
    }

    /// Horizontal dilutions of precision.
    pub fn hdop(&self) -> &[f64] {
        self.column(Column::Hdop)
    }

    /// Satellites used.
    pub fn sats(&self) -> &[f64] {
        self.column(Column::Sats)
    }

    /// Seal battery charges, percent.
    pub fn battery_pct(&self) -> &[f64] {
        self.column(Column::BatteryPct)
    }

    /// The seal states, without reading the other columns.
    #[inline]
    pub fn seal_states(&self) -> impl Iterator<Item = SealState> + '_ {
        self.seal.iter().map(|&index| seal_state(index))
    }

    /// The fixes as rows, in time order.
    #[inline]
    pub fn rows(&self) -> Rows<'_> {
        let column = |column| self.column(column);
        Rows {
            at: &self.at,
            numbers: [
                column(Column::Lat),
                column(Column::Lon),
                column(Column::SpeedKmh),
                column(Column::CourseDeg),
                column(Column::Hdop),
                column(Column::Sats),
                column(Column::BatteryPct),
            ],
            seal: &self.seal[..self.len()],
            next: 0,
        }
    }

    #[inline]
    fn column(&self, column: Column) -> &[f64] {
        let n = self.len();
        let first = column as usize * n;
        &self.numbers[first..first + n]
    }
}

/// The host sends only the contract's six indices.
#[inline(always)]
fn seal_state(index: u8) -> SealState {
    seal_state::of_index(index).unwrap_or(SealState::Unknown)
}

impl From<Columns> for Fixes {
    /// The batch as `batch.columns()` answered it, without a copy.
    fn from(columns: Columns) -> Fixes {
        Fixes {
            at: columns.at,
            numbers: columns.numbers,
            seal: columns.seal,
        }
    }
}

/// The fixes of a batch as rows, in time order: [`Fixes::rows`].
pub struct Rows<'a> {
    at: &'a [Timestamp],
    numbers: [&'a [f64]; COLUMNS],
    seal: &'a [u8],
    next: usize,
}

impl Iterator for Rows<'_> {
    type Item = Fix;

    // Always inlined: a rule's loop then reads only the columns it looks at,
    // where a call per fix would build every field in memory.
    #[inline(always)]
    fn next(&mut self) -> Option<Fix> {
        let i = self.next;
        if i >= self.at.len() {
            return None;
        }
        self.next += 1;
        let number = |column: Column| self.numbers[column as usize][i];
        Some(Fix {
            at: self.at[i],
            lat: number(Column::Lat),
            lon: number(Column::Lon),
            speed_kmh: reported(number(Column::SpeedKmh)),
            course_deg: reported(number(Column::CourseDeg)),
            hdop: reported(number(Column::Hdop)),
            sats: reported(number(Column::Sats)),
            battery_pct: reported(number(Column::BatteryPct)),
            seal: seal_state(self.seal[i]),
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.at.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Rows<'_> {}

/// A batch from rows; absent values become NaN.
impl FromIterator<Fix> for Fixes {
    fn from_iter<I: IntoIterator<Item = Fix>>(rows: I) -> Self {
        let rows: Vec<Fix> = rows.into_iter().collect();
        let numbers: [fn(&Fix) -> Option<f64>; COLUMNS] = [
            |fix| Some(fix.lat),
            |fix| Some(fix.lon),
            |fix| fix.speed_kmh,
            |fix| fix.course_deg,
            |fix| fix.hdop,
            |fix| fix.sats,
            |fix| fix.battery_pct,
        ];
        Fixes {
            at: rows.iter().map(|fix| fix.at).collect(),
            numbers: numbers
                .iter()
                .flat_map(|number| rows.iter().map(|fix| number(fix).unwrap_or(f64::NAN)))
                .collect(),
            seal: rows.iter().map(|fix| seal_state::index(fix.seal)).collect(),
        }
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

//! Stop detection: when the truck stood still.
//!
//! The rule fleet trackers use in practice (Traccar's): the truck is
//! stationary while it stays within a radius (200 m by default) of the fix
//! where it halted, for at least a minimum time (3 min). Comparing against
//! that anchor fix, not the previous fix, keeps receiver jitter around a
//! parked truck from breaking one stop into many.
//!
//! The distances are the host's geodesy, asked per batch: a trigonometric
//! function per fix costs three times as much inside a component as natively.
//! While the truck moves, every fix becomes the anchor, so the distance to
//! the anchor is the leg from the fix before (one `legs-m` for the batch).
//! While it stands, the distances to its anchor are asked in chunks that
//! double ([`FIRST_CHUNK`] first), so a long stop costs a few questions,
//! and no batch asks about more than three positions per fix, legs included
//! (the worst case: a truck that halts for one fix at every other fix).

use serde::{Deserialize, Serialize};

use crate::{Fixes, Geodesy, Position, Timestamp};

/// The distances to a new anchor asked at once, at first.
const FIRST_CHUNK: usize = 4;

/// A stationary period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    /// Time of the fix where the truck halted.
    pub from: Timestamp,
    /// Time of the last fix still within the radius.
    pub to: Timestamp,
    /// Where the truck halted.
    pub position: Position,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Anchor {
    at: Timestamp,
    lat: f64,
    lon: f64,
}

impl Anchor {
    fn position(&self) -> Position {
        Position {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// Finds stops in a stream of fixes, a batch at a time. Keep it in the
/// policy's state.
///
/// # Examples
/// ```
/// use escort_policy_sdk::{DeclaredTransit, Fix, Fixes, MINUTE_MS, StopTracker};
/// let geodesy = DeclaredTransit::example();
/// let mut stops = StopTracker::default();
/// // Parked for 40 minutes (0.001° of latitude is 111 m of jitter), then 5 km away.
/// let batch: Fixes = [Fix::new(0, 43.0, 76.0), Fix::new(40 * MINUTE_MS, 43.001, 76.0), Fix::new(45 * MINUTE_MS, 43.05, 76.0)]
///     .into_iter()
///     .collect();
/// let ended = stops.follow(&geodesy, &batch, 200.0, 3 * MINUTE_MS);
/// assert_eq!((ended.len(), ended[0].from, ended[0].to), (1, 0, 40 * MINUTE_MS));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopTracker {
    anchor: Option<Anchor>,
    last_within: Timestamp,
}

impl StopTracker {
    /// Feeds the next batch of fixes. Returns the stops that ended in it:
    /// those where the truck had stayed within `radius_m` of its anchor for
    /// at least `min_ms` before a fix farther away.
    pub fn follow(&mut self, geodesy: &impl Geodesy, fixes: &Fixes, radius_m: f64, min_ms: Timestamp) -> Vec<Stop> {
        let (at, lat, lon) = (fixes.at(), fixes.lat(), fixes.lon());
        let legs_m = if fixes.len() > 1 {
            geodesy.legs_m(lat, lon)
        } else {
            Vec::new()
        };
        let mut to_anchor = ToAnchor::default();
        // Whether the anchor is the fix before, so that the leg is the distance to it.
        let mut anchored_before = false;
        let mut ended = Vec::new();
        for i in 0..fixes.len() {
            let within = match self.anchor {
                None => false,
                Some(_) if anchored_before => legs_m[i - 1] <= radius_m,
                Some(anchor) => to_anchor.distance_m(geodesy, (lat, lon), i, anchor.position()) <= radius_m,
            };
            anchored_before = !within;
            if within {
                self.last_within = at[i];
                continue;
            }
            ended.extend(self.current(min_ms));
            self.anchor = Some(Anchor {
                at: at[i],
                lat: lat[i],
                lon: lon[i],
            });
            self.last_within = at[i];
            to_anchor = ToAnchor::default();
        }
        ended
    }

    /// The stop in progress, if the truck has been stationary for `min_ms`.
    pub fn current(&self, min_ms: Timestamp) -> Option<Stop> {
        let anchor = self.anchor?;
        (self.last_within - anchor.at >= min_ms).then_some(Stop {
            from: anchor.at,
            to: self.last_within,
            position: anchor.position(),
        })
    }
}

/// The distances from one anchor to the fixes `from..from + distances_m.len()`
/// of a batch, asked a chunk at a time.
#[derive(Default)]
struct ToAnchor {
    from: usize,
    distances_m: Vec<f64>,
}

impl ToAnchor {
    /// The distance from `anchor` to fix `i`; fixes are asked about in order.
    fn distance_m(&mut self, geodesy: &impl Geodesy, (lat, lon): (&[f64], &[f64]), i: usize, anchor: Position) -> f64 {
        if i >= self.from + self.distances_m.len() {
            let chunk = (2 * self.distances_m.len()).max(FIRST_CHUNK);
            let end = (i + chunk).min(lat.len());
            self.distances_m = geodesy.distances_to_m(&lat[i..end], &lon[i..end], anchor);
            self.from = i;
        }
        self.distances_m[i - self.from]
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::{Fix, MINUTE_MS, distance_m};

    /// The host's geodesy, counting the positions it is asked about.
    #[derive(Default)]
    struct Counting {
        positions: Cell<usize>,
    }

    impl Geodesy for Counting {
        fn distances_to_m(&self, lat: &[f64], lon: &[f64], to: Position) -> Vec<f64> {
            self.positions.set(self.positions.get() + lat.len());
            lat.iter()
                .zip(lon)
                .map(|(&lat, &lon)| distance_m(Position { lat, lon }, to))
                .collect()
        }

        fn legs_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
            self.positions.set(self.positions.get() + lat.len());
            let at = |i: usize| Position {
                lat: lat[i],
                lon: lon[i],
            };
            (1..lat.len()).map(|i| distance_m(at(i - 1), at(i))).collect()
        }
    }

    const MIN_MS: Timestamp = 3 * MINUTE_MS;

    fn fix(minute: i64, lat: f64, lon: f64) -> Fix {
        Fix::new(minute * MINUTE_MS, lat, lon)
    }

    fn follow(tracker: &mut StopTracker, fixes: &[Fix]) -> Vec<Stop> {
        tracker.follow(&Counting::default(), &fixes.iter().copied().collect(), 200.0, MIN_MS)
    }

    #[test]
    fn jitter_around_a_parked_truck_is_one_stop() {
        // 0.001° of latitude is about 111 m: jitter, not movement.
        let parked: Vec<Fix> = [(0, 43.000), (5, 43.001), (10, 42.999), (40, 43.001)]
            .into_iter()
            .map(|(minute, lat)| fix(minute, lat, 76.0))
            .collect();
        let mut tracker = StopTracker::default();
        assert_eq!(follow(&mut tracker, &parked), []);
        let stops = follow(&mut tracker, &[fix(45, 43.05, 76.0)]);
        assert_eq!(stops.len(), 1);
        assert_eq!((stops[0].from, stops[0].to), (0, 40 * MINUTE_MS));
        assert_eq!(tracker.current(MIN_MS), None);
    }

    #[test]
    fn a_short_halt_is_not_a_stop() {
        let mut tracker = StopTracker::default();
        let halt = [fix(0, 43.0, 76.0), fix(2, 43.0, 76.0), fix(4, 43.1, 76.0)];
        assert_eq!(follow(&mut tracker, &halt), []);
    }

    /// Fixes a minute apart: `pattern` says for each whether the truck
    /// moved 1 km north since the fix before or stood.
    fn drive(pattern: impl Iterator<Item = bool>) -> Vec<Fix> {
        let mut lat = 43.0;
        pattern
            .enumerate()
            .map(|(minute, moved)| {
                lat += if moved { 0.009 } else { 0.0 };
                fix(minute as i64, lat, 76.0)
            })
            .collect()
    }

    #[test]
    fn a_batch_finds_the_stops_of_its_fixes_one_by_one() {
        // Moving, parked 10 minutes, moving, parked 2, moving, parked 20.
        let pattern = [
            [true; 5].as_slice(),
            &[false; 10],
            &[true; 5],
            &[false; 2],
            &[true; 3],
            &[false; 20],
        ];
        let fixes = drive(pattern.concat().into_iter());
        let mut whole = StopTracker::default();
        let stops = follow(&mut whole, &fixes);
        assert_eq!(stops.len(), 1);
        assert_eq!((stops[0].from, stops[0].to), (4 * MINUTE_MS, 14 * MINUTE_MS));
        for split in 0..=fixes.len() {
            let mut parts = StopTracker::default();
            let (a, b) = fixes.split_at(split);
            let mut found = follow(&mut parts, a);
            found.extend(follow(&mut parts, b));
            assert_eq!((found, &parts), (stops.clone(), &whole), "split at {split}");
        }
    }

    #[test]
    fn distances_asked_stay_within_three_per_fix() {
        let patterns: [(&str, Vec<bool>); 4] = [
            ("moving", vec![true; 10_000]),
            ("parked", vec![false; 10_000]),
            (
                "halting for one fix at every other fix",
                (0..10_000).map(|i| i % 2 == 0).collect(),
            ),
            (
                "halting for two fixes at every third",
                (0..10_000).map(|i| i % 3 == 0).collect(),
            ),
        ];
        for (what, pattern) in patterns {
            let geodesy = Counting::default();
            let fixes = drive(pattern.into_iter()).into_iter().collect();
            StopTracker::default().follow(&geodesy, &fixes, 200.0, MIN_MS);
            assert!(
                geodesy.positions.get() <= 30_000,
                "{what}: {} positions",
                geodesy.positions.get()
            );
        }
    }
}

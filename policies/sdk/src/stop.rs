//! Stop detection: when the truck stood still.
//!
//! The rule fleet trackers use in practice (Traccar's): the truck is
//! stationary while it stays within a radius (200 m by default) of the fix
//! where it halted, for at least a minimum time (3 min). Comparing against
//! that anchor fix, not the previous fix, keeps receiver jitter around a
//! parked truck from breaking one stop into many.

use serde::{Deserialize, Serialize};

use crate::{Fix, Position, Timestamp, distance_m};

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

/// Finds stops in a stream of fixes, one fix at a time, across batches.
/// Keep it in the policy's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopTracker {
    anchor: Option<Anchor>,
    last_within: Timestamp,
}

impl StopTracker {
    /// Feeds the next fix. Returns the stop that this fix ended, if the truck
    /// had been within `radius_m` of its anchor for at least `min_ms`.
    pub fn push(&mut self, fix: &Fix, radius_m: f64, min_ms: Timestamp) -> Option<Stop> {
        if let Some(anchor) = self.anchor {
            let anchor_position = Position {
                lat: anchor.lat,
                lon: anchor.lon,
            };
            if distance_m(anchor_position, fix.position()) <= radius_m {
                self.last_within = fix.at;
                return None;
            }
        }
        let ended = self.current(min_ms);
        self.anchor = Some(Anchor {
            at: fix.at,
            lat: fix.lat,
            lon: fix.lon,
        });
        self.last_within = fix.at;
        ended
    }

    /// The stop in progress, if the truck has been stationary for `min_ms`.
    pub fn current(&self, min_ms: Timestamp) -> Option<Stop> {
        let anchor = self.anchor?;
        (self.last_within - anchor.at >= min_ms).then_some(Stop {
            from: anchor.at,
            to: self.last_within,
            position: Position {
                lat: anchor.lat,
                lon: anchor.lon,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MINUTE_MS;

    fn fix(minute: i64, lat: f64, lon: f64) -> Fix {
        Fix::new(minute * MINUTE_MS, lat, lon)
    }

    #[test]
    fn jitter_around_a_parked_truck_is_one_stop() {
        let mut tracker = StopTracker::default();
        // 0.001° of latitude is about 111 m: jitter, not movement.
        let parked = [(0, 43.000), (5, 43.001), (10, 42.999), (40, 43.001)];
        for (minute, lat) in parked {
            assert_eq!(tracker.push(&fix(minute, lat, 76.0), 200.0, 3 * MINUTE_MS), None);
        }
        let stop = tracker.push(&fix(45, 43.05, 76.0), 200.0, 3 * MINUTE_MS).unwrap();
        assert_eq!((stop.from, stop.to), (0, 40 * MINUTE_MS));
        assert_eq!(tracker.current(3 * MINUTE_MS), None);
    }

    #[test]
    fn a_short_halt_is_not_a_stop() {
        let mut tracker = StopTracker::default();
        tracker.push(&fix(0, 43.0, 76.0), 200.0, 3 * MINUTE_MS);
        tracker.push(&fix(2, 43.0, 76.0), 200.0, 3 * MINUTE_MS);
        assert_eq!(tracker.push(&fix(4, 43.1, 76.0), 200.0, 3 * MINUTE_MS), None);
    }
}

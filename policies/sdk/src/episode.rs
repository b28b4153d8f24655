//! A run of consecutive fixes that all meet some condition: outside the
//! corridor, above a speed, reporting a broken seal. Rules keep the open
//! episode in their state, so a run that spans batches stays one finding.

use serde::{Deserialize, Serialize};

use crate::{Fix, Position, Timestamp, minutes_between};

/// A run of consecutive fixes, with the fix where a measured value peaked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Time of the first fix of the run.
    pub from: Timestamp,
    /// Time of the last fix of the run so far.
    pub to: Timestamp,
    /// How many fixes the run holds.
    pub fixes: u32,
    /// The largest value seen (an offset, a speed, a charge: the rule decides).
    pub peak: f64,
    /// Time of the fix with the peak value.
    pub peak_at: Timestamp,
    peak_lat: f64,
    peak_lon: f64,
}

impl Episode {
    /// Starts a run at `fix`, whose measured value is `value`.
    pub fn start(fix: &Fix, value: f64) -> Self {
        Episode {
            from: fix.at,
            to: fix.at,
            fixes: 1,
            peak: value,
            peak_at: fix.at,
            peak_lat: fix.lat,
            peak_lon: fix.lon,
        }
    }

    /// Starts a run at an earlier time `from` (a fix the rule already let go
    /// of, such as the fix before a jump) that reaches `fix`.
    pub fn start_at(from: Timestamp, fix: &Fix, value: f64) -> Self {
        Episode {
            from,
            ..Episode::start(fix, value)
        }
    }

    /// Adds `fix` to the run; `value` becomes the peak if it is larger.
    pub fn extend(&mut self, fix: &Fix, value: f64) {
        self.to = fix.at;
        self.fixes += 1;
        if value > self.peak {
            self.peak = value;
            self.peak_at = fix.at;
            self.peak_lat = fix.lat;
            self.peak_lon = fix.lon;
        }
    }

    /// Starts a run at `fix` or, if one is open, extends it.
    pub fn start_or_extend(open: &mut Option<Episode>, fix: &Fix, value: f64) {
        match open {
            Some(episode) => episode.extend(fix, value),
            None => *open = Some(Episode::start(fix, value)),
        }
    }

    /// Minutes from the first to the last fix of the run.
    pub fn minutes(&self) -> f64 {
        minutes_between(self.from, self.to)
    }

    /// Where the peak value was measured.
    pub fn peak_position(&self) -> Position {
        Position {
            lat: self.peak_lat,
            lon: self.peak_lon,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(minute: i64, lat: f64) -> Fix {
        Fix::new(minute * crate::MINUTE_MS, lat, 76.0)
    }

    #[test]
    fn keeps_the_peak_and_its_place() {
        let mut open = None;
        Episode::start_or_extend(&mut open, &fix(0, 43.0), 5.0);
        Episode::start_or_extend(&mut open, &fix(4, 43.1), 9.0);
        Episode::start_or_extend(&mut open, &fix(7, 43.2), 6.0);
        let episode = open.unwrap();
        assert_eq!(episode.fixes, 3);
        assert_eq!(episode.minutes(), 7.0);
        assert_eq!(episode.peak, 9.0);
        assert_eq!(episode.peak_position().lat, 43.1);
    }
}

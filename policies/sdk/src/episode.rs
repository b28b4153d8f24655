//! A run of consecutive fixes that all meet some condition: outside the
//! corridor, above a speed, reporting a broken seal. Rules keep the open
//! episode in their state, so a run that spans batches stays one finding.

use serde::{Deserialize, Serialize};

use crate::{Evidence, Finding, Fix, Position, Severity, Timestamp, minutes_between};

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
    #[inline]
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
    #[inline]
    pub fn start_at(from: Timestamp, fix: &Fix, value: f64) -> Self {
        Episode {
            from,
            ..Episode::start(fix, value)
        }
    }

    /// Adds `fix` to the run; `value` becomes the peak if it is larger.
    #[inline]
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
    #[inline]
    pub fn start_or_extend(open: &mut Option<Episode>, fix: &Fix, value: f64) {
        match open {
            Some(episode) => episode.extend(fix, value),
            None => *open = Some(Episode::start(fix, value)),
        }
    }

    /// Follows a run through one more fix: while fixes meet the rule's
    /// condition (`value`, the measured value, is `Some`) it starts or extends
    /// the run; the first fix that does not ends the open run, which it
    /// returns for the rule to report.
    ///
    /// # Examples
    /// ```
    /// use escort_policy_sdk::{Episode, Fix};
    /// let mut fast = None;
    /// for (minute, kmh) in [(0, 120.0), (1, 130.0), (2, 90.0)] {
    ///     let fix = Fix { speed_kmh: Some(kmh), ..Fix::new(minute * 60_000, 43.3, 76.95) };
    ///     if let Some(run) = Episode::track(&mut fast, &fix, fix.speed_kmh.filter(|&kmh| kmh > 110.0)) {
    ///         assert_eq!((run.fixes, run.peak, run.minutes()), (2, 130.0, 1.0));
    ///     }
    /// }
    /// assert!(fast.is_none());
    /// ```
    #[inline]
    pub fn track(open: &mut Option<Episode>, fix: &Fix, value: Option<f64>) -> Option<Episode> {
        Episode::track_from(open, fix.at, fix, value)
    }

    /// As [`Episode::track`], but a run it starts begins at the earlier time
    /// `from`, as [`Episode::start_at`]: a jump's run starts at the fix before
    /// the jump.
    #[inline]
    pub fn track_from(open: &mut Option<Episode>, from: Timestamp, fix: &Fix, value: Option<f64>) -> Option<Episode> {
        match (value, open.as_mut()) {
            (Some(value), Some(episode)) => episode.extend(fix, value),
            (Some(value), None) => *open = Some(Episode::start_at(from, fix, value)),
            (None, _) => return open.take(),
        }
        None
    }

    /// The finding that reports the run: from its first to its last fix, at
    /// the place of its peak.
    ///
    /// # Examples
    /// ```
    /// use escort_policy_sdk::{Episode, Evidence, Fix, Severity};
    /// let mut run = Episode::start(&Fix::new(0, 43.30, 76.95), 120.0);
    /// run.extend(&Fix::new(60_000, 43.31, 76.95), 130.0);
    /// let message = format!("reported up to {:.0} km/h", run.peak);
    /// let finding = run.finding("too_fast.run", Severity::Warning, message, vec![Evidence::integer("fixes", run.fixes)]);
    /// assert_eq!((finding.from, finding.to, finding.position.unwrap().lat), (0, 60_000, 43.31));
    /// assert_eq!(finding.message, "reported up to 130 km/h");
    /// ```
    pub fn finding(
        &self,
        code: &str,
        severity: Severity,
        message: impl Into<String>,
        evidence: Vec<Evidence>,
    ) -> Finding {
        Finding {
            code: code.to_owned(),
            severity,
            message: message.into(),
            from: self.from,
            to: self.to,
            position: Some(self.peak_position()),
            evidence,
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

//! Timing a piece of work the way a benchmark must: warmed up, repeated
//! until each sample is long enough for the clock, and summarised by the
//! median so that one preempted sample does not move the figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to measure one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effort {
    /// Samples taken; the figure is their median.
    pub samples: u32,
    /// The least time one sample runs for.
    pub sample_time: Duration,
}

impl Effort {
    /// Enough for a figure stable to a few percent in well under a second.
    pub const QUICK: Effort = Effort {
        samples: 5,
        sample_time: Duration::from_millis(20),
    };
    /// The figures of `docs/performance.md`.
    pub const FULL: Effort = Effort {
        samples: 15,
        sample_time: Duration::from_millis(100),
    };
}

/// The median time of one run of `work`.
pub fn time_per_run<R>(effort: Effort, mut work: impl FnMut() -> R) -> Duration {
    // The first run pays for cold caches and lazy initialisation.
    let started = Instant::now();
    black_box(work());
    let first = started.elapsed().max(Duration::from_nanos(1));
    let runs = (effort.sample_time.as_nanos() / first.as_nanos()).clamp(1, 10_000_000) as u32;
    let mut samples: Vec<Duration> = (0..effort.samples.max(1))
        .map(|_| {
            let started = Instant::now();
            for _ in 0..runs {
                black_box(work());
            }
            started.elapsed() / runs
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// Nanoseconds in `duration`, as a float for rates and ratios.
pub fn nanos(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_is_timed_at_about_its_length() {
        let effort = Effort {
            samples: 3,
            sample_time: Duration::from_millis(5),
        };
        let median = time_per_run(effort, || std::thread::sleep(Duration::from_millis(2)));
        assert!(median >= Duration::from_millis(2), "{median:?}");
        assert!(median < Duration::from_millis(50), "{median:?}");
    }
}

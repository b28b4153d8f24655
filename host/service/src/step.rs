//! The kinds of step a transit goes through, named once: what the audit log
//! stores, what the metrics count under, and what a panic's message names.
//!
//! The names are stored in every audit record and are the labels of
//! `escort_evaluations_total` and `escort_step_panics_total`, so
//! [`StepKind::as_str`] is a contract: a name never changes.

use std::fmt;

/// What a step of a transit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepKind {
    /// A transit registered (`PUT`): admission.
    Admit,
    /// A batch of fixes (`POST .../fixes`).
    Observe,
    /// A step that evaluated the transit again from its first fix: a changed
    /// declaration, a late fix, changed policies.
    Replay,
    /// The transit's report (`GET`), evaluated and not stored.
    Report,
    /// The transit closed.
    Close,
    /// The passing of time, for every open transit.
    Tick,
    /// A transit marked for review after a step of it panicked.
    Fault,
}

impl StepKind {
    /// The kinds a panic is counted under: the steps a request or a tick
    /// runs.
    pub(crate) const PANICKING: [StepKind; 5] = [
        StepKind::Admit,
        StepKind::Observe,
        StepKind::Report,
        StepKind::Close,
        StepKind::Tick,
    ];

    /// The name stored in the audit log and shown in metrics and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Admit => "admit",
            StepKind::Observe => "observe",
            StepKind::Replay => "replay",
            StepKind::Report => "report",
            StepKind::Close => "close",
            StepKind::Tick => "tick",
            StepKind::Fault => "fault",
        }
    }

    /// The kind stored for this step once it evaluated: a replay when it
    /// began again from the transit's first fix, but an admission, which
    /// always begins there, stays one.
    pub(crate) fn evaluated(self, replayed: bool) -> StepKind {
        if replayed && self != StepKind::Admit {
            StepKind::Replay
        } else {
            self
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_is_stored_as_one_except_an_admission() {
        assert_eq!(StepKind::Observe.evaluated(true), StepKind::Replay);
        assert_eq!(StepKind::Tick.evaluated(true), StepKind::Replay);
        assert_eq!(StepKind::Close.evaluated(true), StepKind::Replay);
        assert_eq!(StepKind::Admit.evaluated(true), StepKind::Admit);
        assert_eq!(StepKind::Observe.evaluated(false), StepKind::Observe);
    }
}

//! What a batch of fixes brings to a transit's stream, counted in one
//! place: the fixes accepted, those dropped as repeats of stored ones or of
//! an earlier line, and the lines refused.
//!
//! The same three counts are the batch's answer, the transit's running
//! totals (its report's `fixes`) and the service's `escort_fixes_total`;
//! [`Intake`] holds them once so that they cannot disagree.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::store::TransitRecord;
use escort_engine::{Fix, FixKey, NdjsonBatch, Rejection};

/// A batch of fixes sorted into what the transit's stream keeps and what it
/// refuses.
pub(crate) struct Intake {
    /// New fixes, in the order received.
    pub fresh: Vec<Fix>,
    /// Fixes dropped as repeats of stored ones or of an earlier line.
    pub duplicates: u64,
    /// Refused lines, numbered within the batch.
    pub rejected: Vec<Rejection>,
    /// Lines the batch held.
    lines: u64,
}

impl Intake {
    /// Sorts a parsed batch: a line that is no fix, or a fix `refuse` gives
    /// a reason for, is refused; the others are kept, for now, as new.
    pub(crate) fn sort(batch: NdjsonBatch, refuse: impl Fn(&Fix) -> Option<String>) -> Intake {
        let mut rejected = Vec::new();
        let mut fresh = Vec::new();
        for (line, parsed) in batch.candidates {
            match parsed.and_then(|fix| refuse(&fix).map_or(Ok(fix), Err)) {
                Ok(fix) => fresh.push(fix),
                Err(reason) => rejected.push(Rejection { line, reason }),
            }
        }
        Intake {
            fresh,
            duplicates: 0,
            rejected,
            lines: batch.line_count,
        }
    }

    /// The earliest and latest times of the fixes kept, when there are any.
    pub(crate) fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let times = self.fresh.iter().map(|fix| fix.at);
        Some((times.clone().min()?, times.max()?))
    }

    /// Drops the fixes that repeat one of `stored` or an earlier one of the
    /// batch, counting them as duplicates.
    pub(crate) fn drop_repeats(&mut self, stored: impl IntoIterator<Item = FixKey>) {
        let mut seen: HashSet<FixKey> = stored.into_iter().collect();
        let before = self.fresh.len();
        self.fresh.retain(|fix| seen.insert(FixKey::of(fix)));
        self.duplicates += (before - self.fresh.len()) as u64;
    }

    /// Fixes accepted.
    pub(crate) fn accepted(&self) -> u64 {
        self.fresh.len() as u64
    }

    /// Adds the batch to the transit's running totals and to its first and
    /// latest fix; returns the refused lines numbered across the transit's
    /// whole stream, as if every batch had been one file.
    pub(crate) fn add_to(&self, record: &mut TransitRecord) -> Vec<Rejection> {
        let stream_rejections = self
            .rejected
            .iter()
            .map(|r| Rejection {
                line: record.counts.lines + r.line,
                reason: r.reason.clone(),
            })
            .collect();
        let counts = &mut record.counts;
        counts.lines += self.lines;
        counts.rejected += self.rejected.len() as u64;
        counts.duplicates += self.duplicates;
        counts.accepted += self.accepted();
        for fix in &self.fresh {
            match record.last_fix_at {
                Some(latest) if fix.at < latest => counts.out_of_order += 1,
                _ => record.last_fix_at = Some(fix.at),
            }
        }
        record.first_fix_at = record
            .first_fix_at
            .into_iter()
            .chain(self.span().map(|(first, _)| first))
            .min();
        stream_rejections
    }
}

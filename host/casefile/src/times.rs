//! Times and durations as the case file prints them: [`local_beside_utc`]
//! and [`duration`].
//!
//! An officer reads the deployment's local time and the wire speaks UTC, so
//! every time is printed in both, the local one first. The zone's offset is
//! printed as the time zone database abbreviates it (`+05` for Almaty, which
//! has no letters of its own; `UTC` for UTC), so a time is never ambiguous
//! and a change of offset (Almaty's from +06 to +05 on 2024-03-01) shows.
//! Times are printed to the second, cut rather than rounded, as a clock
//! shows them; the JSON report keeps the milliseconds.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// `at` in `zone`, and beside it in UTC: `2025-04-08 10:28:10 +05 (05:28:10
/// UTC)`, with the UTC date too when it is not the local one. In UTC itself,
/// once: `2025-04-08 05:28:10 UTC`.
pub(crate) fn local_beside_utc(at: &DateTime<Utc>, zone: Tz) -> String {
    let local = at.with_timezone(&zone);
    let local_text = local.format("%Y-%m-%d %H:%M:%S %Z").to_string();
    // UTC under any of its names (`UTC`, `Etc/UTC`, `Zulu`) is printed once.
    if local.format("%Z").to_string() == "UTC" {
        return local_text;
    }
    let utc_format = if local.date_naive() == at.date_naive() {
        "%H:%M:%S UTC"
    } else {
        "%Y-%m-%d %H:%M:%S UTC"
    };
    format!("{local_text} ({})", at.format(utc_format))
}

/// The time from `from` to `to` in words an officer reads at a glance:
/// `42 s`, `5 min 16 s`, `1 h 02 min`, `2 d 03 h 10 min`. Seconds are
/// dropped from an hour on, where they no longer matter; a `to` before
/// `from` reads `0 s`.
pub(crate) fn duration(from: &DateTime<Utc>, to: &DateTime<Utc>) -> String {
    let seconds = (*to - *from).max(TimeDelta::zero()).num_seconds();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match seconds {
        ..60 => format!("{seconds} s"),
        60..3_600 => format!("{minutes} min {:02} s", seconds % 60),
        3_600..86_400 => format!("{hours} h {minutes:02} min"),
        _ => format!("{days} d {hours:02} h {minutes:02} min"),
    }
}

#[cfg(test)]
mod tests {
    //! Local times beside UTC, across Almaty's change of offset, and
    //! durations at each unit's edge.

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn almaty_was_six_hours_ahead_in_2021_and_is_five_since_march_2024() {
        // tzdata 2024a: Asia/Almaty moved from +06 to +05 on 2024-03-01.
        let zone = chrono_tz::Asia::Almaty;
        assert_eq!(
            local_beside_utc(&at("2021-05-16T06:00:00Z"), zone),
            "2021-05-16 12:00:00 +06 (06:00:00 UTC)"
        );
        assert_eq!(
            local_beside_utc(&at("2025-04-08T05:28:10Z"), zone),
            "2025-04-08 10:28:10 +05 (05:28:10 UTC)"
        );
    }

    #[test]
    fn the_utc_date_is_given_when_it_is_not_the_local_one() {
        assert_eq!(
            local_beside_utc(&at("2025-04-07T22:00:00Z"), chrono_tz::Asia::Almaty),
            "2025-04-08 03:00:00 +05 (2025-04-07 22:00:00 UTC)"
        );
    }

    #[test]
    fn utc_is_given_once_and_named_utc() {
        assert_eq!(
            local_beside_utc(&at("2025-04-08T05:28:10.750Z"), chrono_tz::UTC),
            "2025-04-08 05:28:10 UTC"
        );
    }

    #[test]
    fn durations_at_each_units_edge() {
        let from = at("2025-04-08T00:00:00Z");
        let after = |seconds| duration(&from, &(from + TimeDelta::seconds(seconds)));
        assert_eq!(after(0), "0 s");
        assert_eq!(after(59), "59 s");
        assert_eq!(after(60), "1 min 00 s");
        assert_eq!(after(316), "5 min 16 s");
        assert_eq!(after(3_600 + 120 + 59), "1 h 02 min");
        assert_eq!(after(2 * 86_400 + 3 * 3_600 + 600), "2 d 03 h 10 min");
        assert_eq!(after(-5), "0 s");
    }
}

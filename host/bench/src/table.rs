//! The figures of a run as plain-text tables, for a terminal and for
//! `docs/performance.md` (the tables are Markdown).

use std::fmt::{self, Display, Write};

use super::Results;

/// A Markdown table built row by row.
struct Table {
    text: String,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        let mut table = Table { text: String::new() };
        table.row(header.iter());
        table.row(header.iter().map(|_| "---"));
        table
    }

    fn row<T: Display>(&mut self, cells: impl Iterator<Item = T>) {
        self.text.push('|');
        for cell in cells {
            let _ = write!(self.text, " {cell} |");
        }
        self.text.push('\n');
    }
}

/// A count with thousands separators, as the docs write them: `12,345`.
pub(crate) fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.round());
    let (sign, digits) = digits.strip_prefix('-').map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

impl Display for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(
            f,
            "escort {} on {} ({} logical CPUs, {}){}\n",
            m.escort,
            m.cpu,
            m.cpus,
            m.os,
            if self.quick { ", quick run" } else { "" }
        )?;

        writeln!(
            f,
            "WebAssembly against native (fixes per second; ratio = native time / WASM time)"
        )?;
        let mut table = Table::new(&["policy", "batch", "WASM", "native", "ratio"]);
        for row in &self.policies {
            table.row(
                [
                    row.policy.clone(),
                    grouped(row.batch_fixes as f64),
                    grouped(row.wasm_fixes_per_s),
                    grouped(row.native_fixes_per_s),
                    format!("{:.2}", row.wasm_vs_native),
                ]
                .iter(),
            );
        }
        writeln!(f, "{}", table.text)?;

        writeln!(f, "The speed rule by language (WebAssembly, fixes per second)")?;
        let mut table = Table::new(&[
            "language",
            "100-fix batches",
            "10,000-fix batches",
            "against Rust",
            "component",
        ]);
        for row in &self.languages {
            let per_s = |size| row.fixes_per_s.get(&size).map_or("-".to_owned(), |v| grouped(*v));
            let vs = row.vs_rust.get(&100).map_or("-".to_owned(), |v| format!("{v:.3}×"));
            table.row([row.language.clone(), per_s(100), per_s(10_000), vs, row.origin.clone()].iter());
        }
        writeln!(f, "{}", table.text)?;

        writeln!(f, "The speed rule against a Rhai script (fixes per second)")?;
        let mut table = Table::new(&["batch", "Rust as WASM", "Rust native", "Rhai", "Rust (WASM) over Rhai"]);
        for row in &self.rhai {
            table.row(
                [
                    grouped(row.batch_fixes as f64),
                    grouped(row.rust_wasm_fixes_per_s),
                    grouped(row.rust_native_fixes_per_s),
                    grouped(row.rhai_fixes_per_s),
                    format!("{:.1}×", row.rust_vs_rhai),
                ]
                .iter(),
            );
        }
        writeln!(f, "{}", table.text)?;

        writeln!(f, "Default policy set load")?;
        let mut table = Table::new(&["from the cache", "compiling"]);
        table.row(
            [
                format!("{:.1} ms", self.policy_set_load.cached_ms),
                format!("{} ms", grouped(self.policy_set_load.compiled_ms)),
            ]
            .iter(),
        );
        writeln!(f, "{}", table.text)?;

        writeln!(f, "Call overhead (observe, WebAssembly, reused instance)")?;
        let mut table = Table::new(&["policy", "contract", "0 fixes", "1 fix"]);
        for row in &self.call_overhead {
            table.row(
                [
                    row.policy.clone(),
                    row.contract.clone(),
                    format!("{:.2} µs", row.zero_fixes_ns / 1e3),
                    format!("{:.2} µs", row.one_fix_ns / 1e3),
                ]
                .iter(),
            );
        }
        writeln!(f, "{}", table.text)?;

        if let Some(e2e) = &self.end_to_end {
            writeln!(
                f,
                "escort serve end to end (all default policies, durable writes, loopback)"
            )?;
            let mut table = Table::new(&[
                "transits × batches",
                "threads",
                "fixes/s",
                "p50 batch",
                "p99 batch",
                "errors",
                "open transits",
                "server RSS",
            ]);
            let shape = &e2e.shape;
            table.row(
                [
                    format!("{} × {} of {}", shape.transits, shape.batches, shape.batch),
                    shape.concurrency.to_string(),
                    grouped(e2e.load.fixes_per_s),
                    format!("{:.1} ms", e2e.load.p50_ms),
                    format!("{:.1} ms", e2e.load.p99_ms),
                    e2e.load.errors.to_string(),
                    grouped(shape.open_transits as f64),
                    format!("{} MiB", grouped(e2e.rss_mib)),
                ]
                .iter(),
            );
            let shadow = &e2e.with_shadow;
            table.row(
                [
                    "the same, speed in shadow too".to_owned(),
                    shape.concurrency.to_string(),
                    grouped(shadow.fixes_per_s),
                    format!("{:.1} ms", shadow.p50_ms),
                    format!("{:.1} ms", shadow.p99_ms),
                    shadow.errors.to_string(),
                    String::new(),
                    String::new(),
                ]
                .iter(),
            );
            writeln!(f, "{}", table.text)?;
        }

        writeln!(f, "Corridor check by route size (100-fix batches)")?;
        let mut table = Table::new(&["route points", "index once", "per fix"]);
        for row in &self.corridor_growth {
            table.row(
                [
                    grouped(row.route_points as f64),
                    format!("{:.2} ms", row.index_ms),
                    format!("{} ns", grouped(row.ns_per_fix)),
                ]
                .iter(),
            );
        }
        writeln!(f, "{}", table.text)?;

        writeln!(f, "Corridor check of a track far beside the route (one batch)")?;
        let mut table = Table::new(&["route points", "fixes", "beside the route", "batch", "per fix"]);
        let far = &self.corridor_far_off;
        table.row(
            [
                grouped(far.route_points as f64),
                grouped(far.fixes as f64),
                format!(
                    "{} km (median offset {} km)",
                    grouped(far.aside_m / 1e3),
                    grouped(far.median_offset_m / 1e3)
                ),
                format!("{:.1} ms", far.batch_ms),
                format!("{} ns", grouped(far.ns_per_fix)),
            ]
            .iter(),
        );
        writeln!(f, "{}", table.text)?;

        let replay = &self.replay;
        writeln!(
            f,
            "escort replay (a database of stored transits, the default set, speed with other parameters as the candidate)"
        )?;
        let mut table = Table::new(&[
            "transits × fixes",
            "threads",
            "database written",
            "replay",
            "fixes/s",
            "--reevaluate",
            "fixes/s --reevaluate",
            "transits changed",
        ]);
        table.row(
            [
                format!(
                    "{} × {}",
                    grouped(replay.shape.transits as f64),
                    grouped(replay.shape.fixes as f64)
                ),
                replay.threads.to_string(),
                format!("{:.1} s", replay.build_s),
                format!("{:.2} s", replay.replay_s),
                grouped(replay.fixes_per_s),
                format!("{:.2} s", replay.reevaluated_s),
                grouped(replay.reevaluated_fixes_per_s),
                grouped(replay.changed_transits as f64),
            ]
            .iter(),
        );
        if let Some(ingest) = &replay.ingest {
            writeln!(f, "{}", table.text)?;
            writeln!(
                f,
                "Ingest beside a replay (p99 of a 100-fix batch, escort serve end to end)"
            )?;
            let mut table = Table::new(&[
                "transits × batches",
                "alone",
                "beside escort replay",
                "beside nice escort replay",
            ]);
            table.row(
                [
                    format!("{} × {}", ingest.shape.transits, ingest.shape.batches),
                    format!("{:.1} ms", ingest.alone_p99_ms),
                    format!("{:.1} ms", ingest.beside_replay_p99_ms),
                    format!("{:.1} ms", ingest.beside_nice_replay_p99_ms),
                ]
                .iter(),
            );
            return write!(f, "{}", table.text);
        }
        write!(f, "{}", table.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0.0), "0");
        assert_eq!(grouped(999.4), "999");
        assert_eq!(grouped(1_000.0), "1,000");
        assert_eq!(grouped(1_234_567.0), "1,234,567");
        assert_eq!(grouped(-12_345.0), "-12,345");
    }
}

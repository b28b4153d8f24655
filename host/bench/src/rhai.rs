//! A benchmark peer for the `speed` policy: the same rule as a Rhai script,
//! run in-process.
//!
//! Escort's sandboxed WebAssembly policies are measured against the usual
//! embedded-script choice for rules that change without a redeploy. This
//! module is that choice: [`RhaiSpeed`] compiles `speed.rhai` (the rule of
//! `policies/speed`, with its default parameters) once, and runs it over a
//! batch of fixes in a Rhai engine limited as a real embedder would limit one
//! (operations, call depth, sizes; no `eval`, no modules, no clock, no output).
//!
//! It is **not a production path**: the script keeps no state between calls,
//! so one call is one whole batch and an episode still going on at its end is
//! reported as it stands, the way the policy reports its open findings. It
//! reports the findings' code, severity, times, run length, peak value and
//! place, but no messages or evidence texts.
//!
//! Handing the batch to Rhai (the columns as Rhai arrays, and the legs measured
//! with the host's own haversine) is part of [`RhaiSpeed::observe`], just as
//! lowering the batch is part of a WebAssembly policy's call.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let speed = escort_bench::rhai::RhaiSpeed::new()?;
//! assert!(speed.observe(&[])?.is_empty());
//! # Ok(())
//! # }
//! ```

use escort_engine::geodesy::distance_m;
use escort_engine::{Fix, Severity};
use rhai::{AST, Array, Dynamic, Engine, Map, Scope};

/// The rule, as shipped with Escort.
pub const SCRIPT: &str = include_str!("speed.rhai");

/// The most operations one call may take. The rule takes about 100 per fix
/// (measured on a scenario's track), so a batch of [`MAX_FIXES`] fits with
/// room to spare, and a runaway script is stopped within seconds, as fuel
/// stops a WebAssembly policy.
pub const MAX_OPERATIONS: u64 = 25_000_000;

/// The largest batch, and the largest array a script may build.
pub const MAX_FIXES: usize = 100_000;

/// Why the rule could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The script does not compile.
    #[error("the speed script does not compile: {0}")]
    Compile(#[from] rhai::ParseError),
    /// The script failed or hit a limit while running.
    #[error("the speed script failed: {0}")]
    Run(#[from] Box<rhai::EvalAltResult>),
    /// The batch is larger than [`MAX_FIXES`].
    #[error("a batch of {0} fixes, over the limit of {MAX_FIXES}")]
    TooManyFixes(usize),
    /// The script returned something other than an array of findings.
    #[error("the speed script returned an ill-formed finding: {0}")]
    IllFormed(String),
}

/// A finding of the script: a run of fixes from `from_ms` to `to_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct RhaiFinding {
    /// `speed.implausible`, `speed.excessive` or `telemetry.quality`.
    pub code: String,
    /// As the policy would rate it.
    pub severity: Severity,
    /// Start of the run, milliseconds since the epoch; for a jump, the fix
    /// before it.
    pub from_ms: i64,
    /// The run's last fix, milliseconds since the epoch.
    pub to_ms: i64,
    /// How many fixes the run holds (for a jump, how many jumps).
    pub fixes: i64,
    /// The largest value of the run: implied km/h, reported km/h or hdop.
    pub peak: f64,
    /// Latitude of the fix with the peak value, WGS 84 degrees.
    pub lat: f64,
    /// Longitude of the fix with the peak value, WGS 84 degrees.
    pub lon: f64,
}

/// The speed rule as a compiled Rhai script in a limited engine.
pub struct RhaiSpeed {
    engine: Engine,
    ast: AST,
}

impl std::fmt::Debug for RhaiSpeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhaiSpeed").finish_non_exhaustive()
    }
}

impl RhaiSpeed {
    /// The shipped rule ([`SCRIPT`]), compiled.
    ///
    /// # Errors
    /// [`Error::Compile`] if the script does not compile.
    pub fn new() -> Result<RhaiSpeed, Error> {
        RhaiSpeed::with_script(SCRIPT)
    }

    /// Another version of the rule, compiled in the same limited engine. It
    /// gets the same columns in scope and must return the same findings.
    ///
    /// # Errors
    /// [`Error::Compile`] if the script does not compile.
    pub fn with_script(script: &str) -> Result<RhaiSpeed, Error> {
        let mut engine = Engine::new();
        engine
            .set_max_operations(MAX_OPERATIONS)
            .set_max_call_levels(16)
            .set_max_expr_depths(64, 32)
            // Rhai checks sizes as totals over nested values: the findings
            // (at most one per fix, each a map of ten fields) count whole.
            .set_max_string_size(64 * MAX_FIXES)
            .set_max_array_size(MAX_FIXES)
            .set_max_map_size(16 * MAX_FIXES)
            .disable_symbol("eval")
            .on_print(|_| {})
            .on_debug(|_, _, _| {});
        let ast = engine.compile(script)?;
        Ok(RhaiSpeed { engine, ast })
    }

    /// Sets the most operations one call may take (default [`MAX_OPERATIONS`]).
    pub fn set_max_operations(&mut self, operations: u64) {
        self.engine.set_max_operations(operations);
    }

    /// Runs the rule over one whole batch of fixes, in time order, and
    /// returns its findings, those of episodes still going on included.
    ///
    /// # Errors
    /// [`Error::TooManyFixes`] for a batch over [`MAX_FIXES`];
    /// [`Error::Run`] if the script fails or exceeds a limit;
    /// [`Error::IllFormed`] if it returns something else than findings.
    pub fn observe(&self, fixes: &[Fix]) -> Result<Vec<RhaiFinding>, Error> {
        if fixes.len() > MAX_FIXES {
            return Err(Error::TooManyFixes(fixes.len()));
        }
        let floats =
            |value: fn(&Fix) -> f64| -> Array { fixes.iter().map(|f| Dynamic::from_float(value(f))).collect() };
        let legs_m: Array = fixes
            .windows(2)
            .map(|leg| Dynamic::from_float(distance_m(leg[0].lat, leg[0].lon, leg[1].lat, leg[1].lon)))
            .collect();
        let mut scope = Scope::new();
        scope
            .push_constant(
                "at_ms",
                fixes
                    .iter()
                    .map(|f| Dynamic::from_int(f.at.timestamp_millis()))
                    .collect::<Array>(),
            )
            .push_constant("lat", floats(|f| f.lat))
            .push_constant("lon", floats(|f| f.lon))
            .push_constant("speed_kmh", floats(|f| f.speed_kmh.unwrap_or(f64::NAN)))
            .push_constant("hdop", floats(|f| f.hdop.unwrap_or(f64::NAN)))
            .push_constant("legs_m", legs_m);
        let findings: Array = self.engine.eval_ast_with_scope(&mut scope, &self.ast)?;
        findings.into_iter().map(finding).collect()
    }
}

/// A finding map returned by the script, read back.
fn finding(value: Dynamic) -> Result<RhaiFinding, Error> {
    let type_name = value.type_name();
    let map = value
        .try_cast::<Map>()
        .ok_or_else(|| Error::IllFormed(format!("a {type_name}, not a map")))?;
    let field = |name: &str| {
        map.get(name)
            .cloned()
            .ok_or_else(|| Error::IllFormed(format!("no `{name}`")))
    };
    let wrong = |name: &str, found: &str| Error::IllFormed(format!("`{name}` is a {found}"));
    let text = |name: &str| field(name)?.into_string().map_err(|found| wrong(name, found));
    let int = |name: &str| field(name)?.as_int().map_err(|found| wrong(name, found));
    let float = |name: &str| field(name)?.as_float().map_err(|found| wrong(name, found));
    let severity = text("severity")?;
    Ok(RhaiFinding {
        code: text("code")?,
        severity: Severity::ALL
            .into_iter()
            .find(|s| s.as_str() == severity)
            .ok_or_else(|| Error::IllFormed(format!("unknown severity `{severity}`")))?,
        from_ms: int("from")?,
        to_ms: int("to")?,
        fixes: int("fixes")?,
        peak: float("peak")?,
        lat: float("lat")?,
        lon: float("lon")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    /// A fix at `minute` at latitude `lat`; 0.01° of latitude is 1.1 km.
    fn fix(minute: i64, lat: f64) -> Fix {
        Fix::at_position(
            DateTime::from_timestamp_millis(minute * 60_000).expect("a valid time"),
            lat,
            76.0,
        )
    }

    #[test]
    fn a_jump_out_and_back_is_one_finding() {
        let fixes = [fix(0, 43.0), fix(1, 43.01), fix(2, 43.5), fix(3, 43.02), fix(4, 43.03)];
        let findings = RhaiSpeed::new().unwrap().observe(&fixes).unwrap();
        assert_eq!(findings.len(), 1);
        let jump = &findings[0];
        assert_eq!(
            (jump.code.as_str(), jump.severity),
            ("speed.implausible", Severity::Violation)
        );
        assert_eq!((jump.from_ms, jump.to_ms, jump.fixes), (60_000, 180_000, 2));
    }

    #[test]
    fn two_places_at_the_same_time_is_an_infinite_speed() {
        let fixes = [fix(0, 43.0), fix(0, 43.5), fix(1, 43.5)];
        let findings = RhaiSpeed::new().unwrap().observe(&fixes).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].peak, f64::INFINITY);
        assert_eq!((findings[0].from_ms, findings[0].to_ms), (0, 0));
    }

    #[test]
    fn a_runaway_script_is_stopped_by_the_operation_limit() {
        let mut runaway = RhaiSpeed::with_script("let n = 0; loop { n += 1; }").unwrap();
        runaway.set_max_operations(100_000);
        let error = runaway.observe(&[fix(0, 43.0)]).unwrap_err();
        assert!(
            matches!(&error, Error::Run(e) if matches!(**e, rhai::EvalAltResult::ErrorTooManyOperations(_))),
            "{error}"
        );
    }

    #[test]
    fn a_script_has_no_eval_and_no_output() {
        assert!(matches!(RhaiSpeed::with_script(r#"eval("1")"#), Err(Error::Compile(_))));
        let chatty = RhaiSpeed::with_script(r#"print("hello"); debug("hello"); []"#).unwrap();
        assert!(chatty.observe(&[]).unwrap().is_empty());
    }

    #[test]
    fn what_is_not_a_finding_is_refused() {
        let wrong = RhaiSpeed::with_script(r#"[#{ code: "speed.excessive", severity: "grave" }]"#).unwrap();
        assert!(matches!(wrong.observe(&[]), Err(Error::IllFormed(reason)) if reason == "unknown severity `grave`"));
        let wrong = RhaiSpeed::with_script("[1]").unwrap();
        assert!(matches!(wrong.observe(&[]), Err(Error::IllFormed(_))));
    }
}

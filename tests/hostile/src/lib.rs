//! A policy that misbehaves on purpose, for the sandbox tests.
//!
//! Its `behaviour` parameter picks the misdeed, committed when `observe` gets
//! a non-empty batch (or on every call, with `when = "always"`); with an
//! empty batch (time passing) it otherwise behaves and reports
//! `hostile.alive`, which shows that the host gave it a working instance
//! after the misdeed. With `victim` set, only the transit of that id suffers
//! the misdeed and every other transit is served well.
//!
//! | behaviour       | what `observe` does                                        |
//! |-----------------|------------------------------------------------------------|
//! | `well`          | reports `hostile.alive`                                     |
//! | `spin`          | loops forever                                               |
//! | `hoard`         | allocates memory without bound                              |
//! | `panic`         | panics                                                      |
//! | `recurse`       | recurses until the stack overflows                          |
//! | `flood`         | returns 50,000 findings                                     |
//! | `bloat`         | returns a 4 MiB state                                       |
//! | `garbage`       | returns a finding that ends before it starts                |
//! | `nan`           | returns a finding at a position of NaN degrees              |
//! | `fail`          | returns `err`                                               |
//! | `dawdle`        | counts to `turns`, then reports `hostile.alive`             |
//! | `toil`          | counts to `turns`, then panics                              |
//! | `leak`          | leaks 8 MiB, then reports `hostile.alive`                   |
//! | `remember`      | counts its calls in a global and reports the count          |
//! | `nan-route`     | asks the route for the offset and progress of a NaN position|
//! | `survey`        | asks the route for `positions` offsets, again and again     |
//! | `nan-bits`      | reports the bits of 0/0 computed at run time (`bits`)       |
//! | `relaxed`       | reports what relaxed-SIMD truncation makes of NaN (`lane`)  |
//! | `long-code`     | returns a finding whose code is 1 MiB long                  |
//! | `long-evidence` | returns a finding with 30 MiB of evidence text              |
//!
//! `hostile.alive` carries the configured behaviour as evidence, so a test
//! can tell which configuration answered.
//!
//! It speaks contract 0.1 (`wit/since_v0.1.0`) through wit-bindgen alone,
//! without the SDK (which follows the newest contract): the host keeps
//! loading 0.1 components, and every test that runs this policy beside the
//! default set, which speaks 0.2, shows it.
//!
//! `describe()` takes no parameters, so its misdeeds are cargo features, each
//! built into a component of its own by the test suite: `describe-bloat`
//! answers a 10 MiB summary, `describe-crowd` declares 100,000 parameters.
//! So is its next version: `version-2` is the same policy as 6.6.7, for the
//! tests of which version judges which transit.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bindings of contract 0.1, guest side.
#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "escort-policy",
    });

    #[cfg(target_arch = "wasm32")]
    use super::Hostile;
    #[cfg(target_arch = "wasm32")]
    export!(Hostile with_types_in crate::bindings);
}

use bindings::escort::policy::geo::{Position, Route};
use bindings::escort::policy::types::{
    Descriptor, Evidence, EvidenceValue, Finding, Fixes, Observation, Param, ParamKind, ParamSpec, ParamValue,
    Severity, Timestamp, Transit,
};
use bindings::exports::escort::policy::policy::Guest;

/// The hostile policy.
pub struct Hostile;

fn spec(name: &str, default: ParamValue, doc: &str) -> ParamSpec {
    let kind = match default {
        ParamValue::Integer(_) => ParamKind::Integer,
        _ => ParamKind::Text,
    };
    ParamSpec {
        name: name.into(),
        kind,
        default,
        doc: doc.into(),
    }
}

fn text(name: &str, value: impl ToString) -> Evidence {
    Evidence {
        name: name.into(),
        value: EvidenceValue::Text(value.to_string()),
    }
}

/// The value of the parameter `name`, which the host always passes.
fn param<'a>(params: &'a [Param], name: &str) -> Result<&'a ParamValue, String> {
    params
        .iter()
        .find(|param| param.name == name)
        .map(|param| &param.value)
        .ok_or_else(|| format!("parameter `{name}` was not passed"))
}

fn text_param<'a>(params: &'a [Param], name: &str) -> Result<&'a str, String> {
    match param(params, name)? {
        ParamValue::Text(value) => Ok(value),
        _ => Err(format!("parameter `{name}` is not a text")),
    }
}

fn integer_param(params: &[Param], name: &str) -> Result<i64, String> {
    match param(params, name)? {
        ParamValue::Integer(value) => Ok(*value),
        _ => Err(format!("parameter `{name}` is not an integer")),
    }
}

fn finding(code: &str, at: Timestamp) -> Finding {
    Finding {
        code: code.into(),
        severity: Severity::Info,
        message: "still here".into(),
        from: at,
        to: at,
        position: None,
        evidence: Vec::new(),
    }
}

fn alive(behaviour: &str, at: Timestamp) -> Finding {
    Finding {
        evidence: vec![text("behaviour", behaviour)],
        ..finding("hostile.alive", at)
    }
}

fn count_to(turns: i64) {
    let mut count = 0i64;
    while black_box(count) < turns {
        count += 1;
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    black_box(recurse(black_box(depth + 1))) + 1
}

/// A lane of a relaxed truncation of NaN to integers: the spec lets each CPU
/// answer its own way (x86's `cvttps2dq` gives `i32::MIN`, the deterministic
/// profile 0).
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128,relaxed-simd")]
fn relaxed_trunc_of_nan() -> i32 {
    use core::arch::wasm32::{f32x4_splat, i32x4_extract_lane, i32x4_relaxed_trunc_f32x4};
    i32x4_extract_lane::<0>(i32x4_relaxed_trunc_f32x4(f32x4_splat(black_box(f32::NAN))))
}

#[cfg(target_arch = "wasm32")]
fn relaxed_lane() -> Result<i32, String> {
    // Safe on WebAssembly: a host without relaxed SIMD refuses the whole
    // component when it loads, so the call can never reach a CPU that
    // lacks the instruction.
    Ok(relaxed_trunc_of_nan())
}

#[cfg(not(target_arch = "wasm32"))]
fn relaxed_lane() -> Result<i32, String> {
    Err("relaxed SIMD runs only in WebAssembly".into())
}

fn descriptor() -> Descriptor {
    let mut params = vec![
        spec(
            "behaviour",
            ParamValue::Text("well".into()),
            "Which misdeed to commit; see the crate docs.",
        ),
        spec(
            "turns",
            ParamValue::Integer(100_000_000),
            "How far `dawdle` and `toil` count.",
        ),
        spec(
            "positions",
            ParamValue::Integer(1_000_000),
            "How many positions `survey` asks about at once.",
        ),
        spec(
            "victim",
            ParamValue::Text(String::new()),
            "The one transit to misbehave on; every transit when empty.",
        ),
        spec(
            "when",
            ParamValue::Text("fixes".into()),
            "`fixes`: misbehave on batches of fixes; `always`: on every call.",
        ),
    ];
    let mut summary = "Misbehaves on purpose.".to_owned();
    if cfg!(feature = "describe-bloat") {
        summary = "x".repeat(10 << 20);
    }
    if cfg!(feature = "describe-crowd") {
        params.extend((0..100_000).map(|i| spec(&format!("crowd_{i}"), ParamValue::Integer(i), "One of many.")));
    }
    Descriptor {
        id: "hostile".into(),
        version: if cfg!(feature = "version-2") { "6.6.7" } else { "6.6.6" }.into(),
        summary,
        params,
    }
}

impl Guest for Hostile {
    fn describe() -> Descriptor {
        descriptor()
    }

    fn admit(_: Transit, _: Option<&Route>, _: Vec<Param>) -> Result<Vec<Finding>, String> {
        Ok(Vec::new())
    }

    fn observe(
        transit: Transit,
        route: Option<&Route>,
        params: Vec<Param>,
        fixes: Fixes,
        now: Timestamp,
        state: Vec<u8>,
    ) -> Result<Observation, String> {
        let configured = text_param(&params, "behaviour")?;
        let victim = text_param(&params, "victim")?;
        let targeted = victim.is_empty() || victim == transit.id;
        let due = !fixes.lat.is_empty() || text_param(&params, "when")? == "always";
        let behaviour = if targeted && due { configured } else { "well" };
        let findings = match behaviour {
            "well" => vec![alive(configured, now)],
            "dawdle" => {
                count_to(integer_param(&params, "turns")?);
                vec![alive(configured, now)]
            }
            "toil" => {
                count_to(integer_param(&params, "turns")?);
                panic!("hostile policy panics after long work, on purpose")
            }
            "spin" => {
                let mut turns = 0u64;
                loop {
                    turns = black_box(turns.wrapping_add(1));
                }
            }
            "hoard" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "leak" => {
                // Never freed: an instance that served earlier calls holds
                // the leaks of all of them.
                black_box(Box::leak(vec![1u8; 8 << 20].into_boxed_slice()));
                vec![alive(configured, now)]
            }
            "remember" => {
                // Against the contract: what one call leaves in a global,
                // the next call of the same instance sees.
                static CALLS: AtomicU64 = AtomicU64::new(0);
                let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
                vec![Finding {
                    message: format!("call {calls} of this instance"),
                    ..alive(configured, now)
                }]
            }
            "panic" => panic!("hostile policy panics on purpose"),
            "recurse" => {
                recurse(0);
                Vec::new()
            }
            "flood" => (0..50_000).map(|i| finding("hostile.flood", now - i)).collect(),
            "bloat" => {
                return Ok(Observation {
                    findings: Vec::new(),
                    open: Vec::new(),
                    state: vec![7; 4 << 20],
                });
            }
            "garbage" => vec![Finding {
                to: now - 60_000,
                ..finding("hostile.garbage", now)
            }],
            "nan" => vec![Finding {
                position: Some(Position {
                    lat: f64::NAN,
                    lon: 76.9,
                }),
                ..finding("hostile.nan", now)
            }],
            "fail" => return Err("hostile policy refuses on purpose".into()),
            "nan-route" => {
                let route = route.ok_or("`nan-route` needs a transit with a route")?;
                let lat = [black_box(f64::NAN)];
                black_box(route.offsets_m(&lat, &[76.9]));
                black_box(route.progress_m(&lat, &[76.9]));
                vec![alive(configured, now)]
            }
            "survey" => {
                let route = route.ok_or("`survey` needs a transit with a route")?;
                let positions = usize::try_from(integer_param(&params, "positions")?).map_err(|e| e.to_string())?;
                // A degree north of the start of the route, far from it.
                let lat = vec![fixes.lat.first().copied().unwrap_or(43.0) + 1.0; positions];
                let lon = vec![fixes.lon.first().copied().unwrap_or(77.0); positions];
                loop {
                    black_box(route.offsets_m(black_box(&lat), &lon));
                }
            }
            "nan-bits" => {
                let nan = black_box(0.0f64) / black_box(0.0f64);
                vec![Finding {
                    evidence: vec![text("bits", format!("{:016x}", nan.to_bits()))],
                    ..finding("hostile.nan_bits", now)
                }]
            }
            "relaxed" => vec![Finding {
                evidence: vec![text("lane", relaxed_lane()?)],
                ..finding("hostile.relaxed", now)
            }],
            "long-code" => vec![finding(&format!("hostile.{}", "a".repeat(1 << 20)), now)],
            "long-evidence" => vec![Finding {
                evidence: vec![text("text", "x".repeat(30 << 20))],
                ..finding("hostile.long_evidence", now)
            }],
            other => return Err(format!("unknown behaviour {other:?}")),
        };
        // The policy follows no episode, so all it says is final: nothing is
        // ever open.
        Ok(Observation {
            findings,
            open: Vec::new(),
            state,
        })
    }
}

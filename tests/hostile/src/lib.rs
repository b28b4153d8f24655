//! A policy that misbehaves on purpose, for the sandbox tests.
//!
//! Its `behaviour` parameter picks the misdeed, committed when `observe` gets
//! a non-empty batch; with an empty batch (time passing) it behaves and
//! reports `hostile.alive`, which shows that the host gave it a working
//! instance after the misdeed.
//!
//! | behaviour | what `observe` does                                   |
//! |-----------|-------------------------------------------------------|
//! | `well`    | reports `hostile.alive`                                |
//! | `spin`    | loops forever                                          |
//! | `hoard`   | allocates memory without bound                         |
//! | `panic`   | panics                                                 |
//! | `recurse` | recurses until the stack overflows                     |
//! | `flood`   | returns 50,000 findings                                |
//! | `bloat`   | returns a 4 MiB state                                  |
//! | `garbage` | returns a finding that ends before it starts           |
//! | `nan`     | returns a finding at a position of NaN degrees         |
//! | `fail`    | returns `err`                                          |
//! | `dawdle`  | counts to `turns`, then reports `hostile.alive`        |
//! | `leak`    | leaks 8 MiB, then reports `hostile.alive`              |
//! | `remember`| counts its calls in a global and reports the count     |
//!
//! `hostile.alive` carries the configured behaviour as evidence, so a test
//! can tell which configuration answered.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use escort_policy_sdk::*;

/// The hostile policy.
pub struct Hostile;

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
        evidence: vec![Evidence::text("behaviour", behaviour)],
        ..finding("hostile.alive", at)
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    black_box(recurse(black_box(depth + 1))) + 1
}

impl Policy for Hostile {
    fn describe() -> Descriptor {
        Descriptor {
            id: "hostile".into(),
            version: "6.6.6".into(),
            summary: "Misbehaves on purpose.".into(),
            params: vec![
                ParamSpec::text("behaviour", "well", "Which misdeed to commit; see the crate docs."),
                ParamSpec::integer("turns", 100_000_000, "How far `dawdle` counts."),
            ],
        }
    }

    fn admit(_: Transit, _: Option<&Route>, _: Vec<Param>) -> Result<Vec<Finding>, String> {
        Ok(Vec::new())
    }

    fn observe(
        _: Transit,
        _: Option<&Route>,
        params: Vec<Param>,
        fixes: Fixes,
        now: Timestamp,
        state: Vec<u8>,
    ) -> Result<Observation, String> {
        let params = Params::new(params);
        let configured = params.text("behaviour")?;
        let behaviour = if fixes.is_empty() { "well" } else { configured };
        let findings = match behaviour {
            "well" => vec![alive(configured, now)],
            "dawdle" => {
                let turns = params.integer("turns")?;
                let mut count = 0i64;
                while black_box(count) < turns {
                    count += 1;
                }
                vec![alive(configured, now)]
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

#[cfg(target_arch = "wasm32")]
export_policy!(Hostile);

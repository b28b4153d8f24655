//! A policy of contract 0.2 that misbehaves on purpose, for the sandbox
//! tests: what `tests/hostile` is to contract 0.1, for what 0.2 adds (the
//! `configure` export, the `transit` and `batch` imports, numbers in
//! evidence).
//!
//! Its `behaviour` parameter picks the misdeed. Those of `configure` are
//! committed on every call, since every call of a fresh or reconfigured
//! instance begins with `configure`; those of `observe` when it is told of
//! fixes (`fixes > 0`), but for `columns-when-empty`, which is committed
//! when it is told of none. Otherwise `observe` behaves and reports
//! `hostile.alive`, which shows that the host gave it a working instance
//! after the misdeed.
//!
//! | behaviour            | what it does                                                |
//! |----------------------|-------------------------------------------------------------|
//! | `well`               | `observe` reports `hostile.alive`                           |
//! | `early`              | `configure` asks `transit.id()`, which only `admit` and `observe` may |
//! | `misconfigure`       | `configure` answers `err("refused")`                        |
//! | `columns-when-empty` | `observe` asks `batch.columns()` even when told of no fixes |
//! | `nan-number`         | `observe` reports evidence `number { value: NaN, decimals: 1 }` |
//! | `decimals`           | `observe` reports evidence `number { value: 1.0, decimals: 10 }` |
//! | `declarations`       | `observe` asks `transit.declaration()` `turns` times        |
//! | `columns-again`      | `observe` asks `batch.columns()` `turns` times              |
//! | `empty-questions`    | `observe` asks `geo.legs-m` of no positions `turns` times   |
//! | `reconfigured`       | `observe` reports `hostile.alive` with the `tag` it was configured with |
//!
//! `hostile.alive` carries, as evidence, the configured `behaviour` and
//! `tag`, the transit's id (asked of the `transit` import), the count of
//! fixes it was told of, and `configures`: how many times `configure` ran
//! on this instance. Instances are reused, so a test can tell from it that
//! a reconfigured policy had its reused instance configured again, and that
//! an instance is configured once, not once a call.
//!
//! It speaks contract 0.2 (`wit/since_v0.2.0`) through wit-bindgen alone,
//! without the SDK, so that it can do what the SDK never lets a policy do.

use std::cell::{Cell, RefCell};
use std::hint::black_box;

/// The bindings of contract 0.2, guest side.
#[allow(missing_docs, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.2.0",
        world: "escort-policy",
    });

    #[cfg(target_arch = "wasm32")]
    use super::Hostile;
    #[cfg(target_arch = "wasm32")]
    export!(Hostile with_types_in crate::bindings);
}

use bindings::escort::policy::types::{
    Descriptor, Evidence, EvidenceValue, Finding, Number, Observation, ParamKind, ParamSpec, ParamValue, Severity,
    Timestamp,
};
use bindings::escort::policy::{batch, geo, transit};
use bindings::exports::escort::policy::policy::Guest;

/// The hostile policy.
pub struct Hostile;

/// What `configure` was handed, by name.
#[derive(Clone)]
struct Config {
    behaviour: String,
    turns: i64,
    tag: String,
}

thread_local! {
    /// The parameters of this instance, from its last `configure`.
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
    /// How many times `configure` ran on this instance.
    static CONFIGURES: Cell<i64> = const { Cell::new(0) };
}

/// The parameters this instance was configured with.
fn config() -> Result<Config, String> {
    CONFIG
        .with_borrow(Clone::clone)
        .ok_or_else(|| "called before `configure`".to_owned())
}

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

fn evidence(name: &str, value: EvidenceValue) -> Evidence {
    Evidence {
        name: name.into(),
        value,
    }
}

fn text(name: &str, value: impl ToString) -> Evidence {
    evidence(name, EvidenceValue::Text(value.to_string()))
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

fn alive(config: &Config, fixes: u32, at: Timestamp) -> Finding {
    Finding {
        evidence: vec![
            text("behaviour", &config.behaviour),
            text("tag", &config.tag),
            text("transit", transit::id()),
            evidence("fixes", EvidenceValue::Integer(i64::from(fixes))),
            evidence("configures", EvidenceValue::Integer(CONFIGURES.get())),
        ],
        ..finding("hostile.alive", at)
    }
}

/// A finding whose only evidence is `number`.
fn numbered(number: Number, at: Timestamp) -> Finding {
    Finding {
        evidence: vec![evidence("number_m", EvidenceValue::Number(number))],
        ..finding("hostile.number", at)
    }
}

fn descriptor() -> Descriptor {
    Descriptor {
        id: "hostile_0_2".into(),
        version: "6.6.6".into(),
        summary: "Misbehaves on purpose, in contract 0.2.".into(),
        params: vec![
            spec(
                "behaviour",
                ParamValue::Text("well".into()),
                "Which misdeed to commit; see the crate docs.",
            ),
            spec(
                "turns",
                ParamValue::Integer(1_000),
                "How many times `declarations` and `columns-again` ask the host.",
            ),
            spec(
                "tag",
                ParamValue::Text(String::new()),
                "A text `hostile.alive` reports, to tell configurations apart.",
            ),
        ],
    }
}

impl Guest for Hostile {
    fn describe() -> Descriptor {
        descriptor()
    }

    fn configure(params: Vec<ParamValue>) -> Result<(), String> {
        CONFIGURES.set(CONFIGURES.get() + 1);
        let [
            ParamValue::Text(behaviour),
            ParamValue::Integer(turns),
            ParamValue::Text(tag),
        ] = <[ParamValue; 3]>::try_from(params).map_err(|params| format!("{} parameters, not 3", params.len()))?
        else {
            return Err("parameters of the wrong kinds".into());
        };
        match behaviour.as_str() {
            // Against the contract: the transit is the call's, and there is
            // no call yet.
            "early" => {
                black_box(transit::id());
            }
            "misconfigure" => return Err("refused".into()),
            _ => {}
        }
        CONFIG.set(Some(Config { behaviour, turns, tag }));
        Ok(())
    }

    fn admit() -> Result<Vec<Finding>, String> {
        config()?;
        Ok(Vec::new())
    }

    fn observe(now: Timestamp, fixes: u32, state: Vec<u8>) -> Result<Observation, String> {
        let config = config()?;
        let behaviour = config.behaviour.as_str();
        let findings = match behaviour {
            "columns-when-empty" => {
                // Against the contract when `fixes` is 0: there is no batch.
                let columns = batch::columns();
                let mut alive = alive(&config, fixes, now);
                alive.evidence.push(evidence(
                    "columns",
                    EvidenceValue::Integer(i64::try_from(columns.at.len()).unwrap_or(i64::MAX)),
                ));
                vec![alive]
            }
            _ if fixes == 0 => vec![alive(&config, fixes, now)],
            "well" | "reconfigured" => vec![alive(&config, fixes, now)],
            "nan-number" => vec![numbered(
                Number {
                    value: black_box(f64::NAN),
                    decimals: 1,
                },
                now,
            )],
            "decimals" => vec![numbered(
                Number {
                    value: 1.0,
                    decimals: 10,
                },
                now,
            )],
            "declarations" => {
                for _ in 0..config.turns {
                    black_box(transit::declaration());
                }
                vec![alive(&config, fixes, now)]
            }
            "columns-again" => {
                for _ in 0..config.turns {
                    black_box(batch::columns());
                }
                vec![alive(&config, fixes, now)]
            }
            "empty-questions" => {
                for _ in 0..config.turns {
                    black_box(geo::legs_m(&[], &[]));
                }
                vec![alive(&config, fixes, now)]
            }
            "early" | "misconfigure" => return Err(format!("`{behaviour}` got past `configure`")),
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

//! The service's Prometheus metrics (`GET /metrics`): requests, fixes,
//! evaluations, policy errors (per policy, and per policy and kind of
//! failure), evaluation time per policy, steps that panicked, what the
//! ticks did, and the HTTP edge's connections.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::tick::TickSummary;
use crate::StepKind;
use escort_engine::Decision;
use escort_engine::EvidenceValue;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    policy: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    policy: String,
    failure: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeoutLabels {
    timeout: String,
}

/// Why the service closes a connection that kept it waiting.
const CONNECTION_TIMEOUTS: [&str; 2] = ["header", "idle"];

/// The outcomes of a transit in a tick, in the order of [`TickSummary`]'s counts.
const TICK_OUTCOMES: [&str; 5] = ["changed", "unchanged", "busy", "failed", "panicked"];

fn outcome_labels(outcome: &str) -> OutcomeLabels {
    OutcomeLabels {
        outcome: outcome.to_owned(),
    }
}

/// The kind of a failed call, as its `policy.error` finding's `failure`
/// evidence says.
fn failure_kind(decision: &Decision) -> &str {
    decision
        .findings
        .iter()
        .filter(|finding| finding.code == "policy.error")
        .find_map(|finding| match finding.evidence.get("failure") {
            Some(EvidenceValue::Text(kind)) => Some(kind.as_str()),
            _ => None,
        })
        .unwrap_or("unknown")
}

fn call_seconds() -> Histogram {
    // 10 µs to about 10 s: a policy call on one fix up to one near its fuel budget.
    Histogram::new(exponential_buckets(1e-5, 4.0, 11))
}

/// The counters of one service.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    fixes: Family<OutcomeLabels, Counter>,
    evaluations: Family<KindLabels, Counter>,
    policy_errors: Family<PolicyLabels, Counter>,
    policy_failures: Family<FailureLabels, Counter>,
    policy_seconds: Family<PolicyLabels, Histogram, fn() -> Histogram>,
    step_panics: Family<StepLabels, Counter>,
    tick_transits: Family<OutcomeLabels, Counter>,
    ticks: Family<OutcomeLabels, Counter>,
    connections: Gauge,
    requests_in_flight: Gauge,
    connection_timeouts: Family<TimeoutLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("escort");
        let requests = Family::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let fixes = Family::default();
        registry.register(
            "fixes",
            "Fixes received, by outcome (accepted, duplicate, rejected)",
            fixes.clone(),
        );
        let evaluations = Family::default();
        registry.register(
            "evaluations",
            "Evaluation steps stored, by kind (admit, observe, replay, tick, close)",
            evaluations.clone(),
        );
        let policy_errors = Family::default();
        registry.register(
            "policy_errors",
            "Policy calls that failed (trap, fuel, memory, error, ill-formed answer)",
            policy_errors.clone(),
        );
        let policy_failures = Family::default();
        registry.register(
            "policy_failures",
            "Policy calls that failed, by policy and kind of failure (out_of_fuel, geodesy_budget, timed_out, \
             trap, error, ill_formed, host_panic: the `failure` evidence of policy.error); a series appears \
             with its first failure",
            policy_failures.clone(),
        );
        let policy_seconds = Family::<PolicyLabels, Histogram, fn() -> Histogram>::new_with_constructor(call_seconds);
        registry.register(
            "policy_call_seconds",
            "Time of each policy call, seconds",
            policy_seconds.clone(),
        );
        let step_panics = Family::default();
        registry.register(
            "step_panics",
            "Steps that panicked outside a policy call (a defect of the service; nothing of the step is kept \
             and its transit is listed for review), by step (admit, observe, report, close, tick)",
            step_panics.clone(),
        );
        let tick_transits = Family::default();
        registry.register(
            "tick_transits",
            "Open transits the ticks came to, by outcome (changed, unchanged; busy: passed over while another \
             step held it; failed: the database; panicked)",
            tick_transits.clone(),
        );
        let ticks = Family::default();
        registry.register(
            "ticks",
            "Tick periods, by outcome (run; skipped: the earlier ticks allowed at once were all still running)",
            ticks.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "http_connections",
            "HTTP connections open (at most max_connections)",
            connections.clone(),
        );
        let requests_in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered, this one included",
            requests_in_flight.clone(),
        );
        let connection_timeouts = Family::default();
        registry.register(
            "http_connections_timed_out",
            "HTTP connections the service closed, by timeout (header: a request's headers came too slowly; \
             idle: no request came after an answer)",
            connection_timeouts.clone(),
        );
        let metrics = Metrics {
            registry,
            requests,
            fixes,
            evaluations,
            policy_errors,
            policy_failures,
            policy_seconds,
            step_panics,
            tick_transits,
            ticks,
            connections,
            requests_in_flight,
            connection_timeouts,
        };
        // Present at 0 from the start, so that a first increment shows.
        for step in StepKind::PANICKING {
            let _ = metrics.step_panics.get_or_create(&StepLabels {
                step: step.as_str().to_owned(),
            });
        }
        for outcome in TICK_OUTCOMES {
            let _ = metrics.tick_transits.get_or_create(&outcome_labels(outcome));
        }
        for outcome in ["run", "skipped"] {
            let _ = metrics.ticks.get_or_create(&outcome_labels(outcome));
        }
        for timeout in CONNECTION_TIMEOUTS {
            let _ = metrics.connection_timeouts.get_or_create(&TimeoutLabels {
                timeout: timeout.to_owned(),
            });
        }
        metrics
    }

    pub fn count_request(&self, method: &str, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    pub(crate) fn count_fixes(&self, accepted: u64, duplicates: u64, rejected: u64) {
        for (outcome, count) in [
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ] {
            self.fixes.get_or_create(&outcome_labels(outcome)).inc_by(count);
        }
    }

    pub(crate) fn count_decisions(&self, kind: StepKind, decisions: &[Decision]) {
        self.evaluations
            .get_or_create(&KindLabels {
                kind: kind.as_str().to_owned(),
            })
            .inc();
        for decision in decisions {
            let labels = PolicyLabels {
                policy: decision.policy.clone(),
            };
            self.policy_seconds
                .get_or_create(&labels)
                .observe(decision.elapsed.as_secs_f64());
            // Created even when nothing failed, so that a policy's error
            // count reads 0 rather than being absent.
            let errors = self.policy_errors.get_or_create(&labels);
            if decision.fuel_used.is_none() {
                errors.inc();
                self.policy_failures
                    .get_or_create(&FailureLabels {
                        policy: decision.policy.clone(),
                        failure: failure_kind(decision).to_owned(),
                    })
                    .inc();
            }
        }
    }

    /// Counts a step that panicked outside a policy call.
    pub(crate) fn count_step_panic(&self, step: StepKind) {
        self.step_panics
            .get_or_create(&StepLabels {
                step: step.as_str().to_owned(),
            })
            .inc();
    }

    /// Counts what a tick did with each open transit.
    pub(crate) fn count_tick(&self, summary: &TickSummary) {
        for (outcome, count) in TICK_OUTCOMES.into_iter().zip([
            summary.changed,
            summary.unchanged,
            summary.busy,
            summary.failed,
            summary.panicked,
        ]) {
            self.tick_transits
                .get_or_create(&outcome_labels(outcome))
                .inc_by(count as u64);
        }
    }

    /// Counts a tick period: run, or skipped because too many ticks were
    /// still running.
    pub fn count_tick_period(&self, run: bool) {
        let outcome = if run { "run" } else { "skipped" };
        self.ticks.get_or_create(&outcome_labels(outcome)).inc();
    }

    /// Counts a connection opened (`1`) or closed (`-1`).
    pub fn count_connections(&self, change: i64) {
        self.connections.inc_by(change);
    }

    /// Counts a request begun (`1`) or answered (`-1`).
    pub fn count_requests_in_flight(&self, change: i64) {
        self.requests_in_flight.inc_by(change);
    }

    /// Counts a connection closed for keeping the service waiting past a
    /// timeout (`header` or `idle`).
    pub fn count_connection_timeout(&self, timeout: &str) {
        self.connection_timeouts
            .get_or_create(&TimeoutLabels {
                timeout: timeout.to_owned(),
            })
            .inc();
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

//! The service's Prometheus metrics (`GET /metrics`): requests, fixes,
//! evaluations, policy errors and evaluation time per policy.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::evaluation::Decision;

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
    policy_seconds: Family<PolicyLabels, Histogram, fn() -> Histogram>,
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
        let policy_seconds = Family::<PolicyLabels, Histogram, fn() -> Histogram>::new_with_constructor(call_seconds);
        registry.register(
            "policy_call_seconds",
            "Time of each policy call, seconds",
            policy_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            fixes,
            evaluations,
            policy_errors,
            policy_seconds,
        }
    }

    pub(crate) fn count_request(&self, method: &str, route: &str, status: u16) {
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
            self.fixes
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inc_by(count);
        }
    }

    pub(crate) fn count_decisions(&self, kind: &str, decisions: &[Decision]) {
        self.evaluations
            .get_or_create(&KindLabels { kind: kind.to_owned() })
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
            }
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

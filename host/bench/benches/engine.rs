//! `cargo bench`: the engine's figures under criterion, for comparing one
//! change against another (`--save-baseline`, `--baseline`). The same
//! workloads as `escort bench`, which prints them all from one run and adds
//! the end-to-end server; see `docs/performance.md`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use escort_bench::rhai::RhaiSpeed;
use escort_bench::{Drive, NativeCall, WasmCall, clock, lent, native_fixes, template_transit};
use escort_engine::contract::Batch;
use escort_engine::geodesy::RouteIndex;
use escort_engine::{ComponentCache, Fix, PolicySet, Sandbox};

fn policies() -> PolicySet {
    let sandbox = Sandbox::with_cache(ComponentCache::user_default()).expect("the sandbox starts");
    escort_builtin::policies(&sandbox).expect("the built-in set loads")
}

/// Each default policy as its component and natively, by batch size.
fn wasm_against_native(c: &mut Criterion) {
    let policies = policies();
    let transit = template_transit();
    let lent = lent(&transit);
    let drive = Drive::along(&transit, 60.0, 30);
    let first = drive.fixes(transit.opened_at, 0, 100);
    let first_now = clock(&first, transit.opened_at);
    for policy in policies.policies() {
        let wasm = WasmCall::new(policy, &lent);
        let native = NativeCall::new(policy, &lent).expect("a default policy");
        let state = wasm
            .observe(&Batch::new(&first), first_now, &[])
            .expect("the policy answers")
            .state;
        let mut group = c.benchmark_group(format!("wasm_vs_native/{}", policy.id()));
        for size in [1, 100, 10_000] {
            let fixes = drive.fixes(transit.opened_at, 100, size);
            let (batch, now) = (Batch::new(&fixes), clock(&fixes, transit.opened_at));
            let native_batch = native_fixes(&fixes);
            group.throughput(Throughput::Elements(size as u64));
            group.bench_with_input(BenchmarkId::new("wasm", size), &batch, |b, batch| {
                b.iter(|| wasm.observe(black_box(batch), now, &state))
            });
            group.bench_with_input(BenchmarkId::new("native", size), &native_batch, |b, batch| {
                b.iter(|| native.observe(black_box(batch), now, &state))
            });
        }
        group.finish();
    }
}

/// The fixed cost of a call: `observe` with no fix and with one.
fn call_overhead(c: &mut Criterion) {
    let policies = policies();
    let transit = template_transit();
    let drive = Drive::along(&transit, 60.0, 30);
    let lent = lent(&transit);
    let mut group = c.benchmark_group("call_overhead");
    let first = drive.fixes(transit.opened_at, 0, 1);
    for policy in policies.policies() {
        let wasm = WasmCall::new(policy, &lent);
        let (empty, now) = (Batch::new(&[]), clock(&[], transit.opened_at));
        let (one, one_now) = (Batch::new(&first), clock(&first, transit.opened_at));
        group.bench_function(BenchmarkId::new(policy.id(), "0 fixes"), |b| {
            b.iter(|| wasm.observe(&empty, now, &[]))
        });
        group.bench_function(BenchmarkId::new(policy.id(), "1 fix"), |b| {
            b.iter(|| wasm.observe(&one, one_now, &[]))
        });
    }
    group.finish();
}

/// The speed rule from fixes to findings: the Rust component against Rhai.
fn rust_against_rhai(c: &mut Criterion) {
    let policies = policies();
    let speed = policies
        .policies()
        .iter()
        .find(|p| p.id() == "speed")
        .expect("the built-in set has speed");
    let rhai = RhaiSpeed::new().expect("the script compiles");
    let transit = template_transit();
    let drive = Drive::along(&transit, 60.0, 30);
    let wasm = WasmCall::new(speed, &lent(&transit));
    let mut group = c.benchmark_group("speed_rule");
    for size in [100, 10_000] {
        let fixes = drive.fixes(transit.opened_at, 0, size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("rust_wasm", size), &fixes, |b, fixes| {
            b.iter(|| wasm.observe(&Batch::new(fixes), clock(fixes, transit.opened_at), &[]))
        });
        group.bench_with_input(BenchmarkId::new("rhai", size), &fixes, |b, fixes| {
            b.iter(|| rhai.observe(fixes))
        });
    }
    group.finish();
}

/// The corridor check's host work on a batch: every fix located on the
/// route, the offsets summed so that none is optimised away.
fn sum_of_offsets_m(index: &RouteIndex, fixes: &[Fix]) -> f64 {
    fixes.iter().map(|fix| index.locate(fix.lat, fix.lon).offset_m).sum()
}

/// The corridor check as the route grows: indexing once, then per batch.
fn corridor_growth(c: &mut Criterion) {
    let template = template_transit();
    let drive = Drive::along(&template, 60.0, 30);
    let fixes = drive.fixes(template.opened_at, 0, 100);
    let mut group = c.benchmark_group("corridor_growth");
    group.throughput(Throughput::Elements(fixes.len() as u64));
    for points in [10, 100, 1_000, 10_000, 100_000] {
        let route = escort_bench::densified(&template.route, points);
        let index = RouteIndex::new(&route);
        group.bench_with_input(BenchmarkId::new("locate", points), &index, |b, index| {
            b.iter(|| sum_of_offsets_m(index, &fixes))
        });
    }
    group.finish();
}

/// The corridor check on a track 100 km beside the longest route: a
/// spoofed position must cost no more than one on the route.
fn corridor_far_off(c: &mut Criterion) {
    let template = template_transit();
    let drive = Drive::along(&template, 60.0, 30);
    let fixes = drive.fixes_aside(template.opened_at, 0, 10_000, 100_000.0);
    let index = RouteIndex::new(&escort_bench::densified(&template.route, 100_000));
    let mut group = c.benchmark_group("corridor_far_off");
    group.throughput(Throughput::Elements(fixes.len() as u64));
    group.bench_function(BenchmarkId::new("locate_100km_aside", 100_000), |b| {
        b.iter(|| sum_of_offsets_m(&index, &fixes))
    });
    group.finish();
}

criterion_group!(
    benches,
    wasm_against_native,
    call_overhead,
    rust_against_rhai,
    corridor_growth,
    corridor_far_off
);
criterion_main!(benches);

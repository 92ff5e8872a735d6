//! The cost of one server pick, per balance algorithm and backend size.
//! `cargo bench -p fairway-benches --bench select`
//!
//! Group `select`: `Selector::select` alone, as `fairway::balance::build`
//! makes it, over idle servers with weights 1..=4, every server eligible.
//! Hash algorithms cycle through 256 precomputed keys (hashing the request
//! field is the proxy's cost, not the selector's).
//!
//! Group `select_busy`: the in-flight-aware algorithms (`leastconn`,
//! `random`, `ewma`) over servers that each hold 1 to 8 requests, so that no
//! server is idle (`leastconn` stops early at an idle server of the highest
//! weight; this group measures its full pass).
//!
//! Group `try_acquire`: `Backend::try_acquire` — the selector load, the
//! backup-group and eligibility checks per server looked at, and the
//! in-flight guard (taken and dropped inside the iteration).
//!
//! Target: under 200 ns per pick at 100 servers, no allocation (the
//! allocation half is `tests/select_no_alloc.rs`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fairway::balance::{build, Acquire};
use fairway_benches::{algorithms, backend, mixed_weights, request_key, servers};
use fairway_config::Balance;
use std::hint::black_box;

/// Backend sizes.
const SIZES: [usize; 3] = [3, 100, 1_000];
/// Distinct request keys cycled through (a power of two).
const KEYS: usize = 256;

fn keys(balance: &fairway_config::Balance) -> Vec<Option<u64>> {
    (0..KEYS as u32).map(|i| request_key(balance, i)).collect()
}

fn select(c: &mut Criterion) {
    let mut g = c.benchmark_group("select");
    for balance in algorithms() {
        let keys = keys(&balance);
        for n in SIZES {
            let weights = mixed_weights(n);
            let servers = servers(&weights);
            let weights: Vec<u32> = weights.iter().copied().map(u32::from).collect();
            let selector = build(&balance, &weights);
            let mut k = 0;
            g.bench_with_input(BenchmarkId::new(balance.name(), n), &n, |b, _| {
                b.iter(|| {
                    k = (k + 1) & (KEYS - 1);
                    selector.select(black_box(&servers), black_box(keys[k]), &|_| true)
                })
            });
        }
    }
    g.finish();
}

fn select_busy(c: &mut Criterion) {
    let mut g = c.benchmark_group("select_busy");
    for balance in algorithms() {
        if !matches!(
            balance,
            Balance::LeastConn | Balance::Random | Balance::Ewma
        ) {
            continue;
        }
        for n in SIZES {
            let weights = mixed_weights(n);
            let servers = servers(&weights);
            // Held for the whole benchmark: 1..=8 requests per server.
            let _held: Vec<_> = servers
                .iter()
                .enumerate()
                .flat_map(|(i, s)| (0..=(i * 7) % 8).map(|_| s.try_begin().unwrap()))
                .collect();
            let weights: Vec<u32> = weights.iter().copied().map(u32::from).collect();
            let selector = build(&balance, &weights);
            g.bench_with_input(BenchmarkId::new(balance.name(), n), &n, |b, _| {
                b.iter(|| selector.select(black_box(&servers), None, &|_| true))
            });
        }
    }
    g.finish();
}

fn try_acquire(c: &mut Criterion) {
    let mut g = c.benchmark_group("try_acquire");
    for balance in algorithms() {
        let keys = keys(&balance);
        for n in SIZES {
            let backend = backend(&balance, &mixed_weights(n), None);
            let mut k = 0;
            g.bench_with_input(BenchmarkId::new(balance.name(), n), &n, |b, _| {
                b.iter(|| {
                    k = (k + 1) & (KEYS - 1);
                    match backend.try_acquire(black_box(keys[k]), &|_| false) {
                        // The guard drops here: the request ends at once.
                        Acquire::Got(i, guard) => black_box((i, guard)).0,
                        Acquire::Full | Acquire::None => unreachable!("idle servers"),
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, select, select_busy, try_acquire);
criterion_main!(benches);

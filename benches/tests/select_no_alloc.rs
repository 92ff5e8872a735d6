//! A server pick allocates nothing: a counting global allocator watches
//! `Selector::select` and `Backend::try_acquire` for every algorithm.
//!
//! Allocations are counted per thread, so the two tests (run in parallel by
//! the harness) do not see each other's setup.

use fairway::balance::{build, Acquire};
use fairway_benches::{algorithms, backend, mixed_weights, request_key, servers};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the slot may be gone while the thread is torn down.
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PICKS: u32 = 1_000;

#[test]
fn the_counter_sees_allocations() {
    let before = allocs();
    drop(black_box(vec![0u8; 16]));
    assert_eq!(allocs() - before, 1);
}

#[test]
fn select_does_not_allocate() {
    for balance in algorithms() {
        for n in [3, 100, 1_000] {
            let weights = mixed_weights(n);
            let servers = servers(&weights);
            let weights: Vec<u32> = weights.iter().copied().map(u32::from).collect();
            let selector = build(&balance, &weights);
            let keys: Vec<Option<u64>> = (0..PICKS).map(|i| request_key(&balance, i)).collect();
            // Warm up: `random` seeds its thread-local generator on first use.
            for key in &keys[..10] {
                assert!(selector.select(&servers, *key, &|_| true).is_some());
            }
            let before = allocs();
            for key in &keys {
                black_box(selector.select(&servers, black_box(*key), &|_| true));
            }
            let after = allocs();
            assert_eq!(
                after - before,
                0,
                "{}: {} allocations in {PICKS} picks over {n} servers",
                balance.name(),
                after - before
            );
        }
    }
}

#[test]
fn try_acquire_does_not_allocate() {
    for balance in algorithms() {
        for n in [3, 100] {
            let backend = backend(&balance, &mixed_weights(n), None);
            let keys: Vec<Option<u64>> = (0..PICKS).map(|i| request_key(&balance, i)).collect();
            // Warm up: arc-swap registers the thread on its first load.
            for key in &keys[..10] {
                assert!(matches!(
                    backend.try_acquire(*key, &|_| false),
                    Acquire::Got(..)
                ));
            }
            let before = allocs();
            for key in &keys {
                match backend.try_acquire(black_box(*key), &|_| false) {
                    Acquire::Got(i, guard) => drop(black_box((i, guard))),
                    Acquire::Full | Acquire::None => panic!("idle servers take requests"),
                }
            }
            let after = allocs();
            assert_eq!(
                after - before,
                0,
                "{}: {} allocations in {PICKS} acquisitions over {n} servers",
                balance.name(),
                after - before
            );
            // Every guard was dropped: nothing left in flight.
            assert!(backend.servers().iter().all(|s| s.active() == 0));
        }
    }
}

#[test]
fn attempt_outcomes_with_outlier_ejection_do_not_allocate() {
    let mut spec = backend(&fairway_config::Balance::RoundRobin, &[1], None)
        .spec()
        .clone();
    spec.outlier = Some(fairway_config::Outlier {
        consecutive_errors: 3,
        ..Default::default()
    });
    let b = fairway::balance::Backend::new(spec, vec![fairway_benches::server_spec(0, 1, None)]);
    let server = &b.servers()[0];
    let now = fairway::upstream::ewma::now_ns();
    // Successes, 5xx answers, failures and timeouts, crossing the threshold
    // (which wakes the ejector) every 8 attempts.
    let attempt = |i: u32| {
        let mut guard = server.try_begin().expect("no maxconn");
        match i % 8 {
            0 => guard.answered(true, now),
            1..=3 => guard.answered(false, now),
            4 => guard.failed(now),
            5 => guard.broke(now),
            _ => {}
        }
        drop(black_box(guard));
    };
    // Warm up: the ejector's wake-up channel is made on first use.
    for i in 0..16 {
        attempt(i);
    }
    let before = allocs();
    for i in 0..PICKS {
        attempt(black_box(i));
    }
    let after = allocs();
    assert_eq!(after - before, 0, "{} allocations", after - before);
    assert_eq!(server.outlier().ejections(), 0, "only the ejector ejects");
}

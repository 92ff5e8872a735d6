//! Rule evaluation allocates nothing: a counting global allocator watches
//! every decision for the demo config and the 50-ACL config.

use fairway_benches::{decide, demo_config, fifty_acl_config, BenchRequest};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn deciding_a_request_does_not_allocate() {
    let demo = demo_config();
    let fifty = fifty_acl_config();
    let urls = [
        "/",
        "/lightwork",
        "/HeavyWork",
        "/admin",
        "/p0/x",
        "/zz/y",
        "/r3/123",
        "/a.x6?q=1",
    ];
    let reqs: Vec<BenchRequest> = urls.iter().map(|u| BenchRequest::get(u)).collect();
    let mut decisions = 0;
    // Warm up: the regex crate fills a per-thread cache on first use.
    for req in &reqs {
        let _ = decide(&fifty.frontends[0], req);
    }
    let before = ALLOCS.load(Ordering::SeqCst);
    for req in &reqs {
        for fe in [&demo.frontends[0], &fifty.frontends[0]] {
            let _ = std::hint::black_box(decide(fe, req));
            decisions += 1;
        }
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(
        after - before,
        0,
        "{} allocations in {decisions} decisions",
        after - before
    );
    // And the decisions are the expected ones.
    assert_eq!(
        decide(&demo.frontends[0], &reqs[1]),
        Ok(Some("lightServers"))
    );
    assert_eq!(
        decide(&demo.frontends[0], &reqs[2]),
        Ok(Some("heavyServers"))
    );
    assert_eq!(decide(&demo.frontends[0], &reqs[3]), Err(0));
    assert_eq!(decide(&fifty.frontends[0], &reqs[5]), Ok(Some("b0")));
}

//! Rule evaluation allocates nothing: a counting global allocator watches
//! the proxy's own decision path ([`fairway::Frontend::decide`] over the
//! proxy's [`fairway::RequestView`] of a Pingora request head), the one
//! every HTTP request runs through, for the demo config and the 50-ACL
//! config.

use fairway::Runtime;
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
    let demo = Runtime::new(&demo_config());
    let fifty = Runtime::new(&fifty_acl_config());
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
    let before = ALLOCS.load(Ordering::SeqCst);
    let reqs: Vec<BenchRequest> = urls.iter().map(|u| BenchRequest::get(u)).collect();
    assert!(
        ALLOCS.load(Ordering::SeqCst) > before,
        "the counter sees the request heads being built"
    );
    let frontends = [&demo.frontends()[0], &fifty.frontends()[0]];
    // Warm up: the regex crate fills a per-thread cache on first use.
    for req in &reqs {
        for fe in frontends {
            let _ = decide(fe, req);
        }
    }
    let mut decisions = 0;
    let before = ALLOCS.load(Ordering::SeqCst);
    for req in &reqs {
        for fe in frontends {
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
    let backend = |rt: &Runtime, name: &str| rt.backends().iter().position(|b| b.name() == name);
    assert_eq!(
        decide(frontends[0], &reqs[1]),
        Ok(backend(&demo, "lightServers"))
    );
    assert_eq!(
        decide(frontends[0], &reqs[2]),
        Ok(backend(&demo, "heavyServers"))
    );
    assert_eq!(decide(frontends[0], &reqs[3]), Err(0), "/admin is denied");
    assert_eq!(decide(frontends[1], &reqs[5]), Ok(backend(&fifty, "b0")));
    assert_eq!(decide(frontends[1], &reqs[1]), Ok(backend(&fifty, "b2")));
}

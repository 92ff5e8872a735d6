//! Rule evaluation allocates nothing: a counting global allocator watches
//! the proxy's own decision path ([`fairway::Frontend::decide`] over the
//! proxy's [`fairway::RequestView`] of a Pingora request head), the one
//! every HTTP request runs through, for the demo config and the 50-ACL
//! config.

use fairway::Runtime;
use fairway_benches::{decide, demo_config, fifty_acl_config, BenchRequest};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations made by this thread (the tests run in parallel).
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// How many allocations this thread has made.
fn allocations() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
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
    let before = allocations();
    let reqs: Vec<BenchRequest> = urls.iter().map(|u| BenchRequest::get(u)).collect();
    assert!(
        allocations() > before,
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
    let before = allocations();
    for req in &reqs {
        for fe in frontends {
            let _ = std::hint::black_box(decide(fe, req));
            decisions += 1;
        }
    }
    let after = allocations();
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

#[test]
fn a_value_allocates_at_most_its_result() {
    let req = BenchRequest::get("/Some/Path?id=7");
    let rates = [];
    let view = fairway::RequestView::new(&req.header, Some(req.src), &rates);
    let fetches = fairway::acl::Fetches::builtin();
    let value = |text: &str| fairway::acl::Value::parse(text, 0, &fetches).unwrap();
    let cases = [
        ("max-age=31536000", 0, "max-age=31536000"),
        ("%[src]", 1, "192.0.2.10"),
        ("ip=%[src] ua=%[hdr(user-agent),lower]", 1, ""),
        (
            "%[path,upper]|%[url_param(id)]|%[unique-id]",
            1,
            "/SOME/PATH|7|id-1",
        ),
        (
            "%[hdr(cookie),base64]",
            1,
            "c2Vzc2lvbj1hYmMxMjM7IHRoZW1lPWRhcms=",
        ),
    ];
    for (text, expected, want) in cases {
        let v = value(text);
        let before = allocations();
        let out = std::hint::black_box(v.render(&view, "id-1"));
        let used = allocations() - before;
        assert_eq!(used, expected, "{text} -> {out}");
        if !want.is_empty() {
            assert_eq!(out, want, "{text}");
        }
    }
}

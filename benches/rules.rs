//! Rule evaluation cost per request: what fairway adds before it picks a
//! server. `cargo bench -p fairway-benches --bench rules`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fairway::Runtime;
use fairway_benches::{decide, demo_config, fifty_acl_config, BenchRequest};

fn rules(c: &mut Criterion) {
    let demo = Runtime::new(&demo_config());
    let fe = &demo.frontends()[0];
    let mut g = c.benchmark_group("demo");
    for url in [
        "/",
        "/lightwork",
        "/heavywork",
        "/admin",
        "/static/app.js?v=3",
    ] {
        let req = BenchRequest::get(url);
        g.bench_function(url, |b| b.iter(|| decide(black_box(fe), black_box(&req))));
    }
    g.finish();

    let fifty = Runtime::new(&fifty_acl_config());
    let fe = &fifty.frontends()[0];
    let mut g = c.benchmark_group("fifty_acls");
    for url in ["/zz/last", "/nothing/matches/here", "/p0/first"] {
        let req = BenchRequest::get(url);
        g.bench_function(url, |b| b.iter(|| decide(black_box(fe), black_box(&req))));
    }
    g.finish();

    let mut g = c.benchmark_group("normalize_path");
    for path in ["/already/normal/path", "/a//b/./c/../%61dmin"] {
        g.bench_function(path, |b| {
            b.iter(|| fairway_acl::normalize_path(black_box(path)))
        });
    }
    g.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);

//! A balancer simulation: client latency per balance algorithm on simulated
//! fleets, in virtual time (no sleeping; a run takes well under a second).
//!
//! ```text
//! cargo bench -p fairway-benches --bench simulate
//! SIM_REQUESTS=500000 SIM_SEED=7 cargo bench -p fairway-benches --bench simulate
//! ```
//!
//! The model (a discrete-event simulation, in the spirit of tower's
//! `examples/tower-balance.rs`, but open loop and without a runtime):
//!
//! - **Arrivals**: open loop, a Poisson process at [`UTILISATION`] of the
//!   fleet's capacity (sum over servers of workers / mean service time).
//!   Every algorithm sees the same arrival times and client keys.
//! - **Picks**: fairway's real [`Backend::try_acquire`] over real servers, and
//!   the [`InFlight`] guard it returns is held until the request completes,
//!   so `leastconn` and `random` read true in-flight counts.
//! - **Servers**: each is one FIFO queue in front of `workers` workers
//!   (M/G/c). A request starts when a worker is free and holds it for a
//!   service time drawn from the server's log-normal distribution. A busy
//!   server is slower only through that queueing delay.
//! - **`maxconn`** (some fleets): a request that finds every server at
//!   `maxconn` waits in the backend's FIFO queue, as with
//!   `Backend::acquire`, and goes out when a request ends; `timeout_queue` is
//!   not modelled (nobody gives up).
//! - **Latency**: completion minus arrival (backend queue + server queue +
//!   service). The first [`WARMUP`] of the requests are not counted.
//! - **Health checks**: every [`CHECK_INTERVAL`] each server records a check
//!   round trip (its current queueing delay plus one service-time draw; a
//!   check takes no worker) with `Server::record_rtt`. `balance: latency`
//!   backends are rebuilt every `latency.interval` (default 5 s), as the
//!   proxy's `background::Refresher` does.
//! - **`ewma`**: every completion records, through the request's
//!   `InFlight` handle (`observed`), the time from dispatch to response
//!   (the backend queue excluded), as the proxy's handle does at response
//!   headers, for every algorithm. The estimates take the time as an
//!   argument and the `ewma` selector reads them at the simulation's clock
//!   (`Ewma::with_clock`), so decay between samples happens in virtual
//!   time, as it does in the proxy in real time.
//! - **Determinism**: arrivals, keys, service times and checks come from
//!   `fastrand::Rng::with_seed`; the thread-local generator that `random`
//!   and `ewma` draw from is reseeded with `fastrand::seed` per run.
//!
//! Adding an algorithm: add a row to [`algorithms`]. One that learns from
//! health checks reads the round trips recorded above (rebuild its backend
//! in [`Sim::check`] if it needs that); one that learns from response
//! times reads the server's estimate, which every completion feeds through
//! its `InFlight` handle.

use fairway::balance::{Acquire, Backend};
use fairway::balance::{Ewma, Selector, Selectors};
use fairway::upstream::InFlight;
use fairway_benches::{backend_with, request_key};
use fairway_config::Balance;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Offered load as a share of the fleet's capacity.
const UTILISATION: f64 = 0.7;
/// Share of the requests, from the start, left out of the statistics.
const WARMUP: f64 = 0.05;
/// Distinct clients (keys for the hash algorithms).
const CLIENTS: u32 = 1_000;
/// Time between two health checks of a server.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Requests per algorithm and fleet unless `SIM_REQUESTS` says otherwise.
const DEFAULT_REQUESTS: usize = 20_000;
/// A backlog above this many requests per worker when the last request
/// arrives marks a queue that grows for the whole run (a spread load keeps
/// it near [`UTILISATION`] per worker).
const BACKLOG_PER_WORKER: usize = 4;
/// How to read some rows.
const NOTES: &str = "
- `first` without `maxconn` sends everything to s0, as in HAProxy: it is meant for use with `maxconn`.
- `latency` gives the fastest server by health-check p90 weight 256 and the next weight 1, the rest 0: \
a failover policy (fastest region wins), not a load spreader, so one server cannot carry 70 % of a \
10-server fleet.
- With `maxconn` equal to the workers on identical servers, every algorithm that keeps all servers \
is the same M/G/40 queue (dispatch happens exactly when a worker is free), hence identical \
latencies.
- Hash rows: 1,000 clients on a consistent-hash ring give an uneven share even on equal servers.
- (b) `random` draws its two candidates independently, so both are slow ones with probability \
(2/10)^2 = 4 %, more than the 2.4 % of the fleet's capacity that the slow servers have.";

/// The rows of each table: a label and the algorithm. The hash algorithms
/// (`source`, `uri`, `url_param`, `hdr`) share one selector and differ only
/// in what they hash, so one row stands for all four.
fn algorithms() -> Vec<(&'static str, Balance)> {
    vec![
        ("roundrobin", Balance::RoundRobin),
        ("leastconn", Balance::LeastConn),
        ("random (P2C)", Balance::Random),
        ("first", Balance::First),
        ("source/uri/url_param/hdr", Balance::Source),
        ("latency", Balance::Latency),
        ("ewma (P2C)", Balance::Ewma),
    ]
}

/// One simulated server.
#[derive(Debug, Clone, Copy)]
struct Model {
    /// Median service time.
    median_ms: f64,
    /// Spread: the standard deviation of the service time's logarithm.
    sigma: f64,
    /// Requests served at once; more wait in the server's queue.
    workers: usize,
}

impl Model {
    const FAST: Model = Model {
        median_ms: 10.0,
        sigma: 0.5,
        workers: 4,
    };
    const SLOW: Model = Model {
        median_ms: 100.0,
        ..Model::FAST
    };

    /// Mean service time in seconds.
    fn mean_s(&self) -> f64 {
        self.median_ms / 1e3 * (self.sigma * self.sigma / 2.0).exp()
    }

    /// One service time, in nanoseconds.
    fn draw(&self, rng: &mut fastrand::Rng) -> u64 {
        // Box-Muller: a standard normal from two uniforms in (0, 1].
        let (u1, u2) = (1.0 - rng.f64(), rng.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (self.median_ms * 1e6 * (self.sigma * z).exp()) as u64
    }
}

/// A fleet: the servers (all weight 1) and their `maxconn`.
struct Fleet {
    title: &'static str,
    servers: Vec<Model>,
    maxconn: Option<u32>,
    /// Offered load as a share of ONE fastest server's capacity instead of
    /// [`UTILISATION`] of the fleet's (regions that can each carry it all).
    share_of_one: Option<f64>,
}

impl Fleet {
    /// Requests per second offered.
    fn offered_per_s(&self) -> f64 {
        match self.share_of_one {
            Some(share) => {
                let fastest = self
                    .servers
                    .iter()
                    .map(|m| m.workers as f64 / m.mean_s())
                    .fold(0.0, f64::max);
                share * fastest
            }
            None => UTILISATION * self.capacity_per_s(),
        }
    }

    fn capacity_per_s(&self) -> f64 {
        self.servers
            .iter()
            .map(|m| m.workers as f64 / m.mean_s())
            .sum()
    }

    fn is_slow(&self, i: usize) -> bool {
        let fastest = self
            .servers
            .iter()
            .map(|m| m.median_ms)
            .fold(f64::MAX, f64::min);
        self.servers[i].median_ms > 2.0 * fastest
    }
}

fn fleets() -> Vec<Fleet> {
    let homogeneous = vec![Model::FAST; 10];
    let one_in_five_slow: Vec<Model> = (0..10)
        .map(|i| if i % 5 == 4 { Model::SLOW } else { Model::FAST })
        .collect();
    let maxconn = Some(Model::FAST.workers as u32);
    // Seeds 000/001: regions far apart, each big enough for all the
    // traffic; what differs is the round trip (network), 20 ms vs 200 ms.
    let region = Model {
        median_ms: 20.0,
        sigma: 0.3,
        workers: 64,
    };
    let far = Model {
        median_ms: 200.0,
        ..region
    };
    let regions: Vec<Model> = (0..5).map(|i| if i == 4 { far } else { region }).collect();
    vec![
        Fleet {
            title: "(c) regions: 5 big regions, one 10x farther (200 ms vs 20 ms); load = 50 % of one region",
            servers: regions,
            maxconn: None,
            share_of_one: Some(0.5),
        },
        Fleet {
            title: "(a) homogeneous: 10 servers, 4 workers, ~10 ms",
            servers: homogeneous.clone(),
            maxconn: None,
            share_of_one: None,
        },
        Fleet {
            title: "(b) one server in five 10x slower (s4, s9 ~100 ms)",
            servers: one_in_five_slow.clone(),
            maxconn: None,
            share_of_one: None,
        },
        Fleet {
            title: "(a) with maxconn 4 (= workers; the rest waits in the backend queue)",
            servers: homogeneous,
            maxconn,
            share_of_one: None,
        },
        Fleet {
            title: "(b) with maxconn 4",
            servers: one_in_five_slow,
            maxconn,
            share_of_one: None,
        },
    ]
}

/// A request in service, ordered by completion time.
struct Pending {
    done: u64,
    seq: usize,
    arrived: u64,
    /// When it left the backend queue for the server.
    sent: u64,
    guard: InFlight,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.done, self.seq) == (other.done, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.done, self.seq).cmp(&(other.done, other.seq))
    }
}

/// A request waiting in the backend queue.
struct Waiting {
    seq: usize,
    arrived: u64,
    key: Option<u64>,
}

/// The simulation's clock (ns of virtual time), read by the `ewma`
/// selector; a run is single-threaded.
static NOW: AtomicU64 = AtomicU64::new(0);

fn virtual_now() -> u64 {
    NOW.load(Ordering::Relaxed)
}

/// The built-in algorithms, with `ewma` reading the estimates at the
/// simulation's clock.
fn selectors() -> Selectors {
    let mut s = Selectors::builtin();
    let ewma = |w: &[u32]| Box::new(Ewma::with_clock(w, virtual_now)) as Box<dyn Selector>;
    // A built-in name: always valid.
    let _ = s.register("ewma", ewma);
    s
}

/// One run: one algorithm on one fleet.
struct Sim<'a> {
    fleet: &'a Fleet,
    balance: Balance,
    backend: Backend,
    /// When a `latency` backend next recomputes its weights.
    next_rebuild: u64,
    /// When each worker of each server is next free (ns).
    workers: Vec<BinaryHeap<Reverse<u64>>>,
    in_service: BinaryHeap<Reverse<Pending>>,
    queue: VecDeque<Waiting>,
    service_rng: fastrand::Rng,
    check_rng: fastrand::Rng,
    warmup: usize,
    /// Latencies of the counted requests (ns).
    latencies: Vec<u64>,
    /// Requests each server got.
    picks: Vec<usize>,
}

/// What a run reports.
struct Outcome {
    latencies: Vec<u64>,
    /// Share of the requests that went to slow servers.
    to_slow: Option<f64>,
    /// Requests each server got while requests were arriving, over what
    /// it can serve in that time, for the busiest server (>= 1: its queue
    /// grows for the whole run; with `maxconn` it stays near or below 1
    /// and the backend queue grows instead).
    busiest: f64,
    /// Requests queued or in service when the last one arrived.
    backlog: usize,
}

impl<'a> Sim<'a> {
    fn new(fleet: &'a Fleet, balance: &Balance, requests: usize, seed: u64) -> Self {
        let weights = vec![1; fleet.servers.len()];
        let backend = backend_with(balance, &weights, fleet.maxconn, &selectors());
        // Every estimate starts at the default, at virtual time 0.
        NOW.store(0, Ordering::Relaxed);
        let default_rtt = backend.spec().ewma.default_rtt;
        for s in backend.servers() {
            s.ewma().observe(default_rtt, 0);
        }
        Sim {
            fleet,
            balance: balance.clone(),
            backend,
            next_rebuild: 0,
            workers: fleet
                .servers
                .iter()
                .map(|m| (0..m.workers).map(|_| Reverse(0)).collect())
                .collect(),
            in_service: BinaryHeap::new(),
            queue: VecDeque::new(),
            service_rng: fastrand::Rng::with_seed(seed ^ 0x5e41_1ce0),
            check_rng: fastrand::Rng::with_seed(seed ^ 0xc4ec_c0de),
            warmup: (requests as f64 * WARMUP) as usize,
            latencies: Vec::with_capacity(requests),
            picks: vec![0; fleet.servers.len()],
        }
    }

    /// Sends request `seq` to a server now, if one has room.
    fn dispatch(&mut self, now: u64, seq: usize, arrived: u64, key: Option<u64>) -> bool {
        NOW.store(now, Ordering::Relaxed);
        let (server, guard) = match self.backend.try_acquire(key, &|_| false) {
            Acquire::Got(i, guard) => (i, guard),
            Acquire::Full => return false,
            Acquire::None => panic!("every simulated server is up"),
        };
        let Reverse(free) = self.workers[server].pop().expect("servers have workers");
        let done = free.max(now) + self.fleet.servers[server].draw(&mut self.service_rng);
        self.workers[server].push(Reverse(done));
        self.picks[server] += 1;
        self.in_service.push(Reverse(Pending {
            done,
            seq,
            arrived,
            sent: now,
            guard,
        }));
        true
    }

    fn arrive(&mut self, now: u64, seq: usize, key: Option<u64>) {
        // Nobody overtakes the backend queue: it is only non-empty while
        // every server is at `maxconn`.
        if !self.queue.is_empty() || !self.dispatch(now, seq, now, key) {
            self.queue.push_back(Waiting {
                seq,
                arrived: now,
                key,
            });
        }
    }

    fn complete(&mut self, p: Pending) {
        let now = p.done;
        if p.seq >= self.warmup {
            self.latencies.push(now - p.arrived);
        }
        let mut guard = p.guard;
        // What the proxy's in-flight handle records at the response head,
        // on the simulation's clock.
        guard.observed(Duration::from_nanos(now - p.sent), now);
        drop(guard);
        while let Some(w) = self.queue.front() {
            let (seq, arrived, key) = (w.seq, w.arrived, w.key);
            if !self.dispatch(now, seq, arrived, key) {
                break;
            }
            self.queue.pop_front();
        }
    }

    /// Every server records a health-check round trip; `latency` backends
    /// recompute their weights when their interval has passed.
    fn check(&mut self, now: u64) {
        for (i, model) in self.fleet.servers.iter().enumerate() {
            let wait = self.workers[i]
                .peek()
                .map_or(0, |Reverse(free)| free.saturating_sub(now));
            let rtt = wait + model.draw(&mut self.check_rng);
            self.backend.servers()[i].record_rtt(Duration::from_nanos(rtt));
        }
        if self.balance == Balance::Latency && now >= self.next_rebuild {
            self.backend.rebuild();
            self.next_rebuild = now + self.backend.spec().latency.interval.as_nanos() as u64;
        }
    }

    fn run(mut self, requests: usize, seed: u64) -> Outcome {
        let mut arrivals = fastrand::Rng::with_seed(seed);
        let gap_ns = 1e9 / self.fleet.offered_per_s();
        let check_every = CHECK_INTERVAL.as_nanos() as u64;
        let mut next_check = check_every;
        let mut next_arrival = 0u64;
        let mut last_arrival = 0u64;
        let mut backlog = 0;
        let mut picks = Vec::new();
        let mut seq = 0;
        fastrand::seed(seed);
        loop {
            let next_done = self.in_service.peek().map(|Reverse(p)| p.done);
            if seq < requests && next_arrival.min(next_check) < next_done.unwrap_or(u64::MAX) {
                if next_check <= next_arrival {
                    self.check(next_check);
                    next_check += check_every;
                    continue;
                }
                let key = request_key(&self.balance, arrivals.u32(0..CLIENTS));
                self.arrive(next_arrival, seq, key);
                seq += 1;
                last_arrival = next_arrival;
                if seq == requests {
                    backlog = self.in_service.len() + self.queue.len();
                    picks.clone_from(&self.picks);
                }
                // Exponential gaps: a Poisson process.
                next_arrival += (-(1.0 - arrivals.f64()).ln() * gap_ns) as u64;
            } else if let Some(Reverse(p)) = self.in_service.pop() {
                self.complete(p);
            } else {
                assert!(self.queue.is_empty(), "queued requests with none in flight");
                break;
            }
        }
        let seconds = last_arrival as f64 / 1e9;
        let busiest = picks
            .iter()
            .zip(&self.fleet.servers)
            .map(|(n, m)| *n as f64 / seconds * m.mean_s() / m.workers as f64)
            .fold(0.0, f64::max);
        let slow: usize = (0..self.picks.len())
            .filter(|&i| self.fleet.is_slow(i))
            .map(|i| self.picks[i])
            .sum();
        let any_slow = (0..self.picks.len()).any(|i| self.fleet.is_slow(i));
        Outcome {
            latencies: self.latencies,
            to_slow: any_slow.then(|| slow as f64 / requests as f64),
            busiest,
            backlog,
        }
    }
}

/// The `p`-th percentile (nearest rank) of sorted `v`.
fn percentile(v: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 1_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1e3)
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name}={v} is not a number; using {default}");
            default
        }),
        Err(_) => default,
    }
}

fn main() {
    let requests = env_or("SIM_REQUESTS", DEFAULT_REQUESTS as u64).max(1) as usize;
    let seed = env_or("SIM_SEED", 1);
    println!(
        "# Balancer simulation\n\n{requests} requests per row (SIM_REQUESTS), seed {seed} \
         (SIM_SEED), Poisson arrivals at {:.0} % of fleet capacity, a FIFO queue and \
         workers per server, log-normal service times (sigma {}), the first {:.0} % of \
         requests not counted. Client latency = backend queue + server queue + service.",
        UTILISATION * 100.0,
        Model::FAST.sigma,
        WARMUP * 100.0
    );
    let mut overloaded = false;
    for fleet in fleets() {
        let workers: usize = fleet.servers.iter().map(|m| m.workers).sum();
        println!(
            "\n## {}\n\n{:.0} requests/s offered, capacity {:.0}/s.\n\n\
             | algorithm | p50 | p90 | p99 | to slow servers | busiest server load | backlog |\n\
             |---|---:|---:|---:|---:|---:|---:|",
            fleet.title,
            fleet.offered_per_s(),
            fleet.capacity_per_s()
        );
        for (label, balance) in algorithms() {
            let mut out = Sim::new(&fleet, &balance, requests, seed).run(requests, seed);
            out.latencies.sort_unstable();
            // Without `maxconn` a server over its capacity grows its own
            // queue; with it, the backend queue grows.
            let growing = out.backlog > BACKLOG_PER_WORKER * workers
                || (fleet.maxconn.is_none() && out.busiest >= 1.0);
            let mark = if growing {
                overloaded = true;
                " (!)"
            } else {
                ""
            };
            println!(
                "| {label} | {} | {} | {} | {} | {:.2} | {}{mark} |",
                ms(percentile(&out.latencies, 50.0)),
                ms(percentile(&out.latencies, 90.0)),
                ms(percentile(&out.latencies, 99.0)),
                out.to_slow
                    .map_or_else(|| "-".into(), |s| format!("{:.1} %", s * 100.0)),
                out.busiest,
                out.backlog
            );
        }
    }
    println!(
        "\nbusiest server load: requests a server got while requests arrived, over what it \
         can serve (>= 1: more than it can serve). backlog: requests queued or in service \
         when the last one arrived (about {:.0} % of the workers when the load is spread).",
        UTILISATION * 100.0
    );
    if overloaded {
        println!(
            "(!) a server without `maxconn` gets more than it can serve, or more than \
             {BACKLOG_PER_WORKER} requests per worker wait: a queue grows for the whole run, \
             so these latencies grow with SIM_REQUESTS rather than settle."
        );
    }
    println!("{NOTES}");
}

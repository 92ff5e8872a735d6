//! A backend's retry budget at run time (`retry_budget`): requests and
//! retries counted over a sliding window of one-second slots, without a
//! lock. A request costs one atomic add (only when a budget is set); a
//! retry decision reads the window.

use fairway_config::RetryBudget;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Slots in the window (one per second).
const SLOTS: usize = RetryBudget::WINDOW.as_secs() as usize;

/// Requests and retries of one backend over the last
/// [`RetryBudget::WINDOW`]; shared by the backends derived from it and
/// carried over reloads.
#[derive(Debug, Default)]
pub struct RetryWindow {
    requests: [Slot; SLOTS],
    retries: [Slot; SLOTS],
}

/// One second's count: the second (since the process's first use) in
/// the high 32 bits, the count in the low 32.
#[derive(Debug, Default)]
struct Slot(AtomicU64);

impl Slot {
    fn add(&self, second: u32) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let next = if (cur >> 32) as u32 == second {
                cur + 1
            } else {
                (u64::from(second) << 32) | 1
            };
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// The count if it belongs to the window ending at `second`.
    fn count(&self, second: u32) -> u64 {
        let v = self.0.load(Ordering::Relaxed);
        let at = (v >> 32) as u32;
        if second.wrapping_sub(at) < SLOTS as u32 {
            v & u64::from(u32::MAX)
        } else {
            0
        }
    }
}

/// Seconds since the first call (the window's clock).
fn second(now: Instant) -> u32 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    now.saturating_duration_since(start).as_secs() as u32
}

impl RetryWindow {
    /// Counts a request (its first attempt).
    pub fn request(&self, now: Instant) {
        let s = second(now);
        self.requests[s as usize % SLOTS].add(s);
    }

    /// Whether `budget` allows one more retry now; if so it is counted.
    /// Two racing retries may both pass at the edge: the budget is a
    /// bound on the rate, not a lock.
    pub fn try_retry(&self, budget: &RetryBudget, now: Instant) -> bool {
        let s = second(now);
        let sum = |slots: &[Slot; SLOTS]| slots.iter().map(|slot| slot.count(s)).sum::<u64>();
        if sum(&self.retries) >= budget.allowed(sum(&self.requests)) {
            return false;
        }
        self.retries[s as usize % SLOTS].add(s);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retries_stay_within_the_share_of_requests() {
        let w = RetryWindow::default();
        let budget = RetryBudget { percent: 20 };
        let now = Instant::now();
        let mut allowed = 0;
        for _ in 0..100 {
            w.request(now);
            // Every request fails and asks for up to three retries.
            for _ in 0..3 {
                allowed += u32::from(w.try_retry(&budget, now));
            }
        }
        assert_eq!(allowed, 20);
    }

    #[test]
    fn a_lone_failure_may_still_be_retried() {
        let w = RetryWindow::default();
        let budget = RetryBudget { percent: 20 };
        let now = Instant::now();
        w.request(now);
        assert!(w.try_retry(&budget, now));
        assert!(w.try_retry(&budget, now));
        assert!(w.try_retry(&budget, now));
        assert!(!w.try_retry(&budget, now), "the floor is 3 per window");
    }

    #[test]
    fn the_window_forgets_after_ten_seconds() {
        let w = RetryWindow::default();
        let budget = RetryBudget { percent: 20 };
        let now = Instant::now();
        for _ in 0..3 {
            assert!(w.try_retry(&budget, now));
        }
        assert!(!w.try_retry(&budget, now));
        assert!(!w.try_retry(&budget, now + Duration::from_secs(9)));
        assert!(w.try_retry(&budget, now + Duration::from_secs(10)));
    }
}

//! The rise/fall state machine: check results in, up/down transitions out.

/// A change of a server's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The server was up and failed `checks` (= `fall`) checks in a row.
    Down {
        /// Consecutive failed checks that took it down.
        checks: u32,
    },
    /// The server was down and passed `checks` (= `rise`) checks in a row.
    Up {
        /// Consecutive passed checks that brought it up.
        checks: u32,
    },
}

/// HAProxy's `rise`/`fall` for one server: an up server goes down after
/// `fall` consecutive failed checks, a down server comes up after `rise`
/// consecutive passed checks; a result that agrees with the current state
/// resets the count. Pure: no clock, no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    up: bool,
    streak: u32,
}

impl RiseFall {
    /// A state machine starting `up` (servers start up). `rise` and `fall`
    /// below 1 count as 1.
    pub fn new(rise: u32, fall: u32, up: bool) -> Self {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            up,
            streak: 0,
        }
    }

    /// Whether the server is up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Consecutive results so far against the current state (failures while
    /// up, successes while down).
    pub fn streak(&self) -> u32 {
        self.streak
    }

    /// Takes one check result; returns the transition it causes, if any.
    pub fn observe(&mut self, passed: bool) -> Option<Transition> {
        if passed == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.up = passed;
        self.streak = 0;
        Some(if passed {
            Transition::Up { checks: needed }
        } else {
            Transition::Down { checks: needed }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `results` ('+' passed, '-' failed) and returns the transitions
    /// with the 1-based index of the check that caused them.
    fn run(m: &mut RiseFall, results: &str) -> Vec<(usize, Transition)> {
        results
            .chars()
            .enumerate()
            .filter_map(|(i, c)| m.observe(c == '+').map(|t| (i + 1, t)))
            .collect()
    }

    #[test]
    fn up_server_goes_down_after_fall_consecutive_failures() {
        let mut m = RiseFall::new(2, 3, true);
        assert_eq!(run(&mut m, "++--"), vec![]);
        assert_eq!(m.streak(), 2);
        assert_eq!(run(&mut m, "-"), vec![(1, Transition::Down { checks: 3 })]);
        assert!(!m.is_up());
        assert_eq!(m.streak(), 0);
    }

    #[test]
    fn a_pass_resets_the_failure_count() {
        let mut m = RiseFall::new(2, 3, true);
        assert_eq!(run(&mut m, "--+--+--+"), vec![]);
        assert!(m.is_up());
        assert_eq!(
            run(&mut m, "---"),
            vec![(3, Transition::Down { checks: 3 })]
        );
    }

    #[test]
    fn down_server_comes_up_after_rise_consecutive_passes() {
        let mut m = RiseFall::new(2, 3, false);
        assert_eq!(
            run(&mut m, "-+-+-"),
            vec![],
            "isolated passes do not bring it up"
        );
        assert_eq!(run(&mut m, "++"), vec![(2, Transition::Up { checks: 2 })]);
        assert!(m.is_up());
    }

    #[test]
    fn flapping_server_cycles_down_and_up() {
        let mut m = RiseFall::new(2, 2, true);
        let got = run(&mut m, "--++--++");
        assert_eq!(
            got,
            vec![
                (2, Transition::Down { checks: 2 }),
                (4, Transition::Up { checks: 2 }),
                (6, Transition::Down { checks: 2 }),
                (8, Transition::Up { checks: 2 }),
            ]
        );
    }

    #[test]
    fn rise_and_fall_of_one_follow_every_result_and_zero_counts_as_one() {
        for (rise, fall) in [(1, 1), (0, 0)] {
            let mut m = RiseFall::new(rise, fall, true);
            assert_eq!(m.observe(false), Some(Transition::Down { checks: 1 }));
            assert_eq!(m.observe(false), None);
            assert_eq!(m.observe(true), Some(Transition::Up { checks: 1 }));
            assert_eq!(m.observe(true), None);
        }
    }

    #[test]
    fn results_agreeing_with_the_state_change_nothing() {
        let mut m = RiseFall::new(3, 3, true);
        assert_eq!(run(&mut m, &"+".repeat(100)), vec![]);
        let mut m = RiseFall::new(3, 3, false);
        assert_eq!(run(&mut m, &"-".repeat(100)), vec![]);
    }
}

//! `retry_on` and `retry_budget` of a backend: which failed attempts are
//! retried, and how many retries the backend's traffic may carry.

/// A failure `retry_on` can name (HAProxy's `retry-on` keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCondition {
    /// The connection to the server could not be made (refused, timed
    /// out, TLS handshake failed). Nothing was sent, so any request may be
    /// retried.
    ConnFailure,
    /// The server closed the connection without a response.
    EmptyResponse,
    /// The server sent something that is not an HTTP response.
    JunkResponse,
    /// No response head within `timeout_server`.
    ResponseTimeout,
    /// The server answered with this status (400 to 599).
    Status(u16),
}

/// `retry_on`: the failures that are retried (default: `conn-failure`,
/// as HAProxy's). Statuses are kept as a bit set, so a check costs a shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// Bits 0..4: conn-failure, empty-response, junk-response,
    /// response-timeout.
    kinds: u8,
    /// Bit `code - 400` for each status 400..=599.
    statuses: [u64; 4],
}

impl Default for RetryOn {
    fn default() -> Self {
        let mut on = RetryOn::none();
        on.insert(RetryCondition::ConnFailure);
        on
    }
}

impl RetryOn {
    /// Nothing is retried (`retry_on: []`, HAProxy's `retry-on none`).
    pub const fn none() -> Self {
        RetryOn {
            kinds: 0,
            statuses: [0; 4],
        }
    }

    /// Adds a condition; a status outside 400..=599 is ignored (the loader
    /// rejects it first).
    pub fn insert(&mut self, condition: RetryCondition) {
        match condition {
            RetryCondition::Status(code) => {
                if let Some(bit) = code.checked_sub(400).filter(|b| *b < 200) {
                    self.statuses[usize::from(bit / 64)] |= 1 << (bit % 64);
                }
            }
            kind => self.kinds |= kind_bit(kind),
        }
    }

    /// Whether `condition` is retried.
    pub fn contains(&self, condition: RetryCondition) -> bool {
        match condition {
            RetryCondition::Status(code) => code
                .checked_sub(400)
                .filter(|b| *b < 200)
                .is_some_and(|bit| self.statuses[usize::from(bit / 64)] & (1 << (bit % 64)) != 0),
            kind => self.kinds & kind_bit(kind) != 0,
        }
    }

    /// Whether any response status is retried (a response may then be
    /// held back and the attempt retried instead).
    pub fn any_status(&self) -> bool {
        self.statuses.iter().any(|w| *w != 0)
    }

    /// The conditions in the order `retry_on` lists them canonically
    /// (kinds first, then statuses ascending).
    pub fn conditions(&self) -> impl Iterator<Item = RetryCondition> + '_ {
        const KINDS: [RetryCondition; 4] = [
            RetryCondition::ConnFailure,
            RetryCondition::EmptyResponse,
            RetryCondition::JunkResponse,
            RetryCondition::ResponseTimeout,
        ];
        let kinds = KINDS.into_iter().filter(|k| self.contains(*k));
        let statuses = (400..600)
            .map(RetryCondition::Status)
            .filter(|s| self.contains(*s));
        kinds.chain(statuses)
    }
}

fn kind_bit(kind: RetryCondition) -> u8 {
    match kind {
        RetryCondition::ConnFailure => 1,
        RetryCondition::EmptyResponse => 2,
        RetryCondition::JunkResponse => 4,
        RetryCondition::ResponseTimeout => 8,
        RetryCondition::Status(_) => 0,
    }
}

impl std::fmt::Display for RetryCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryCondition::ConnFailure => f.write_str("conn-failure"),
            RetryCondition::EmptyResponse => f.write_str("empty-response"),
            RetryCondition::JunkResponse => f.write_str("junk-response"),
            RetryCondition::ResponseTimeout => f.write_str("response-timeout"),
            RetryCondition::Status(code) => write!(f, "{code}"),
        }
    }
}

impl std::str::FromStr for RetryCondition {
    type Err = ();

    /// One `retry_on` word: a keyword or a status from 400 to 599.
    fn from_str(word: &str) -> Result<Self, ()> {
        Ok(match word {
            "conn-failure" => RetryCondition::ConnFailure,
            "empty-response" => RetryCondition::EmptyResponse,
            "junk-response" => RetryCondition::JunkResponse,
            "response-timeout" => RetryCondition::ResponseTimeout,
            code if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => {
                match code.parse::<u16>() {
                    Ok(n) if (400..600).contains(&n) => RetryCondition::Status(n),
                    _ => return Err(()),
                }
            }
            _ => return Err(()),
        })
    }
}

/// `retry_budget`: retries may be at most this share of the backend's
/// requests over the last 10 seconds (Envoy's and Linkerd's retry
/// budgets), so a failing backend cannot multiply its load. A few
/// retries ([`RetryBudget::MIN_RETRIES`] per window) are always allowed,
/// so that a quiet backend still retries a lone failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    /// Percent of the requests (1..=100).
    pub percent: u8,
}

impl RetryBudget {
    /// The window the shares are counted over.
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
    /// Retries allowed per window whatever the share.
    pub const MIN_RETRIES: u32 = 3;

    /// How many retries `requests` requests in a window allow.
    pub fn allowed(&self, requests: u64) -> u64 {
        (requests * u64::from(self.percent) / 100).max(u64::from(Self::MIN_RETRIES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_round_trip_through_the_set() {
        let mut on = RetryOn::none();
        for word in ["empty-response", "503", "400", "599", "response-timeout"] {
            on.insert(word.parse().unwrap());
        }
        let listed: Vec<String> = on.conditions().map(|c| c.to_string()).collect();
        assert_eq!(
            listed,
            ["empty-response", "response-timeout", "400", "503", "599"]
        );
        assert!(!on.contains(RetryCondition::ConnFailure));
        assert!(!on.contains(RetryCondition::Status(502)));
        assert!(on.any_status());
        assert!(!RetryOn::default().any_status());
        assert!(RetryOn::default().contains(RetryCondition::ConnFailure));
    }

    #[test]
    fn words_outside_the_keywords_and_statuses_are_refused() {
        for word in ["399", "600", "5xx", "50", "0503", "conn_failure", ""] {
            assert!(word.parse::<RetryCondition>().is_err(), "{word}");
        }
    }

    #[test]
    fn the_budget_is_a_share_with_a_floor() {
        let b = RetryBudget { percent: 20 };
        assert_eq!(b.allowed(0), 3);
        assert_eq!(b.allowed(10), 3);
        assert_eq!(b.allowed(100), 20);
        assert_eq!(b.allowed(1001), 200);
    }
}

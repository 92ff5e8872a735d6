//! Response-code counts for the stats page, read from the runtime: every
//! frontend, backend and server keeps its own (`upstream::Responses`),
//! recorded by the proxy when a request ends. Nothing is read back out of
//! the metrics registry.

use super::view::{CodeSource, Codes};
use crate::Runtime;

/// The counts of a runtime's frontends, backends and servers.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeCodes<'a>(pub &'a Runtime);

fn codes(counts: [u64; 6]) -> Codes {
    let [c1xx, c2xx, c3xx, c4xx, c5xx, other] = counts;
    Codes {
        c1xx,
        c2xx,
        c3xx,
        c4xx,
        c5xx,
        other,
    }
}

impl CodeSource for RuntimeCodes<'_> {
    fn frontend(&self, frontend: &str) -> Option<Codes> {
        let fe = self.0.frontends().iter().find(|f| f.name == frontend)?;
        Some(codes(fe.responses.counts()))
    }

    /// The backend's own responses (no server could take the request) and
    /// those of its servers.
    fn backend(&self, backend: &str) -> Option<Codes> {
        let b = self.0.backend(backend)?;
        let mut sum = b.responses().counts();
        for s in b.servers() {
            for (total, n) in sum.iter_mut().zip(s.responses().counts()) {
                *total += n;
            }
        }
        Some(codes(sum))
    }

    fn server(&self, backend: &str, server: &str) -> Option<Codes> {
        let (_, s) = self.0.backend(backend)?.server(server)?;
        Some(codes(s.responses().counts()))
    }
}

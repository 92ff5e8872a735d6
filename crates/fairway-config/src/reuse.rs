//! `http_reuse`: how a backend's idle server connections are shared.

/// `http_reuse` of a backend: which requests may take an idle server
/// connection that another client connection used (HAProxy's `http-reuse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpReuse {
    /// A client connection's first request goes over a server connection
    /// no other client connection used; its later requests may take any
    /// idle one (the default).
    #[default]
    Safe,
    /// A server connection serves one client connection only, and is
    /// closed with it.
    Never,
    /// Any request may take any idle connection to its server.
    Always,
}

impl HttpReuse {
    /// The config word: `safe`, `never` or `always`.
    pub fn name(self) -> &'static str {
        match self {
            HttpReuse::Safe => "safe",
            HttpReuse::Never => "never",
            HttpReuse::Always => "always",
        }
    }
}

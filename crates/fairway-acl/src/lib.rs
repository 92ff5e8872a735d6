//! HAProxy-style access control lists for fairway.
//!
//! This crate is pure: it knows nothing of Pingora or of sockets. It parses
//! the ACL language of HAProxy as fairway's config file embeds it in YAML
//! strings, compiles it once at load time, and evaluates it against any
//! request that implements [`Request`] without allocating.
//!
//! * [`Acl`]: one `FETCH [FLAGS] VALUE...` line, e.g. `path_end -i /lightwork`.
//! * [`AclSet`]: the named ACLs of a frontend.
//! * [`Condition`]: `if`/`unless` expressions: ACL names, anonymous `{ ... }`
//!   ACLs, `!`, juxtaposition (AND) and `||`/`or` (OR), with AND binding
//!   tighter, exactly as HAProxy.
//! * [`HttpRule`] / [`HttpAction`]: `http_request` lines such as
//!   `deny status 429 if { hdr(user-agent) -m sub badbot }`.
//!   The same types hold `http_response` lines ([`HttpRule::parse_response`]).
//! * [`Value`]: header values, bodies and locations with `%[FETCH]` samples.
//! * [`UseBackend`]: `use_backend` lines such as `light if lightwork`.
//! * [`TcpRule`] / [`TcpAction`]: `tcp_request` lines of `mode: tcp`
//!   frontends such as `reject unless { src 10.0.0.0/8 }`.
//! * [`normalize_path`] / [`normalize_path_with`]: the security default of
//!   SPEC §3 and §9 ([`PathOptions`]); [`match_path`]: the path rules match.
//! * [`Fetches`]: the registry of fetch names, built-in and user-written
//!   ([`SampleFetch`]); an [`AclSet`] made with [`AclSet::with_fetches`]
//!   compiles its lines, and its rules' anonymous ACLs, against it.
//!
//! ```
//! use fairway_acl::{Acl, AclSet, Condition, Request};
//! # use std::net::IpAddr;
//! # struct Req;
//! # impl Request for Req {
//! #     fn method(&self) -> &str { "GET" }
//! #     fn path(&self) -> &str { "/app/LightWork" }
//! #     fn query(&self) -> Option<&str> { None }
//! #     fn url(&self) -> &str { "/app/LightWork" }
//! #     fn host(&self) -> Option<&str> { Some("example.org") }
//! #     fn header_values(&self, _name: &str, _f: &mut dyn FnMut(&[u8]) -> bool) -> bool { false }
//! #     fn src(&self) -> Option<IpAddr> { None }
//! # }
//! let mut acls = AclSet::new();
//! acls.insert("lightwork", Acl::parse("path_end -i /lightwork").unwrap()).unwrap();
//! let cond = Condition::parse("lightwork || { path_beg /static }", &acls).unwrap();
//! assert!(cond.eval(&Req));
//! ```

#![deny(missing_docs)]

mod acl;
mod cond;
mod error;
mod fetches;
mod matcher;
mod normalize;
mod request;
mod rule;
mod sample;
#[cfg(test)]
mod testutil;
mod token;
mod value;

pub use acl::{Acl, AclSet, Fetch, MatchKind};
pub use cond::{Condition, Guard};
pub use error::AclError;
pub use fetches::{Arg, CustomFetch, FetchFactory, Fetches, SampleFetch, SampleType};
pub use normalize::{
    match_path, normalize_path, normalize_path_with, EncodedSlash, EncodedSlashes, PathOptions,
    PathParams,
};
pub use request::{last_address, Matched, Request};
pub use rule::{HttpAction, HttpRule, Rewrite, TcpAction, TcpRule, UseBackend};
pub use value::Value;

/// Whether `name` is a valid HTTP header name (an RFC 9110 token).
pub fn is_header_name(name: &str) -> bool {
    token::is_http_token(name)
}

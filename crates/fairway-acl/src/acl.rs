//! One ACL line (`FETCH [FLAGS] VALUE...`) and the named set of a frontend.

use crate::{AclError, Request};
use std::sync::Arc;

/// The sample fetch an ACL reads from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetch {
    /// `path` and its `path_*` variants.
    Path,
    /// `url`, `url_beg`.
    Url,
    /// `query`.
    Query,
    /// `url_param(name)`.
    UrlParam(String),
    /// `method`.
    Method,
    /// `hdr(name)` and its `hdr_*` variants; the name is stored lower case.
    Header(String),
    /// `host`: the Host header without port, compared case-insensitively.
    Host,
    /// `src`: the client IP address.
    Src,
}

/// How a sample is compared with the ACL's values (`-m ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// `-m str`: exact.
    Str,
    /// `-m beg`: prefix.
    Beg,
    /// `-m end`: suffix.
    End,
    /// `-m sub`: substring.
    Sub,
    /// `-m dir`: slash-delimited segment(s).
    Dir,
    /// `-m dom`: dot-delimited domain part(s).
    Dom,
    /// `-m reg`: regular expression.
    Reg,
    /// `-m found`: the fetch produced a sample at all.
    Found,
    /// IP address or CIDR (the only match of `src`).
    Ip,
}

/// A compiled ACL: fetch, flags and values, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Acl {
    _private: (),
}

impl Acl {
    /// Parses and compiles one ACL line such as `path_beg -i /api/ /v1/`.
    pub fn parse(line: &str) -> Result<Acl, AclError> {
        let _ = line;
        todo!()
    }

    /// Whether the request matches (any of the values matches).
    pub fn matches(&self, req: &dyn Request) -> bool {
        let _ = req;
        todo!()
    }

    /// The fetch this ACL reads.
    pub fn fetch(&self) -> &Fetch {
        todo!()
    }
}

/// The named ACLs of one frontend, in definition order.
#[derive(Debug, Clone, Default)]
pub struct AclSet {
    _private: (),
}

impl AclSet {
    /// An empty set.
    pub fn new() -> Self {
        AclSet::default()
    }

    /// Adds a named ACL. Errors when the name is not `[A-Za-z0-9_.-]+` or is
    /// already defined.
    pub fn insert(&mut self, name: &str, acl: Acl) -> Result<(), AclError> {
        let _ = (name, acl);
        todo!()
    }

    /// Looks a named ACL up.
    pub fn get(&self, name: &str) -> Option<&Arc<Acl>> {
        let _ = name;
        todo!()
    }

    /// The names, in definition order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::empty()
    }
}

//! `http_request` rules and `use_backend` lines.

use crate::{AclError, AclSet, Guard, Request};

/// What an `http_request` rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpAction {
    /// `deny [status N]`: answer N (default 403) with a short body.
    Deny {
        /// Status code.
        status: u16,
    },
    /// `allow`: stop evaluating further `http_request` rules.
    Allow,
    /// `return status N [content-type T] [string S]`.
    Return {
        /// Status code (default 200).
        status: u16,
        /// Content type, if given.
        content_type: Option<String>,
        /// Body, if given.
        body: Option<String>,
    },
    /// `redirect location URL [code N]` (default 302).
    RedirectLocation {
        /// Target URL.
        location: String,
        /// 301, 302, 303, 307 or 308.
        code: u16,
    },
    /// `redirect scheme S [code N]`: same host and URL, other scheme.
    RedirectScheme {
        /// Usually `https`.
        scheme: String,
        /// 301, 302, 303, 307 or 308.
        code: u16,
    },
    /// `set-header H V`: replace every `H` with one `H: V`.
    SetHeader {
        /// Header name, lower case.
        name: String,
        /// Value.
        value: String,
    },
    /// `add-header H V`: append `H: V`.
    AddHeader {
        /// Header name, lower case.
        name: String,
        /// Value.
        value: String,
    },
    /// `del-header H`.
    DelHeader {
        /// Header name, lower case.
        name: String,
    },
    /// `set-path P`.
    SetPath {
        /// The new path.
        path: String,
    },
}

/// One `http_request` line: an action and an optional guard.
#[derive(Debug, Clone)]
pub struct HttpRule {
    /// The action.
    pub action: HttpAction,
    /// `if`/`unless` condition; `None` applies always.
    pub guard: Option<Guard>,
}

impl HttpRule {
    /// Parses `deny status 429 if { hdr(user-agent) -m sub badbot }`.
    pub fn parse(text: &str, acls: &AclSet) -> Result<HttpRule, AclError> {
        let _ = (text, acls);
        todo!()
    }

    /// Whether the rule applies to this request.
    pub fn applies(&self, req: &dyn Request) -> bool {
        self.guard.as_ref().is_none_or(|g| g.holds(req))
    }
}

/// One `use_backend` line: `BACKEND [if|unless COND]`.
#[derive(Debug, Clone)]
pub struct UseBackend {
    /// The backend's name (the config loader checks it exists).
    pub backend: String,
    /// Byte offset of the backend name in the line (for error columns).
    pub backend_offset: usize,
    /// `None` applies always.
    pub guard: Option<Guard>,
}

impl UseBackend {
    /// Parses `light if lightwork`.
    pub fn parse(text: &str, acls: &AclSet) -> Result<UseBackend, AclError> {
        let _ = (text, acls);
        todo!()
    }

    /// Whether this line selects its backend for the request.
    pub fn applies(&self, req: &dyn Request) -> bool {
        self.guard.as_ref().is_none_or(|g| g.holds(req))
    }
}

//! `if`/`unless` conditions.

use crate::{AclError, AclSet, Request};

/// A compiled condition: an OR of ANDs of (possibly negated) ACLs.
#[derive(Debug, Clone)]
pub struct Condition {
    _private: (),
}

impl Condition {
    /// Parses `lightwork !internal || { path_beg /api }` against the named
    /// ACLs of `acls`. An unknown name is an error listing the known ones.
    pub fn parse(text: &str, acls: &AclSet) -> Result<Condition, AclError> {
        let _ = (text, acls);
        todo!()
    }

    /// Evaluates the condition; never allocates.
    pub fn eval(&self, req: &dyn Request) -> bool {
        let _ = req;
        todo!()
    }
}

/// `if COND` or `unless COND` at the end of a rule.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `true` for `unless`.
    pub negate: bool,
    /// The condition.
    pub cond: Condition,
}

impl Guard {
    /// Whether the rule applies to this request.
    pub fn holds(&self, req: &dyn Request) -> bool {
        self.cond.eval(req) != self.negate
    }
}

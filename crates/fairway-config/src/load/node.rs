//! Walking the marked YAML tree: positions, dotted paths, typed scalar
//! readers, and the diagnostics they collect.

use super::env;
use crate::Diagnostic;
use marked_yaml::types::{MarkedScalarNode, Node};
use std::collections::HashMap;
use std::time::Duration;

/// A 1-based line and column in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    /// This position moved `n` characters to the right.
    pub fn right(self, n: usize) -> Pos {
        Pos {
            line: self.line,
            col: self.col + n,
        }
    }
}

/// Where a node starts, with its character index in the source text.
fn start_of(node: &MarkedScalarNode) -> Option<(Pos, usize)> {
    node.span().start().map(|m| {
        (
            Pos {
                line: m.line(),
                col: m.column(),
            },
            m.character(),
        )
    })
}

/// The loader's state: the file name, the `${VAR}` lookup and every problem
/// found so far.
pub(crate) struct Loader<'a> {
    file: String,
    source: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    diags: Vec<Diagnostic>,
    /// The registered fetches and balance algorithms.
    pub options: &'a crate::LoadOptions,
}

/// A value in the tree with its dotted path and the position errors about it
/// point at (its own start for scalars; the key's for nulls and collections,
/// whose spans the YAML loader does not place reliably).
#[derive(Clone)]
pub(crate) struct Item<'n> {
    pub node: &'n Node,
    pub path: String,
    pub pos: Option<Pos>,
}

/// One `key: value` pair of a mapping.
pub(crate) struct Entry<'n> {
    pub key: &'n str,
    pub key_pos: Option<Pos>,
    pub item: Item<'n>,
}

/// A scalar read as a string, after `${VAR}` substitution.
pub(crate) struct Text {
    pub value: String,
    pub pos: Option<Pos>,
    /// Character index of the scalar in the source (for quote detection).
    char_index: Option<usize>,
    /// Whether `${...}` or `$$` changed the string (offsets no longer map).
    substituted: bool,
}

/// The entries of a mapping whose keys were checked against the known ones.
pub(crate) struct Fields<'n> {
    entries: HashMap<&'static str, Entry<'n>>,
}

impl<'n> Fields<'n> {
    /// Takes the entry for a known key, if present.
    pub fn take(&mut self, key: &'static str) -> Option<Entry<'n>> {
        self.entries.remove(key)
    }
}

/// Whether a scalar is a YAML null written plainly (`~`, `null`, nothing).
fn is_null(node: &Node) -> bool {
    match node {
        Node::Scalar(s) => {
            s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// How a node is described in "expected ..., found ..." messages.
fn describe(node: &Node) -> String {
    match node {
        _ if is_null(node) => "nothing".to_string(),
        Node::Scalar(s) => format!("`{}`", s.as_str()),
        Node::Mapping(_) => "a mapping".to_string(),
        Node::Sequence(_) => "a list".to_string(),
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

pub(crate) use crate::valid_name;

impl<'a> Loader<'a> {
    pub fn new(
        file: &str,
        source: &'a str,
        env: &'a dyn Fn(&str) -> Option<String>,
        options: &'a crate::LoadOptions,
    ) -> Self {
        Loader {
            file: file.to_string(),
            source,
            env,
            diags: Vec::new(),
            options,
        }
    }

    /// Records a problem.
    pub fn error(&mut self, pos: Option<Pos>, path: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: pos.map(|p| p.line),
            col: pos.map(|p| p.col),
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// The problems in file order (those without a position last).
    pub fn finish(self) -> Vec<Diagnostic> {
        let mut diags = self.diags;
        diags.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.col.unwrap_or(usize::MAX)));
        diags.dedup();
        diags
    }

    /// The root item (the top-level mapping).
    pub fn root<'n>(&self, node: &'n Node) -> Item<'n> {
        Item {
            node,
            path: String::new(),
            pos: None,
        }
    }

    /// The pairs of a mapping, in file order; a null counts as empty.
    pub fn entries<'n>(&mut self, item: &Item<'n>) -> Option<Vec<Entry<'n>>> {
        match item.node {
            Node::Mapping(map) => Some(
                map.iter()
                    .map(|(k, v)| {
                        let key_pos = start_of(k).map(|(p, _)| p);
                        let path = join(&item.path, k.as_str());
                        Entry {
                            key: k.as_str(),
                            key_pos,
                            item: child(v, path, key_pos),
                        }
                    })
                    .collect(),
            ),
            node if is_null(node) => Some(Vec::new()),
            node => {
                let found = describe(node);
                self.error(
                    item.pos,
                    &item.path,
                    format!("expected a mapping, found {found}"),
                );
                None
            }
        }
    }

    /// The items of a list, paths `path[i]`; a null counts as empty.
    pub fn list<'n>(&mut self, item: &Item<'n>) -> Option<Vec<Item<'n>>> {
        match item.node {
            Node::Sequence(seq) => Some(
                seq.iter()
                    .enumerate()
                    .map(|(i, v)| child(v, format!("{}[{i}]", item.path), item.pos))
                    .collect(),
            ),
            node if is_null(node) => Some(Vec::new()),
            node => {
                let found = describe(node);
                self.error(
                    item.pos,
                    &item.path,
                    format!("expected a list, found {found}"),
                );
                None
            }
        }
    }

    /// Checks the keys of a mapping: `known` ones are returned, `later` ones
    /// (features of later versions) and any other are reported.
    pub fn fields<'n>(
        &mut self,
        item: &Item<'n>,
        known: &[&'static str],
        later: &[&str],
    ) -> Fields<'n> {
        let mut entries = HashMap::new();
        for entry in self.entries(item).unwrap_or_default() {
            if let Some(k) = known.iter().find(|k| **k == entry.key) {
                entries.insert(*k, entry);
            } else if later.contains(&entry.key) {
                let msg = format!("`{}` is not supported yet", entry.key);
                self.error(entry.key_pos, &entry.item.path, msg);
            } else {
                let msg = format!(
                    "unknown key `{}` (expected one of: {})",
                    entry.key,
                    known.join(", ")
                );
                self.error(entry.key_pos, &entry.item.path, msg);
            }
        }
        Fields { entries }
    }

    /// Reports an entry key that is not a valid name; returns whether it is.
    pub fn check_name(&mut self, entry: &Entry<'_>) -> bool {
        let ok = valid_name(entry.key);
        if !ok {
            let msg = format!(
                "invalid name `{}` (allowed characters: A-Z a-z 0-9 _ . -)",
                entry.key
            );
            self.error(entry.key_pos, &entry.item.path, msg);
        }
        ok
    }

    /// A scalar as a string, with `${VAR}` substituted.
    pub fn text(&mut self, item: &Item<'_>) -> Option<Text> {
        let scalar = match item.node {
            Node::Scalar(s) if !is_null(item.node) => s,
            node => {
                let found = describe(node);
                self.error(
                    item.pos,
                    &item.path,
                    format!("expected a string, found {found}"),
                );
                return None;
            }
        };
        let char_index = start_of(scalar).map(|(_, c)| c);
        let raw = scalar.as_str();
        match env::substitute(raw, self.env) {
            Ok(value) => {
                let substituted = value != raw;
                Some(Text {
                    value,
                    pos: item.pos,
                    char_index,
                    substituted,
                })
            }
            Err(e) => {
                let text = Text {
                    value: raw.to_string(),
                    pos: item.pos,
                    char_index,
                    substituted: false,
                };
                let pos = self.pos_in(&text, e.offset);
                self.error(pos, &item.path, e.message);
                None
            }
        }
    }

    /// The position of byte `offset` of a string value (best effort: quotes
    /// are skipped; after substitution the value's start is used).
    pub fn pos_in(&self, text: &Text, offset: usize) -> Option<Pos> {
        let pos = text.pos?;
        if text.substituted {
            return Some(pos);
        }
        let quoted = text
            .char_index
            .and_then(|i| self.source.chars().nth(i))
            .is_some_and(|c| c == '"' || c == '\'');
        let chars = text.value.get(..offset).map_or(0, |s| s.chars().count());
        Some(pos.right(chars + usize::from(quoted)))
    }

    /// A non-empty string.
    pub fn nonempty(&mut self, item: &Item<'_>) -> Option<String> {
        let text = self.text(item)?;
        if text.value.is_empty() {
            self.error(item.pos, &item.path, "must not be empty");
            return None;
        }
        Some(text.value)
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, item: &Item<'_>) -> Option<bool> {
        let text = self.text(item)?;
        match text.value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                let msg = format!("expected `true` or `false`, found `{other}`");
                self.error(item.pos, &item.path, msg);
                None
            }
        }
    }

    /// An integer in `lo..=hi`.
    pub fn integer(&mut self, item: &Item<'_>, lo: u64, hi: u64) -> Option<u64> {
        let text = self.text(item)?;
        match text.value.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                let msg = format!(
                    "expected an integer from {lo} to {hi}, found `{}`",
                    text.value
                );
                self.error(item.pos, &item.path, msg);
                None
            }
        }
    }

    /// A duration such as `250ms`, `10s`, `2m`.
    pub fn duration(&mut self, item: &Item<'_>) -> Option<Duration> {
        let text = self.text(item)?;
        let value = text.value.trim();
        let bare_number =
            !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if bare_number {
            let msg = format!("duration `{value}` needs a unit (e.g. `{value}s`)");
            self.error(item.pos, &item.path, msg);
            return None;
        }
        match humantime::parse_duration(value) {
            Ok(d) => Some(d),
            Err(_) => {
                let msg = format!(
                    "invalid duration `{}` (expected e.g. `250ms`, `10s`, `2m`)",
                    text.value
                );
                self.error(item.pos, &item.path, msg);
                None
            }
        }
    }

    /// A duration greater than zero (timeouts).
    pub fn timeout(&mut self, item: &Item<'_>) -> Option<Duration> {
        let d = self.duration(item)?;
        if d.is_zero() {
            self.error(item.pos, &item.path, "timeout must be greater than zero");
            return None;
        }
        Some(d)
    }

    /// One of `choices` (exact match).
    pub fn choice<T: Copy>(
        &mut self,
        item: &Item<'_>,
        what: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let text = self.text(item)?;
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == text.value) {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let msg = format!(
            "unknown {what} `{}` (expected one of: {})",
            text.value,
            names.join(", ")
        );
        self.error(item.pos, &item.path, msg);
        None
    }
}

/// A child item: errors point at the value when it is a non-null scalar,
/// else at `fallback` (its key).
fn child(node: &Node, path: String, fallback: Option<Pos>) -> Item<'_> {
    let pos = match node {
        Node::Scalar(s) if !is_null(node) => start_of(s).map(|(p, _)| p).or(fallback),
        _ => fallback,
    };
    Item { node, path, pos }
}

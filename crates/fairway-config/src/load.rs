//! YAML -> Config, collecting every error.
//!
//! The file is parsed by `marked-yaml` into nodes that remember their line
//! and column, then walked by hand ([`node::Loader`]) so that each problem is
//! recorded with its position and dotted path and the walk goes on: the
//! caller sees all of them at once, in file order.

mod backend;
mod compression;
mod dns;
mod env;
mod frontend;
mod node;
mod server;
mod tls;

use crate::{Config, ConfigError, Diagnostic, Global, LogLevel, Mode};
use marked_yaml::{LoadError, LoaderOptions, Node};
use node::{Item, Loader, Pos};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const TOP_KEYS: &[&str] = &["global", "admin", "frontends", "backends"];
const TOP_LATER: &[&str] = &[];
const ADMIN_KEYS: &[&str] = &["bind", "auth", "socket"];
const AUTH_KEYS: &[&str] = &["user", "password"];
const GLOBAL_KEYS: &[&str] = &[
    "threads",
    "grace_period",
    "pid_file",
    "upgrade_sock",
    "log_level",
    "access_log",
    "access_log_format",
];

pub(crate) fn from_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    options: &crate::LoadOptions,
) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic {
            file: name.clone(),
            line: None,
            col: None,
            path: String::new(),
            message: format!("cannot read the config file: {e}"),
        }],
    })?;
    let mut config = from_str_with(&text, &name, env, options)?;
    config.path = Some(path.to_path_buf());
    Ok(config)
}

/// [`from_str_with`] with the built-in fetches and algorithms.
#[cfg(test)]
pub(crate) fn from_str(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    from_str_with(text, source, env, &crate::LoadOptions::default())
}

pub(crate) fn from_str_with(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
    options: &crate::LoadOptions,
) -> Result<Config, ConfigError> {
    let mut cx = Loader::new(source, text, env, options);
    let config = load(&mut cx, text);
    let diagnostics = cx.finish();
    match config {
        Some(config) if diagnostics.is_empty() => Ok(config),
        _ if diagnostics.is_empty() => Err(ConfigError {
            // Not expected: every failure path records a diagnostic.
            diagnostics: vec![Diagnostic {
                file: source.to_string(),
                line: None,
                col: None,
                path: String::new(),
                message: "invalid config".to_string(),
            }],
        }),
        _ => Err(ConfigError { diagnostics }),
    }
}

/// Parses and validates; `None` when the YAML itself is unreadable.
fn load(cx: &mut Loader<'_>, text: &str) -> Option<Config> {
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => {
            yaml_error(cx, &e);
            return None;
        }
    };
    if let Some(pos) = second_document(text) {
        cx.error(Some(pos), "", "only one YAML document is allowed");
    }
    Some(config(cx, &root))
}

/// Reports an error of the YAML loader.
fn yaml_error(cx: &mut Loader<'_>, e: &LoadError) {
    let at = |m: &marked_yaml::Marker| {
        Some(Pos {
            line: m.line(),
            col: m.column(),
        })
    };
    match e {
        LoadError::ScanError(m, se) => {
            cx.error(at(m), "", format!("YAML syntax error: {}", se.info()))
        }
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => {
            let msg = format!(
                "the top level must be a mapping with keys {}",
                TOP_KEYS.join(", ")
            );
            cx.error(at(m), "", msg)
        }
        LoadError::UnexpectedAnchor(m) => {
            cx.error(at(m), "", "YAML anchors and aliases are not supported")
        }
        LoadError::MappingKeyMustBeScalar(m) => {
            cx.error(at(m), "", "mapping keys must be plain strings")
        }
        LoadError::UnexpectedTag(m) => cx.error(at(m), "", "YAML tags (`!...`) are not supported"),
        LoadError::DuplicateKey(d) => {
            let first = d.prev_key.span().start().map(|m| {
                format!(
                    " (first defined at line {}, column {})",
                    m.line(),
                    m.column()
                )
            });
            let msg = format!(
                "duplicate key `{}`{}",
                d.key.as_str(),
                first.unwrap_or_default()
            );
            cx.error(d.key.span().start().and_then(at), "", msg)
        }
    }
}

/// The position of a second document: a `---` after the first document's
/// content, or content after its `...` end marker (the YAML loader reads the
/// first document only and would silently ignore the rest).
fn second_document(text: &str) -> Option<Pos> {
    let (mut content, mut ended) = (false, false);
    for (i, line) in text.lines().enumerate() {
        let pos = Pos {
            line: i + 1,
            col: 1,
        };
        let is_marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
        };
        if is_marker("---") {
            if content {
                return Some(pos);
            }
        } else if is_marker("...") {
            ended = content;
        } else if !line.trim().is_empty()
            && !line.trim_start().starts_with('#')
            && !line.starts_with('%')
        {
            if ended {
                return Some(pos);
            }
            content = true;
        }
    }
    None
}

/// Walks the top-level mapping.
fn config(cx: &mut Loader<'_>, root: &Node) -> Config {
    let root = cx.root(root);
    let mut f = cx.fields(&root, TOP_KEYS, TOP_LATER);
    let global = f
        .take("global")
        .map(|e| global(cx, &e.item))
        .unwrap_or_default();
    let admin = f.take("admin").and_then(|e| admin(cx, &e));

    let mut backends = Vec::new();
    if let Some(e) = f.take("backends") {
        for b in cx.entries(&e.item).unwrap_or_default() {
            backends.push(backend::parse(cx, &b));
        }
    }

    let mut frontends = Vec::new();
    match f.take("frontends") {
        Some(e) => {
            let entries = cx.entries(&e.item);
            if entries.as_ref().is_some_and(|v| v.is_empty()) {
                cx.error(e.key_pos, &e.item.path, "no frontends defined");
            }
            for entry in entries.unwrap_or_default() {
                frontends.push(frontend::parse(cx, &entry));
            }
        }
        None => cx.error(None, "", "no frontends defined"),
    }

    check_binds(cx, &frontends);
    check_refs(cx, &frontends, &backends);

    if let (Some(a), Some(dup)) = (
        &admin,
        frontends
            .iter()
            .flat_map(|p| p.frontend.bind.iter())
            .find(|b| admin_conflicts(&admin, b)),
    ) {
        cx.error(
            None,
            "admin.bind",
            format!(
                "address {} is also bound by a frontend ({dup})",
                a.bind.map_or_else(String::new, |b| b.to_string())
            ),
        );
    }

    Config {
        global,
        admin,
        frontends: frontends.into_iter().map(|p| p.frontend).collect(),
        backends,
        path: None,
    }
}

/// Whether the admin listener would share a frontend's address.
fn admin_conflicts(admin: &Option<crate::Admin>, bind: &SocketAddr) -> bool {
    admin.as_ref().and_then(|a| a.bind).is_some_and(|a| {
        a.port() == bind.port()
            && (a.ip() == bind.ip() || a.ip().is_unspecified() || bind.ip().is_unspecified())
    })
}

/// The `admin` section. Refuses a non-loopback bind without `auth`.
fn admin(cx: &mut Loader<'_>, entry: &node::Entry<'_>) -> Option<crate::Admin> {
    let item = &entry.item;
    let mut f = cx.fields(item, ADMIN_KEYS, &[]);
    let bind = match f.take("bind") {
        Some(e) => cx
            .text(&e.item)
            .and_then(|t| match frontend::bind_addr(&t.value) {
                Ok(a) => Some(Some((a, e.item.clone()))),
                Err(msg) => {
                    cx.error(e.item.pos, &e.item.path, msg);
                    None
                }
            }),
        None => Some(None),
    };
    let auth = match f.take("auth") {
        Some(e) => {
            let mut a = cx.fields(&e.item, AUTH_KEYS, &[]);
            let mut get = |cx: &mut Loader<'_>, key: &'static str| match a.take(key) {
                Some(v) => cx.nonempty(&v.item),
                None => {
                    cx.error(
                        e.key_pos,
                        &e.item.path,
                        format!("missing required key `{key}`"),
                    );
                    None
                }
            };
            let user = get(cx, "user");
            let password = get(cx, "password");
            match (user, password) {
                (Some(user), Some(password)) => Some(Some(crate::AdminAuth { user, password })),
                _ => None,
            }
        }
        None => Some(None),
    };
    let socket = match f.take("socket") {
        Some(e) => cx.nonempty(&e.item).map(|s| Some(PathBuf::from(s))),
        None => Some(None),
    };
    let bind = bind?;
    let auth = auth?;
    let socket = socket?;
    if bind.is_none() && socket.is_none() {
        cx.error(
            entry.key_pos,
            &item.path,
            "needs `bind` (the HTTP listener), `socket` (the runtime socket) or both",
        );
        return None;
    }
    if let Some((bind, bind_item)) = bind
        .as_ref()
        .filter(|(b, _)| auth.is_none() && !b.ip().is_loopback())
    {
        cx.error(
            bind_item.pos,
            &bind_item.path,
            format!("admin binds {bind}, which is not a loopback address, without `auth`: add admin.auth or bind 127.0.0.1"),
        );
        return None;
    }
    Some(crate::Admin {
        bind: bind.map(|(b, _)| b),
        auth,
        socket,
    })
}

/// The `global` section.
fn global(cx: &mut Loader<'_>, item: &Item<'_>) -> Global {
    let mut f = cx.fields(item, GLOBAL_KEYS, &[]);
    let mut g = Global::default();
    if let Some(e) = f.take("threads") {
        g.threads = cx
            .integer(&e.item, 1, 1024)
            .and_then(|n| usize::try_from(n).ok());
    }
    if let Some(e) = f.take("grace_period") {
        g.grace_period = cx.duration(&e.item).unwrap_or(g.grace_period);
    }
    if let Some(e) = f.take("pid_file") {
        g.pid_file = cx
            .nonempty(&e.item)
            .map(PathBuf::from)
            .unwrap_or(g.pid_file);
    }
    if let Some(e) = f.take("upgrade_sock") {
        g.upgrade_sock = cx
            .nonempty(&e.item)
            .map(PathBuf::from)
            .unwrap_or(g.upgrade_sock);
    }
    if let Some(e) = f.take("log_level") {
        let levels = [
            ("error", LogLevel::Error),
            ("warn", LogLevel::Warn),
            ("info", LogLevel::Info),
            ("debug", LogLevel::Debug),
            ("trace", LogLevel::Trace),
        ];
        g.log_level = cx
            .choice(&e.item, "log level", &levels)
            .unwrap_or(g.log_level);
    }
    if let Some(e) = f.take("access_log") {
        g.access_log = cx.boolean(&e.item).unwrap_or(g.access_log);
    }
    if let Some(e) = f.take("access_log_format") {
        if let Some(text) = cx.text(&e.item) {
            let fetches = cx.options.fetch_registry();
            match crate::LogFormat::parse(&text.value, &fetches) {
                Ok(format) => g.access_log_format = format,
                Err((offset, message)) => {
                    let pos = cx.pos_in(&text, offset);
                    cx.error(pos, &e.item.path, message);
                }
            }
        }
    }
    g
}

/// `mode` of a frontend or backend: `http` or `tcp`.
fn mode(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<Mode> {
    cx.choice(item, "mode", &[("http", Mode::Http), ("tcp", Mode::Tcp)])
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
    }
}

/// The same address may be bound only once.
fn check_binds(cx: &mut Loader<'_>, frontends: &[frontend::Parsed]) {
    let mut seen: HashMap<SocketAddr, &str> = HashMap::new();
    for bind in frontends.iter().flat_map(|f| &f.binds) {
        if let Some(first) = seen.get(&bind.addr) {
            let msg = format!("address {} is already bound by {first}", bind.addr);
            cx.error(bind.pos, &bind.path, msg);
        } else {
            seen.insert(bind.addr, &bind.path);
        }
    }
}

/// Backends named by frontends exist and have the frontend's mode.
fn check_refs(
    cx: &mut Loader<'_>,
    frontends: &[frontend::Parsed],
    backends: &[crate::BackendConfig],
) {
    let defined: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
    for f in frontends {
        for r in &f.refs {
            match backends.iter().find(|b| b.name == r.name) {
                None => {
                    let known = if defined.is_empty() {
                        "no backends are defined".to_string()
                    } else {
                        format!("defined: {}", defined.join(", "))
                    };
                    cx.error(
                        r.pos,
                        &r.path,
                        format!("unknown backend `{}` ({known})", r.name),
                    );
                }
                Some(b) if b.mode != f.frontend.mode => {
                    let msg = format!(
                        "backend `{}` has mode {}, but frontend `{}` has mode {}",
                        b.name,
                        mode_name(b.mode),
                        f.frontend.name,
                        mode_name(f.frontend.mode)
                    );
                    cx.error(r.pos, &r.path, msg);
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;

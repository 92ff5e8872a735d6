//! The runtime API (`/api/...`): JSON in, JSON out, every change through
//! [`Control`].
//!
//! Bodies are checked completely before anything changes: a bad body gets
//! `400 {"error": "..."}` naming the problem, an unknown backend or server
//! `404`, and nothing is changed.

use super::reply::Reply;
use crate::balance::Backend;
use crate::control::{Control, ControlError, NewServer};
use crate::reload::Reloader;
use crate::upstream::{AdminState, Server};
use serde::Serialize;
use serde_json::{Map, Value};

/// One server as `GET /api/backends` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ApiServer {
    /// Name.
    pub name: String,
    /// The address requests go to now (for a `dns` name, its latest
    /// answer); empty while a `dns` name has none yet.
    pub addr: String,
    /// Current weight (0..=256).
    pub weight: u16,
    /// `ready`, `drain` or `maint`.
    pub state: &'static str,
    /// `up` or `down`.
    pub health: &'static str,
    /// p90 of recent health-check round trips, in milliseconds.
    pub check_latency_p90_ms: Option<f64>,
    /// Requests in flight.
    pub active: usize,
    /// Requests sent.
    pub total: u64,
    /// Backup server.
    pub backup: bool,
    /// Weight from the config (or when added).
    pub initial_weight: u16,
    /// Weight the balancer gives it now.
    pub effective_weight: u16,
    /// The stats page's word: `UP`, `DOWN`, `DRAIN`, `MAINT` or `EJECTED`.
    pub status: &'static str,
    /// Whether `outlier` ejected it: no new requests until readmitted.
    pub ejected: bool,
    /// What is left of its ejection, in milliseconds.
    pub ejected_remaining_ms: Option<u64>,
    /// Times `outlier` ejected it since start.
    pub ejections: u64,
}

/// One backend as `GET /api/backends` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ApiBackend {
    /// Name.
    pub name: String,
    /// Balance algorithm.
    pub balance: String,
    /// Its servers.
    pub servers: Vec<ApiServer>,
}

impl ApiServer {
    /// The API view of `s`.
    pub fn of(s: &Server) -> ApiServer {
        ApiServer {
            name: s.name().to_string(),
            addr: super::view::addr(s),
            weight: s.weight(),
            state: s.admin_state().as_str(),
            health: if s.is_up() { "up" } else { "down" },
            check_latency_p90_ms: s
                .rtt_percentile(90)
                .map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
            active: s.active(),
            total: s.total(),
            backup: s.is_backup(),
            initial_weight: s.spec().weight,
            effective_weight: s.effective_weight(),
            status: super::view::server_status(s),
            ejected: s.outlier().is_ejected(),
            ejected_remaining_ms: super::view::ejected_remaining_ms(s),
            ejections: s.outlier().ejections(),
        }
    }
}

impl ApiBackend {
    /// The API view of `b`.
    pub fn of(b: &Backend) -> ApiBackend {
        ApiBackend {
            name: b.name().to_string(),
            balance: b.spec().balance.name(),
            servers: b.servers().iter().map(|s| ApiServer::of(s)).collect(),
        }
    }
}

/// The status code for a refused change.
pub fn status_of(e: &ControlError) -> u16 {
    match e {
        ControlError::NoBackend(_) | ControlError::NoServer(..) => 404,
        ControlError::Invalid(_) | ControlError::Exists(..) | ControlError::Reload(_) => 400,
    }
}

fn refused(e: &ControlError) -> Reply {
    Reply::error(status_of(e), &e.to_string())
}

/// `GET /api/backends`.
pub fn backends(control: &Control) -> Reply {
    let rt = control.snapshot();
    let list: Vec<ApiBackend> = rt.backends().iter().map(|b| ApiBackend::of(b)).collect();
    Reply::json(200, &list)
}

/// `GET /api/backends/{b}`.
pub fn backend(control: &Control, backend: &str) -> Reply {
    let rt = control.snapshot();
    match rt.backend(backend) {
        Some(b) => Reply::json(200, &ApiBackend::of(b)),
        None => refused(&ControlError::NoBackend(backend.to_string())),
    }
}

/// `GET /api/backends/{b}/servers`.
pub fn servers(control: &Control, backend: &str) -> Reply {
    let rt = control.snapshot();
    match rt.backend(backend) {
        Some(b) => Reply::json(200, &ApiBackend::of(b).servers),
        None => refused(&ControlError::NoBackend(backend.to_string())),
    }
}

/// `GET /api/backends/{b}/servers/{s}`.
pub fn server(control: &Control, backend: &str, server: &str) -> Reply {
    match find(control, backend, server) {
        Ok(s) => Reply::json(200, &s),
        Err(e) => refused(&e),
    }
}

fn find(control: &Control, backend: &str, server: &str) -> Result<ApiServer, ControlError> {
    let rt = control.snapshot();
    let b = rt
        .backend(backend)
        .ok_or_else(|| ControlError::NoBackend(backend.to_string()))?;
    b.server(server)
        .map(|(_, s)| ApiServer::of(s))
        .ok_or_else(|| ControlError::NoServer(backend.to_string(), server.to_string()))
}

/// A JSON object with only `allowed` keys, or the error naming the problem.
fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(format!(
            "empty request body: expected a JSON object with {}",
            allowed.join(", ")
        ));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON in request body: {e}"))?;
    let Value::Object(map) = value else {
        return Err(format!(
            "request body must be a JSON object with {}",
            allowed.join(", ")
        ));
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `{k}` (expected {})",
            allowed.join(", ")
        ));
    }
    Ok(map)
}

/// A weight: an integer 0..=256.
fn weight(v: &Value) -> Result<u16, String> {
    v.as_u64()
        .filter(|w| *w <= u64::from(fairway_config::MAX_WEIGHT))
        .and_then(|w| u16::try_from(w).ok())
        .ok_or_else(|| format!("weight must be an integer from 0 to 256, got {v}"))
}

/// A server address: `IP:PORT` (`[IPv6]:PORT`), port 1..=65535.
fn addr(v: &Value) -> Result<std::net::SocketAddr, String> {
    v.as_str()
        .and_then(|s| s.parse::<std::net::SocketAddr>().ok())
        .filter(|a| a.port() != 0)
        .ok_or_else(|| format!("addr must be \"IP:PORT\" (port 1 to 65535), got {v}"))
}

/// An administrative state: `ready`, `drain` or `maint`.
pub fn state(v: &str) -> Option<AdminState> {
    match v {
        "ready" => Some(AdminState::Ready),
        "drain" => Some(AdminState::Drain),
        "maint" => Some(AdminState::Maint),
        _ => None,
    }
}

/// `PUT /api/backends/{b}/servers/{s}` with `{"weight": N}`,
/// `{"state": "ready|drain|maint"}` and/or `{"addr": "IP:PORT"}`. Every
/// value is checked before anything changes.
pub fn change(control: &Control, backend: &str, server: &str, body: &[u8]) -> Reply {
    if let Err(e) = find(control, backend, server) {
        return refused(&e);
    }
    let parsed = object(body, &["weight", "state", "addr"]).and_then(|map| {
        let a = map.get("addr").map(addr).transpose()?;
        let w = map.get("weight").map(weight).transpose()?;
        let s = map
            .get("state")
            .map(|v| {
                v.as_str().and_then(state).ok_or_else(|| {
                    format!("state must be one of \"ready\", \"drain\", \"maint\", got {v}")
                })
            })
            .transpose()?;
        if w.is_none() && s.is_none() && a.is_none() {
            return Err(
                "nothing to change: give \"weight\", \"state\" and/or \"addr\"".to_string(),
            );
        }
        Ok((w, s, a))
    });
    let (w, s, a) = match parsed {
        Ok(p) => p,
        Err(msg) => return Reply::error(400, &msg),
    };
    if let Some(w) = w {
        if let Err(e) = control.set_weight(backend, server, u32::from(w)) {
            return refused(&e);
        }
    }
    if let Some(s) = s {
        if let Err(e) = control.set_state(backend, server, s) {
            return refused(&e);
        }
    }
    // The address last: the server at the new address takes over the weight
    // and state just set, so `{"addr", "state": "maint"}` never sends a
    // request to the new address.
    if let Some(a) = a {
        if let Err(e) = control.set_addr(backend, server, a) {
            return refused(&e);
        }
    }
    server_reply(control, backend, server, 200)
}

fn server_reply(control: &Control, backend: &str, server: &str, status: u16) -> Reply {
    match find(control, backend, server) {
        Ok(s) => Reply::json(status, &s),
        Err(e) => refused(&e),
    }
}

/// `POST /api/backends/{b}/servers` with `{"name", "addr", "weight"?, "backup"?}`.
pub fn add(control: &Control, backend: &str, body: &[u8]) -> Reply {
    if control.snapshot().backend(backend).is_none() {
        return refused(&ControlError::NoBackend(backend.to_string()));
    }
    let parsed = object(body, &["name", "addr", "weight", "backup"]).and_then(|map| {
        let text = |key: &str| match map.get(key) {
            None => Err(format!("missing field `{key}`")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(format!("`{key}` must be a string, got {v}")),
        };
        let name = text("name")?;
        let addr = text("addr")?;
        let weight = map.get("weight").map(weight).transpose()?;
        let backup = match map.get("backup") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(format!("`backup` must be true or false, got {v}")),
        };
        Ok(NewServer {
            name,
            addr,
            weight,
            backup,
        })
    });
    let new = match parsed {
        Ok(n) => n,
        Err(msg) => return Reply::error(400, &msg),
    };
    let name = new.name.clone();
    match control.add_server(backend, new) {
        Ok(()) => server_reply(control, backend, &name, 201).with_header(
            "location",
            format!("/api/backends/{backend}/servers/{name}"),
        ),
        Err(e) => refused(&e),
    }
}

/// `DELETE /api/backends/{b}/servers/{s}`: requests in flight finish.
pub fn remove(control: &Control, backend: &str, server: &str) -> Reply {
    match control.remove_server(backend, server) {
        Ok(()) => Reply::json(
            200,
            &serde_json::json!({ "removed": { "backend": backend, "server": server } }),
        ),
        Err(e) => refused(&e),
    }
}

/// `POST /api/reload`: as SIGHUP.
pub fn reload(reloader: &Reloader) -> Reply {
    match reloader.reload() {
        Ok(()) => Reply::json(200, &serde_json::json!({ "reloaded": true })),
        Err(e) => refused(&e),
    }
}

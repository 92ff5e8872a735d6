//! `tls` of frontends (certificates chosen by SNI) and `tls`, `sni`,
//! `verify`, `ca` of servers. Every file is read and checked here, at load.

use super::node::{Entry, Item, Loader};
use crate::tls::valid_server_name;
use crate::{CaFile, Tls, TlsCert, UpstreamTls};
use marked_yaml::Node;
use std::path::PathBuf;

const TLS_KEYS: &[&str] = &["cert", "key", "sni", "certs"];
const CERT_KEYS: &[&str] = &["cert", "key", "sni"];

/// `tls: { cert, key, sni, certs: [{ cert, key, sni }, ...] }`: at least
/// one certificate; the first is the default.
pub(crate) fn frontend(cx: &mut Loader<'_>, entry: &Entry<'_>) -> Option<Tls> {
    let mut f = cx.fields(&entry.item, TLS_KEYS, &[]);
    let (cert, key, sni) = (f.take("cert"), f.take("key"), f.take("sni"));
    let mut ok = true;
    let mut certs = Vec::new();
    match cert {
        Some(cert) => match one(cx, &cert, key.as_ref(), sni.as_ref()) {
            Some(c) => certs.push(c),
            None => ok = false,
        },
        None => {
            for (k, e) in [("key", &key), ("sni", &sni)] {
                if let Some(e) = e {
                    cx.error(e.key_pos, &e.item.path, format!("`{k}` needs `cert`"));
                    ok = false;
                }
            }
        }
    }
    if let Some(list) = f.take("certs") {
        for item in cx.list(&list.item).unwrap_or_default() {
            let mut c = cx.fields(&item, CERT_KEYS, &[]);
            let Some(cert) = c.take("cert") else {
                cx.error(item.pos, &item.path, "missing required key `cert`");
                ok = false;
                continue;
            };
            match one(cx, &cert, c.take("key").as_ref(), c.take("sni").as_ref()) {
                Some(tc) => certs.push(tc),
                None => ok = false,
            }
        }
    }
    if ok && certs.is_empty() {
        cx.error(
            entry.key_pos,
            &entry.item.path,
            "no certificate: give `cert` (and `key`) or `certs`",
        );
    }
    (ok && !certs.is_empty()).then_some(Tls { certs })
}

/// One certificate: its files, read and checked now, and its `sni` names.
fn one(
    cx: &mut Loader<'_>,
    cert: &Entry<'_>,
    key: Option<&Entry<'_>>,
    sni: Option<&Entry<'_>>,
) -> Option<TlsCert> {
    let cert_path = cx.nonempty(&cert.item).map(PathBuf::from);
    let key_path = match key {
        Some(k) => cx.nonempty(&k.item).map(|p| Some(PathBuf::from(p))),
        None => Some(None),
    };
    let names = match sni {
        Some(s) => names(cx, &s.item),
        None => Some(Vec::new()),
    };
    let (cert_path, key_path, names) = (cert_path?, key_path?, names?);
    match TlsCert::load(cert_path, key_path, names) {
        Ok(c) => Some(c),
        Err((in_key, msg)) => {
            // Point at the key's value when the problem is in the key file.
            let at = match key {
                Some(k) if in_key => &k.item,
                _ => &cert.item,
            };
            cx.error(at.pos, &at.path, msg);
            None
        }
    }
}

/// `sni: name` or `sni: [names]`: DNS names, `*.` wildcards allowed.
fn names(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<Vec<String>> {
    let items = match item.node {
        Node::Sequence(_) => cx.list(item)?,
        _ => vec![item.clone()],
    };
    let mut out = Vec::new();
    let mut ok = true;
    for i in &items {
        match cx.text(i) {
            Some(t) if valid_server_name(&t.value.to_ascii_lowercase()) => {
                out.push(t.value.to_ascii_lowercase())
            }
            Some(t) => {
                cx.error(
                    i.pos,
                    &i.path,
                    format!(
                        "invalid server name `{}` (expected a DNS name, optionally `*.` first)",
                        t.value
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if ok && out.is_empty() {
        cx.error(item.pos, &item.path, "at least one server name is needed");
        ok = false;
    }
    ok.then_some(out)
}

/// The upstream TLS settings of a server: `tls: true` with optional `sni`,
/// `verify` (default true) and `ca`; `sni`, `verify` and `ca` need
/// `tls: true`. `host` is the host part of the server's `addr` (the
/// default SNI). `Some(None)`: no TLS; `None`: errors were reported.
pub(crate) fn server(
    cx: &mut Loader<'_>,
    tls: Option<Entry<'_>>,
    sni: Option<Entry<'_>>,
    verify: Option<Entry<'_>>,
    ca: Option<Entry<'_>>,
    host: Option<&str>,
) -> Option<Option<UpstreamTls>> {
    let on = match &tls {
        Some(e) => cx.boolean(&e.item)?,
        None => false,
    };
    if !on {
        let mut ok = true;
        for (k, e) in [("sni", &sni), ("verify", &verify), ("ca", &ca)] {
            if let Some(e) = e {
                cx.error(e.key_pos, &e.item.path, format!("`{k}` needs `tls: true`"));
                ok = false;
            }
        }
        return ok.then_some(None);
    }
    let sni = match &sni {
        Some(e) => match cx.text(&e.item) {
            Some(t)
                if valid_server_name(&t.value) || t.value.parse::<std::net::IpAddr>().is_ok() =>
            {
                Some(t.value)
            }
            Some(t) => {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!("invalid server name `{}` (expected a DNS name)", t.value),
                );
                None
            }
            None => None,
        },
        None => host.map(str::to_string),
    };
    let verify = match &verify {
        Some(e) => cx.boolean(&e.item),
        None => Some(true),
    };
    let ca_value = match &ca {
        Some(e) => match cx.nonempty(&e.item) {
            Some(path) => match CaFile::from_file(path) {
                Ok(c) => Some(Some(c)),
                Err(msg) => {
                    cx.error(e.item.pos, &e.item.path, msg);
                    None
                }
            },
            None => None,
        },
        None => Some(None),
    };
    if let (Some(false), Some(e)) = (verify, &ca) {
        cx.error(
            e.key_pos,
            &e.item.path,
            "`ca` is not used with `verify: false` (remove one of them)",
        );
        return None;
    }
    Some(Some(UpstreamTls {
        sni: sni?,
        verify: verify?,
        ca: ca_value?,
    }))
}

//! `frontends.NAME.compression`.

use super::node::{Entry, Loader};
use crate::compression::{Coding, Compression};

const KEYS: &[&str] = &["algos", "types", "min_size"];

/// Parses a frontend's `compression` mapping; `None` after an error.
pub(crate) fn parse(cx: &mut Loader<'_>, e: &Entry<'_>) -> Option<Compression> {
    let mut f = cx.fields(&e.item, KEYS, &[]);
    let mut ok = true;
    let mut c = Compression {
        algos: Vec::new(),
        types: Compression::DEFAULT_TYPES.map(String::from).to_vec(),
        min_size: 0,
    };
    match f.take("algos") {
        Some(algos) => {
            let items = cx.list(&algos.item).unwrap_or_default();
            if items.is_empty() {
                cx.error(
                    algos.item.pos,
                    &algos.item.path,
                    "at least one of zstd, br, gzip",
                );
                ok = false;
            }
            for item in items {
                match cx.choice(&item, "compression algorithm", &Coding::ALL) {
                    Some(coding) if c.algos.contains(&coding) => {
                        let msg = format!("`{}` is listed twice", coding.name());
                        cx.error(item.pos, &item.path, msg);
                        ok = false;
                    }
                    Some(coding) => c.algos.push(coding),
                    None => ok = false,
                }
            }
        }
        None => {
            let msg = "missing required key `algos` (e.g. `algos: [zstd, br, gzip]`)";
            cx.error(e.key_pos, &e.item.path, msg);
            ok = false;
        }
    }
    if let Some(types) = f.take("types") {
        let items = cx.list(&types.item).unwrap_or_default();
        if items.is_empty() {
            let msg = "at least one media type (leave `types` out for the default list)";
            cx.error(types.item.pos, &types.item.path, msg);
            ok = false;
        }
        c.types.clear();
        for item in items {
            let Some(text) = cx.text(&item) else {
                ok = false;
                continue;
            };
            let t = text.value.trim().to_ascii_lowercase();
            if media_type(&t) {
                c.types.push(t);
            } else {
                let msg = format!(
                    "invalid media type `{}` (expected type/subtype, e.g. `text/html`, or `text/*`)",
                    text.value
                );
                cx.error(item.pos, &item.path, msg);
                ok = false;
            }
        }
    }
    if let Some(min) = f.take("min_size") {
        match cx.integer(&min.item, 0, u32::MAX.into()) {
            Some(n) => c.min_size = n,
            None => ok = false,
        }
    }
    ok.then_some(c)
}

/// `type/subtype` of RFC 9110 §8.3.1 tokens, or `type/*`.
fn media_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    match s.split_once('/') {
        Some((ty, sub)) => {
            token(ty) && !ty.contains('*') && (sub == "*" || (token(sub) && !sub.contains('*')))
        }
        None => false,
    }
}

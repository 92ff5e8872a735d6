//! Unit tests of the ACL and rule conversion.

use super::super::parse::line;
use super::*;

fn words(text: &str) -> Vec<Word> {
    line(1, text).map(|l| l.words).unwrap_or_default()
}

fn acls(lines: &[&str], tls: bool) -> (Acls, Vec<(usize, String)>) {
    let lines: Vec<(usize, String, Vec<Word>)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let w = words(l);
            (i + 1, w[0].text.clone(), w[1..].to_vec())
        })
        .collect();
    Acls::build(
        &lines,
        Scope {
            tls,
            ..Scope::default()
        },
    )
}

fn guard(a: &mut Acls, text: &str, _tls: bool) -> Result<Guard, String> {
    a.guard(&words(text))
}

fn cond_text(g: Guard) -> String {
    match g {
        Guard::Cond { keyword, text, .. } => format!("{keyword} {text}"),
        other => format!("{other:?}"),
    }
}

#[test]
fn same_name_lines_merge_or_expand() {
    let (mut a, errors) = acls(
        &[
            "api path_beg /api/",
            "api path_beg /v1/",
            "static path_end .css",
            "static hdr(x-static) -m found",
        ],
        false,
    );
    assert!(errors.is_empty());
    assert_eq!(
        a.entries,
        [
            ("api".to_string(), "path_beg /api/ /v1/".to_string()),
            ("static".to_string(), "path_end .css".to_string()),
            ("static_2".to_string(), "hdr(x-static) -m found".to_string()),
        ]
    );
    assert_eq!(
        cond_text(guard(&mut a, "if api static", false).unwrap()),
        "if api static || api static_2"
    );
    assert_eq!(
        cond_text(guard(&mut a, "unless !static or api", false).unwrap()),
        "unless !static !static_2 || api"
    );
}

#[test]
fn ssl_fc_and_constants_fold() {
    let (mut a, _) = acls(&["is_ssl ssl_fc", "x path /x"], false);
    assert_eq!(guard(&mut a, "unless { ssl_fc }", false), Ok(Guard::Always));
    assert_eq!(guard(&mut a, "if { ssl_fc }", false), Ok(Guard::Never));
    assert_eq!(guard(&mut a, "if !is_ssl", false), Ok(Guard::Always));
    assert_eq!(
        cond_text(guard(&mut a, "if x !is_ssl", false).unwrap()),
        "if x"
    );
    assert_eq!(
        cond_text(guard(&mut a, "if x is_ssl || x", false).unwrap()),
        "if x"
    );
    assert_eq!(guard(&mut a, "if TRUE", false), Ok(Guard::Always));
    let (mut a, _) = acls(&[], true);
    assert_eq!(guard(&mut a, "unless { ssl_fc }", true), Ok(Guard::Never));
}

#[test]
fn predefined_and_unknown() {
    let (mut a, _) = acls(&[], false);
    assert_eq!(
        cond_text(guard(&mut a, "unless METH_GET", false).unwrap()),
        "unless METH_GET"
    );
    assert_eq!(
        a.entries,
        [("METH_GET".to_string(), "method GET HEAD".to_string())]
    );
    assert!(guard(&mut a, "if nope", false)
        .unwrap_err()
        .contains("unknown ACL `nope`"));
    assert!(guard(&mut a, "if HTTP_1.1", false).is_err());
    assert!(guard(&mut a, "if { path", false).is_err());
    assert!(guard(&mut a, "if a ||", false).is_err());
}

#[test]
fn broken_and_pending_acls() {
    let (mut a, errors) = acls(
        &["c req.cook(x) -m found", "sni req.ssl_sni -i a.example"],
        false,
    );
    assert_eq!(errors.len(), 1);
    assert!(errors[0].1.contains("req.cook"), "{errors:?}");
    assert!(guard(&mut a, "if c", false)
        .unwrap_err()
        .contains("could not be converted"));
    assert_eq!(
        a.entries,
        [("sni".to_string(), "req_ssl_sni -i a.example".to_string())]
    );
    let g = guard(&mut a, "if sni || { req_ssl_sni b.example }", false).unwrap();
    assert!(a.check_use_backend(&format!("x{}", g.suffix(true))).is_ok());
    assert_eq!(g.suffix(false), " if sni || { req_ssl_sni b.example }");
}

//! The stats page (`GET /stats`): HAProxy's page, fairway's data.
//!
//! One table per backend with a row per server, coloured by state as
//! HAProxy colours them (green up, blue backup or draining, red down, brown
//! maintenance, grey unchecked), a frontend table, a legend, and a
//! `<meta http-equiv="refresh">` every [`REFRESH_SECS`] seconds. Every name
//! is HTML-escaped. A server ejected by `outlier` is `EJECTED` (orange,
//! HAProxy's "going down" colour), with the time left. The layout fits a 1366 px wide screen without
//! horizontal scrolling.

use super::view::{age, BackendStats, Codes, ServerStats, Stats};
use std::fmt::Write;

/// Seconds between automatic reloads of the page.
pub const REFRESH_SECS: u32 = 5;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font-family: Arial, Helvetica, sans-serif; font-size: 13px; margin: 12px 16px; color: #000; background: #fff; }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; border-bottom: 2px solid #b00040; padding-bottom: 4px; margin-bottom: 10px; }
h1 { font-size: 20px; margin: 0; color: #b00040; }
header .info { color: #444; }
h2 { font-size: 15px; margin: 16px 0 4px; }
table.tbl { border-collapse: collapse; width: 100%; max-width: 1330px; margin-bottom: 14px; table-layout: fixed; }
table.frontends { width: auto; min-width: 50%; table-layout: auto; }
table.tbl th, table.tbl td { border: 1px solid #999; padding: 2px 5px; white-space: nowrap; }
table.tbl td { text-align: right; font-variant-numeric: tabular-nums; }
table.tbl td.name, table.tbl td.addr, table.tbl td.text { text-align: left; }
table.tbl td.name, table.tbl td.addr { overflow: hidden; text-overflow: ellipsis; }
table.tbl td.name { font-weight: bold; }
table.tbl th { background: #20d0d0; font-weight: bold; text-align: center; }
table.tbl th.pxname { background: #b00040; color: #ffff40; text-align: left; font-size: 14px; }
table.tbl th.desc { background: #fff; color: #333; text-align: left; font-weight: normal; }
table.tbl td.status { text-align: center; font-weight: bold; }
tr.frontend td, tr.backend td { background: #e8e8d0; }
tr.backend td { font-weight: bold; }
tr.active_up td { background: #c0ffc0; }
tr.backup_up td { background: #b0d0ff; }
tr.active_draining td { background: #20a0ff; }
tr.backup_draining td { background: #cc9900; }
tr.down td { background: #ff9090; }
tr.ejected td { background: #ffd020; }
tr.maintain td { background: #c07820; }
tr.no_check td { background: #e0e0e0; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; color: #333; }
.legend span.sw { display: inline-block; width: 14px; height: 12px; border: 1px solid #999; vertical-align: middle; margin-right: 4px; }
footer { margin-top: 10px; color: #666; font-size: 12px; }
"#;

/// The whole page. `refresh`: whether it reloads itself.
pub fn render(stats: &Stats, refresh: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let with_codes = has_codes(stats);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    if refresh {
        let _ = write!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">"
        );
    }
    out.push_str("<meta name=\"viewport\" content=\"width=device-width\">");
    out.push_str("<title>fairway statistics</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n");
    let p = &stats.process;
    let _ = writeln!(
        out,
        "<header><h1>fairway statistics</h1><span class=\"info\">version {} &middot; pid {} &middot; uptime {} &middot; {}</span></header>",
        escape(p.version),
        p.pid,
        age(p.uptime_s),
        if refresh {
            format!("refreshes every {REFRESH_SECS} s (<a href=\"/stats;norefresh\">stop</a>)")
        } else {
            "<a href=\"/stats\">auto-refresh</a>".to_string()
        },
    );
    frontends(&mut out, stats, with_codes);
    for b in &stats.backends {
        backend(&mut out, b, with_codes);
    }
    legend(&mut out);
    out.push_str("<footer>Also: <a href=\"/stats;csv\">CSV</a> &middot; <a href=\"/stats.json\">JSON</a> &middot; <a href=\"/metrics\">metrics</a> &middot; <a href=\"/api/backends\">/api/backends</a></footer>\n");
    out.push_str("</body></html>\n");
    out
}

fn has_codes(stats: &Stats) -> bool {
    stats.frontends.iter().any(|f| f.responses.is_some())
        || stats
            .backends
            .iter()
            .any(|b| b.responses.is_some() || b.servers.iter().any(|s| s.responses.is_some()))
}

fn code_headers(out: &mut String, with_codes: bool) {
    if with_codes {
        out.push_str("<th title=\"1xx responses\">1xx</th><th title=\"2xx responses\">2xx</th><th title=\"3xx responses\">3xx</th><th title=\"4xx responses\">4xx</th><th title=\"5xx responses\">5xx</th>");
    }
}

fn code_cells(out: &mut String, codes: Option<Codes>, with_codes: bool) {
    if !with_codes {
        return;
    }
    match codes {
        Some(c) => {
            for n in &c.as_array()[..5] {
                let _ = write!(out, "<td>{n}</td>");
            }
        }
        None => out.push_str("<td></td><td></td><td></td><td></td><td></td>"),
    }
}

fn frontends(out: &mut String, stats: &Stats, with_codes: bool) {
    out.push_str("<h2>Frontends</h2>\n<table class=\"tbl frontends\" id=\"frontends\"><tr><th>Frontend</th><th>Bind</th><th>Status</th>");
    code_headers(out, with_codes);
    out.push_str("</tr>\n");
    for f in &stats.frontends {
        let name = escape(&f.name);
        let _ = write!(
            out,
            "<tr class=\"frontend\" data-frontend=\"{name}\"><td class=\"name\">{name}</td><td class=\"addr\">{}</td><td class=\"status\">OPEN</td>",
            escape(&f.bind.join(", "))
        );
        code_cells(out, f.responses, with_codes);
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The row class (colour) of a server, as HAProxy names them.
fn class(s: &ServerStats) -> &'static str {
    match (s.status, s.backup) {
        ("MAINT", _) => "maintain",
        ("DOWN", _) => "down",
        ("EJECTED", _) => "ejected",
        ("DRAIN", false) => "active_draining",
        ("DRAIN", true) => "backup_draining",
        (_, true) => "backup_up",
        _ if !s.checked => "no_check",
        _ => "active_up",
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |ms| format!("{ms:.1} ms"))
}

fn backend(out: &mut String, b: &BackendStats, with_codes: bool) {
    let name = escape(&b.name);
    let columns = 12 + if with_codes { 5 } else { 0 };
    let check = b.health_check.as_deref().map_or_else(
        || "no health check".to_string(),
        |c| format!("check {}", escape(c)),
    );
    // Fixed column widths: every backend's table lines up with the others,
    // and the server name takes what is left (long names end in "…").
    let _ = writeln!(
        out,
        "<table class=\"tbl backend-table\" id=\"backend-{name}\" data-backend=\"{name}\"><colgroup><col><col style=\"width:95px\"><col style=\"width:72px\"><col style=\"width:62px\"><col style=\"width:45px\"><col style=\"width:36px\"><col style=\"width:80px\"><col style=\"width:52px\"><col style=\"width:46px\"><col style=\"width:62px\">{}<col style=\"width:52px\"><col style=\"width:150px\"></colgroup>",
        if with_codes {
            "<col style=\"width:48px\">".repeat(5)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "<tr><th class=\"pxname\" colspan=\"3\">{name}</th><th class=\"desc\" colspan=\"{}\">balance {} &middot; {check} &middot; queued {}</th></tr>",
        columns - 3,
        escape(&b.balance),
        b.queued,
    );
    out.push_str("<tr><th>Server</th><th>Status</th><th title=\"time since the last health or state change\">Last chg</th><th title=\"weight now (configured)\">Weight</th><th title=\"weight the balancer uses now\">Eff.</th><th title=\"backup server\">Bck</th><th title=\"90th percentile of recent health-check round trips\">Check p90</th><th title=\"requests in flight\">Active</th><th title=\"maxconn\">Limit</th><th title=\"requests sent\">Total</th>");
    code_headers(out, with_codes);
    out.push_str("<th title=\"connection failures\">Errors</th><th>Address</th></tr>\n");
    for s in &b.servers {
        server(out, s, with_codes);
    }
    let _ = write!(
        out,
        "<tr class=\"backend\"><td class=\"name\">Backend</td><td class=\"status\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td><td>{}</td><td></td><td>{}</td>",
        b.status,
        age(b.last_change_s),
        b.servers.iter().map(|s| u64::from(s.weight)).sum::<u64>(),
        b.effective_weight,
        b.backup_servers,
        b.active,
        b.total,
    );
    code_cells(out, b.responses, with_codes);
    let _ = writeln!(
        out,
        "<td>{}</td><td class=\"addr\">{} up</td></tr>\n</table>",
        b.errors,
        b.active_servers + b.backup_servers
    );
}

fn server(out: &mut String, s: &ServerStats, with_codes: bool) {
    let name = escape(&s.name);
    let weight = if s.weight == s.initial_weight {
        s.weight.to_string()
    } else {
        format!("{} ({})", s.weight, s.initial_weight)
    };
    let status = if let Some(ms) = s.ejected_remaining_ms {
        format!("EJECTED <small>({} left)</small>", age(ms.div_ceil(1000)))
    } else if s.checked || s.status != "UP" {
        s.status.to_string()
    } else {
        "UP <small>(no check)</small>".to_string()
    };
    let _ = write!(
        out,
        "<tr class=\"{}\" data-server=\"{name}\" data-status=\"{}\"><td class=\"name\" title=\"{name}\">{name}</td><td class=\"status\">{status}</td><td>{} ago</td><td>{weight}</td><td>{}</td><td>{}</td><td title=\"last check: {}\">{}</td><td>{}</td><td>{}</td><td>{}</td>",
        class(s),
        s.status,
        age(s.last_change_s),
        s.effective_weight,
        if s.backup { "Y" } else { "-" },
        ms(s.last_check_ms),
        ms(s.check_latency_p90_ms),
        s.active,
        s.maxconn.map_or_else(|| "-".to_string(), |m| m.to_string()),
        s.total,
    );
    code_cells(out, s.responses, with_codes);
    let _ = writeln!(
        out,
        "<td>{}</td><td class=\"addr\">{}</td></tr>",
        s.errors,
        escape(&s.addr)
    );
}

fn legend(out: &mut String) {
    out.push_str("<div class=\"legend\">");
    for (class, text) in [
        ("#c0ffc0", "active UP"),
        ("#b0d0ff", "backup UP"),
        ("#20a0ff", "active DRAIN"),
        ("#cc9900", "backup DRAIN"),
        ("#ff9090", "DOWN"),
        ("#ffd020", "EJECTED (outlier)"),
        ("#c07820", "MAINT"),
        ("#e0e0e0", "UP, not checked"),
    ] {
        let _ = write!(
            out,
            "<span><span class=\"sw\" style=\"background:{class}\"></span>{text}</span>"
        );
    }
    out.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}

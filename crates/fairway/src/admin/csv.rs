//! HAProxy's stats CSV (`GET /stats;csv`, `show stat` on the runtime socket).
//!
//! The columns are HAProxy's, in HAProxy's order (management.txt, "9.1. CSV
//! format"), up to `uweight`; a column fairway has no value for is empty.
//! Rows come as HAProxy writes them: per frontend a `FRONTEND` row, per
//! backend one row per server and then a `BACKEND` row. Every line ends
//! with a comma, as HAProxy's do.

use super::view::{BackendStats, Codes, FrontendStats, ServerStats, Stats};

/// HAProxy's column names, in order (fields 0..=99).
pub const COLUMNS: [&str; 100] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
];

/// One CSV row under construction: fields by column name.
struct Row {
    fields: Vec<String>,
}

impl Row {
    fn new(pxname: &str, svname: &str) -> Row {
        let mut row = Row {
            fields: vec![String::new(); COLUMNS.len()],
        };
        row.set("pxname", pxname);
        row.set("svname", svname);
        row.set("pid", 1);
        row.set("mode", "http");
        row
    }

    fn set(&mut self, column: &str, value: impl ToString) {
        if let Some(i) = COLUMNS.iter().position(|c| *c == column) {
            self.fields[i] = value.to_string();
        }
    }

    fn codes(&mut self, codes: Option<Codes>) {
        if let Some(c) = codes {
            let names = [
                "hrsp_1xx",
                "hrsp_2xx",
                "hrsp_3xx",
                "hrsp_4xx",
                "hrsp_5xx",
                "hrsp_other",
            ];
            for (name, n) in names.iter().zip(c.as_array()) {
                self.set(name, n);
            }
        }
    }

    fn write(&self, out: &mut String) {
        for f in &self.fields {
            out.push_str(&field(f));
            out.push(',');
        }
        out.push('\n');
    }
}

/// A CSV field: quoted (with doubled quotes) only when it holds a comma, a
/// quote or a line break.
pub fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// The whole CSV: the `# pxname,...` header, then the rows.
pub fn render(stats: &Stats) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("# ");
    for c in COLUMNS {
        out.push_str(c);
        out.push(',');
    }
    out.push('\n');
    let mut iid = 0;
    for f in &stats.frontends {
        iid += 1;
        frontend(f, iid).write(&mut out);
    }
    for b in &stats.backends {
        iid += 1;
        for (i, s) in b.servers.iter().enumerate() {
            server(b, s, iid, i + 1).write(&mut out);
        }
        backend(b, iid).write(&mut out);
    }
    out
}

fn frontend(f: &FrontendStats, iid: usize) -> Row {
    let mut row = Row::new(&f.name, "FRONTEND");
    row.set("status", "OPEN");
    row.set("iid", iid);
    row.set("sid", 0);
    row.set("type", 0);
    row.codes(f.responses);
    if let Some(c) = f.responses {
        row.set("req_tot", c.as_array().iter().sum::<u64>());
    }
    row
}

fn server(b: &BackendStats, s: &ServerStats, iid: usize, sid: usize) -> Row {
    let mut row = Row::new(&b.name, &s.name);
    row.set("qcur", 0);
    row.set("scur", s.active);
    if let Some(m) = s.maxconn {
        row.set("slim", m);
    }
    row.set("stot", s.total);
    row.set("econ", s.errors);
    // HAProxy says "no check" for an unchecked server that is up.
    let status = if !s.checked && s.status == "UP" {
        "no check"
    } else {
        s.status
    };
    row.set("status", status);
    row.set("weight", s.effective_weight);
    row.set("act", u8::from(!s.backup));
    row.set("bck", u8::from(s.backup));
    row.set("lastchg", s.last_change_s);
    row.set("iid", iid);
    row.set("sid", sid);
    row.set("lbtot", s.total);
    row.set("type", 2);
    if s.checked {
        // fairway keeps no per-check reason: a failing HTTP check is
        // reported as a bad status, a failing TCP check as a refused connect.
        let http = b
            .health_check
            .as_deref()
            .is_some_and(|h| h.starts_with("http"));
        let (code, desc) = match (http, s.health == "up") {
            (true, true) => ("L7OK", "Layer7 check passed"),
            (true, false) => ("L7STS", "Layer7 wrong status"),
            (false, true) => ("L4OK", "Layer4 check passed"),
            (false, false) => ("L4CON", "Layer4 connection problem"),
        };
        row.set("check_status", code);
        row.set("check_desc", desc);
        if let Some(ms) = s.last_check_ms {
            row.set("check_duration", ms.round() as u64);
        }
    }
    row.codes(s.responses);
    row.set("addr", &s.addr);
    row.set("cookie", &s.name);
    row.set("uweight", s.weight);
    row
}

fn backend(b: &BackendStats, iid: usize) -> Row {
    let mut row = Row::new(&b.name, "BACKEND");
    row.set("qcur", b.queued);
    row.set("scur", b.active);
    row.set("stot", b.total);
    row.set("econ", b.errors);
    row.set("status", b.status);
    row.set("weight", b.effective_weight);
    row.set("act", b.active_servers);
    row.set("bck", b.backup_servers);
    row.set("lastchg", b.last_change_s);
    row.set("iid", iid);
    row.set("sid", 0);
    row.set("lbtot", b.total);
    row.set("type", 1);
    row.codes(b.responses);
    if let Some(c) = b.responses {
        row.set("req_tot", c.as_array().iter().sum::<u64>());
    }
    row.set("algo", &b.balance);
    row.set(
        "uweight",
        b.servers.iter().map(|s| u64::from(s.weight)).sum::<u64>(),
    );
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_starts_like_haproxys() {
        let stats = Stats {
            process: super::super::view::Process {
                name: "fairway",
                version: "0",
                pid: 1,
                uptime_s: 0,
            },
            frontends: vec![],
            backends: vec![],
        };
        let csv = render(&stats);
        assert!(csv.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,"));
        assert!(csv.ends_with(",uweight,\n"));
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("web"), "web");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}

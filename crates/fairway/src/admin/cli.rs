//! The HAProxy-compatible runtime commands of the admin socket.
//!
//! [`Cli::execute`] runs one line the way HAProxy's CLI does: commands
//! separated by `;` (a backslash escapes the next character), words
//! separated by spaces, and after each command's output the "prompt": an
//! empty line, or `"\n> "` in interactive mode (`prompt`). Replies and
//! error texts are HAProxy's (`doc/management.txt`, `src/server.c`), so
//! scripts written for HAProxy's `stats socket` work unchanged:
//!
//! ```text
//! $ echo "set server upstream/srv weight 256" | nc -U /run/fairway.sock
//!
//! $ echo "get weight upstream/srv" | nc -U /run/fairway.sock
//! 256 (initial 1)
//!
//! $ echo "set server upstream/nope weight 1" | nc -U /run/fairway.sock
//! No such server.
//!
//! ```
//!
//! Differences from HAProxy: `del server` does not wait for the server's
//! connections to close (requests in flight finish on their own);
//! `set server` knows `weight`, `state` and `addr` (without port maps:
//! `port +N` is refused); a server made by `add server` reports
//! `initial 0` (it is created at weight 0 so that it never
//! takes a request before it is in maintenance, then given its weight).

use super::syntax::{help, parse_weight, split, unknown};
use super::view::Stats;
use super::{codes::RuntimeCodes, csv};
use crate::balance::Backend;
use crate::control::{Control, ControlError, NewServer};
use crate::upstream::{AdminState, Server};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

/// What a connection remembers between lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Session {
    /// Interactive mode (`prompt`): the connection stays open and each
    /// reply ends with `"\n> "`.
    pub interactive: bool,
    /// `quit` was given: close after this output.
    pub quit: bool,
}

/// Runs runtime commands against a [`Control`].
#[derive(Clone)]
pub struct Cli {
    control: Control,
    started: Instant,
}

impl Cli {
    /// Commands acting on `control` (whose runtime keeps the response
    /// counts `show stat` prints); `started` is the process start (uptime).
    pub fn new(control: Control, started: Instant) -> Self {
        Cli { control, started }
    }

    /// Runs one line (one or more `;`-separated commands) and returns what
    /// to send back, each command's output followed by its prompt.
    pub fn execute(&self, line: &str, session: &mut Session) -> String {
        let commands = split(line);
        let mut out = String::new();
        let count = commands.len();
        for (i, words) in commands.into_iter().enumerate() {
            if words.is_empty() {
                continue;
            }
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match words.as_slice() {
                ["quit"] => {
                    session.quit = true;
                    return out;
                }
                ["prompt", ..] => session.interactive = !session.interactive,
                _ => out.push_str(&self.command(&words)),
            }
            let last = i + 1 == count;
            out.push_str(if session.interactive && last {
                "\n> "
            } else {
                "\n"
            });
        }
        if out.is_empty() && session.interactive {
            out.push_str("\n> ");
        }
        out
    }

    /// One command's output (without the prompt).
    pub fn command(&self, words: &[&str]) -> String {
        match words {
            ["help", rest @ ..] => help(rest),
            ["set", "server", target, rest @ ..] => self.set_server(target, rest),
            ["set", "server"] => "Require 'backend/server'.\n".into(),
            ["set", "weight", target, rest @ ..] => {
                self.set_weight(target, rest.first().copied().unwrap_or(""))
            }
            ["set", "weight"] | ["get", "weight"] => "Require 'backend/server'.\n".into(),
            ["get", "weight", target, ..] => self.get_weight(target),
            ["enable", "server", target, ..] => self.set_state(target, AdminState::Ready),
            ["disable", "server", target, ..] => self.set_state(target, AdminState::Maint),
            ["enable", "server"] | ["disable", "server"] | ["del", "server"] => {
                "Require 'backend/server'.\n".into()
            }
            ["add", "server", target, rest @ ..] => self.add_server(target, rest),
            ["add", "server"] => "Require 'backend/server'.\n".into(),
            ["del", "server", target, ..] => self.del_server(target),
            ["show", "servers", "state", rest @ ..] => self.servers_state(rest.first().copied()),
            ["show", "stat", rest @ ..] => self.show_stat(rest.contains(&"json")),
            ["show", "info", ..] => self.show_info(),
            ["show", "backend", ..] => self.show_backend(),
            _ => unknown(words),
        }
    }

    /// `backend/server` (names, or `#id` as in the CSV's `iid`/`sid`).
    fn find(&self, target: &str) -> Result<(Arc<Backend>, Arc<Server>), String> {
        let Some((b, s)) = target.split_once('/').filter(|(_, s)| !s.is_empty()) else {
            return Err("Require 'backend/server'.\n".into());
        };
        let rt = self.control.snapshot();
        let backend = match b.strip_prefix('#').and_then(|id| id.parse::<usize>().ok()) {
            Some(iid) => iid
                .checked_sub(rt.frontends().len() + 1)
                .and_then(|i| rt.backends().get(i)),
            None => rt.backend(b),
        }
        .ok_or("No such backend.\n")?;
        let server = match s.strip_prefix('#').and_then(|id| id.parse::<usize>().ok()) {
            Some(sid) => sid.checked_sub(1).and_then(|i| backend.servers().get(i)),
            None => backend.server(s).map(|(_, s)| s),
        }
        .ok_or("No such server.\n")?;
        Ok((Arc::clone(backend), Arc::clone(server)))
    }

    fn set_server(&self, target: &str, rest: &[&str]) -> String {
        let (b, s) = match self.find(target) {
            Ok(found) => found,
            Err(msg) => return msg,
        };
        match rest {
            ["weight", value, ..] => self.apply_weight(&b, &s, value),
            ["weight"] => self.apply_weight(&b, &s, ""),
            ["state", value, ..] => match super::api::state(value) {
                Some(state) => self.apply_state(&b, &s, state),
                None => "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
            },
            ["state"] => "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
            ["addr", ip, rest @ ..] if !ip.is_empty() => self.apply_addr(&b, &s, ip, rest),
            ["addr", ..] => {
                "set server <b>/<s> addr requires an address and optionally a port.\n".into()
            }
            _ => "usage: set server <backend>/<server> state | weight | addr\n".into(),
        }
    }

    /// `set server B/S addr IP [port PORT]`, answered in HAProxy 2.6's
    /// words (`IP changed from 'A' to 'B', port changed from '1' to '2' by
    /// 'stats socket command'`). A bad address or port changes nothing.
    fn apply_addr(&self, b: &Backend, s: &Server, ip: &str, rest: &[&str]) -> String {
        const BY: &str = " by 'stats socket command'\n";
        let typed = ip;
        let Ok(ip) = typed.parse::<std::net::IpAddr>() else {
            return format!("Invalid addr '{typed}'{BY}");
        };
        let port = match rest {
            // Digits only: `+N` and `-N` are HAProxy's port maps.
            ["port", port, ..] => match port.parse::<u16>() {
                Ok(p) if p > 0 && port.bytes().all(|c| c.is_ascii_digit()) => Some(p),
                _ => return format!("problem converting port '{port}' to an int{BY}"),
            },
            ["port"] => return format!("problem converting port '' to an int{BY}"),
            _ => None,
        };
        let was = s.has_addr().then(|| s.addr());
        let Some(new_port) = port.or(was.map(|a| a.port())) else {
            return format!(
                "server {}/{} has no port yet: give one (port N){BY}",
                b.name(),
                s.name()
            );
        };
        if let Err(e) = self
            .control
            .set_addr(b.name(), s.name(), (ip, new_port).into())
        {
            return text(&e);
        }
        let mut out = match was {
            Some(a) if a.ip() == ip => "no need to change the addr".to_string(),
            // The new address as typed, the old one as HAProxy prints it.
            Some(a) => format!("IP changed from '{}' to '{typed}'", a.ip()),
            None => format!("IP changed from 'none' to '{typed}'"),
        };
        if let Some(port) = port {
            match was.map(|a| a.port()) {
                Some(old) if old == port => out.push_str(", no need to change the port"),
                Some(old) => {
                    let _ = write!(out, ", port changed from '{old}' to '{port}'");
                }
                None => {
                    let _ = write!(out, ", port changed from '0' to '{port}'");
                }
            }
        }
        out + BY
    }

    fn set_weight(&self, target: &str, value: &str) -> String {
        match self.find(target) {
            Ok((b, s)) => self.apply_weight(&b, &s, value),
            Err(msg) => msg,
        }
    }

    fn apply_weight(&self, b: &Backend, s: &Server, value: &str) -> String {
        match parse_weight(value, s.spec().weight) {
            Ok(w) => reply(self.control.set_weight(b.name(), s.name(), u32::from(w))),
            Err(msg) => msg.into(),
        }
    }

    fn get_weight(&self, target: &str) -> String {
        match self.find(target) {
            Ok((_, s)) => format!("{} (initial {})\n", s.weight(), s.spec().weight),
            Err(msg) => msg,
        }
    }

    fn set_state(&self, target: &str, state: AdminState) -> String {
        match self.find(target) {
            Ok((b, s)) => self.apply_state(&b, &s, state),
            Err(msg) => msg,
        }
    }

    fn apply_state(&self, b: &Backend, s: &Server, state: AdminState) -> String {
        reply(self.control.set_state(b.name(), s.name(), state))
    }

    /// `add server B/S ADDR [weight N] [backup]`: like HAProxy, the new
    /// server starts in maintenance (`enable server` puts it in service).
    fn add_server(&self, target: &str, rest: &[&str]) -> String {
        let Some((backend, name)) = target.split_once('/').filter(|(_, s)| !s.is_empty()) else {
            return "Require 'backend/server'.\n".into();
        };
        let rt = self.control.snapshot();
        let Some(b) = rt.backend(backend) else {
            return "No such backend.\n".into();
        };
        if b.server(name).is_some() {
            return "Already exists a server with the same name in backend.\n".into();
        }
        let Some((addr, opts)) = rest.split_first() else {
            return "'server' expects <name> and <addr>[:<port>] as arguments.\n".into();
        };
        let mut new = NewServer {
            name: name.to_string(),
            addr: addr.to_string(),
            weight: None,
            backup: false,
        };
        let mut opts = opts.iter();
        while let Some(opt) = opts.next() {
            match *opt {
                "backup" => new.backup = true,
                "weight" => match opts.next().map(|w| parse_weight(w, 1)) {
                    Some(Ok(w)) => new.weight = Some(w),
                    Some(Err(msg)) => return msg.into(),
                    None => return "'weight' expects an integer argument.\n".into(),
                },
                other => return format!("unknown keyword '{other}'.\n"),
            }
        }
        let weight = new.weight;
        // Added at weight 0 (no traffic), put in maintenance, then given its
        // weight: it never takes a request before `enable server`.
        new.weight = Some(0);
        if let Err(e) = self.control.add_server(backend, new) {
            return text(&e);
        }
        let steps = self
            .control
            .set_state(backend, name, AdminState::Maint)
            .and_then(|()| {
                self.control
                    .set_weight(backend, name, u32::from(weight.unwrap_or(1)))
            });
        match steps {
            Ok(()) => "New server registered.\n".into(),
            Err(e) => text(&e),
        }
    }

    fn del_server(&self, target: &str) -> String {
        let (b, s) = match self.find(target) {
            Ok(found) => found,
            Err(msg) => return msg,
        };
        if s.admin_state() != AdminState::Maint {
            return "Only servers in maintenance mode can be deleted.\n".into();
        }
        match self.control.remove_server(b.name(), s.name()) {
            Ok(()) => "Server deleted.\n".into(),
            Err(e) => text(&e),
        }
    }

    fn servers_state(&self, only: Option<&str>) -> String {
        let rt = self.control.snapshot();
        if let Some(name) = only {
            if rt.backend(name).is_none() {
                return "Can't find backend.\n".into();
            }
        }
        let mut out = String::from("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port fairway_status\n");
        let first_id = rt.frontends().len() + 1;
        for (bi, b) in rt.backends().iter().enumerate() {
            if only.is_some_and(|n| n != b.name()) {
                continue;
            }
            let check = b.health_check();
            for (si, s) in b.servers().iter().enumerate() {
                let state = s.admin_state();
                // An ejected server (`outlier`) takes no traffic: stopped,
                // as HAProxy shows a server its `observe` took down.
                let ejected = s.outlier().is_ejected();
                let op = if s.is_up() && state != AdminState::Maint && !ejected {
                    2
                } else {
                    0
                };
                let admin = match state {
                    AdminState::Ready => 0,
                    AdminState::Drain => 8,
                    AdminState::Maint => 1,
                };
                // HAProxy's check status numbers: L4OK 6, L4CON 8, L7OK 15, L7STS 17.
                let (status, result, health, chk_state) = match check {
                    None => (0, 0, 0, 0),
                    Some(c) => {
                        let http = c.kind == fairway_config::CheckKind::Http;
                        match (http, s.is_up()) {
                            (false, true) => (6, 3, c.rise + c.fall - 1, 6),
                            (false, false) => (8, 2, 0, 6),
                            (true, true) => (15, 3, c.rise + c.fall - 1, 6),
                            (true, false) => (17, 2, 0, 6),
                        }
                    }
                };
                let since = Instant::now()
                    .saturating_duration_since(s.last_change())
                    .as_secs();
                let _ = writeln!(
                    out,
                    "{} {} {} {} {} {op} {admin} {} {} {since} {status} {result} {health} {chk_state} 0 0 0 - {} - 0 0 - - 0 {}",
                    first_id + bi,
                    b.name(),
                    si + 1,
                    s.name(),
                    s.addr().ip(),
                    s.weight(),
                    s.spec().weight,
                    s.addr().port(),
                    super::view::server_status(s),
                );
            }
        }
        out
    }

    fn stats(&self) -> Stats {
        let rt = self.control.snapshot();
        Stats::collect(&rt, self.started, &RuntimeCodes(&rt))
    }

    fn show_stat(&self, json: bool) -> String {
        let stats = self.stats();
        if json {
            serde_json::to_string_pretty(&stats).map_or_else(|e| format!("{e}\n"), |s| s + "\n")
        } else {
            csv::render(&stats)
        }
    }

    fn show_info(&self) -> String {
        let up = Instant::now()
            .saturating_duration_since(self.started)
            .as_secs();
        let rt = self.control.snapshot();
        let servers: usize = rt.backends().iter().map(|b| b.servers().len()).sum();
        format!(
            "Name: fairway\nVersion: {}\nPid: {}\nUptime: {}d {}h{:02}m{:02}s\nUptime_sec: {up}\nFrontends: {}\nBackends: {}\nServers: {servers}\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            up / 86_400,
            up / 3600 % 24,
            up / 60 % 60,
            up % 60,
            rt.frontends().len(),
            rt.backends().len(),
        )
    }

    fn show_backend(&self) -> String {
        let rt = self.control.snapshot();
        let mut out = String::from("# name\n");
        for b in rt.backends() {
            out.push_str(b.name());
            out.push('\n');
        }
        out
    }
}

/// Empty on success (HAProxy prints nothing), else the error text.
fn reply(result: Result<(), ControlError>) -> String {
    match result {
        Ok(()) => String::new(),
        Err(e) => text(&e),
    }
}

/// A refused change in HAProxy's words.
fn text(e: &ControlError) -> String {
    match e {
        ControlError::NoBackend(_) => "No such backend.\n".into(),
        ControlError::NoServer(..) => "No such server.\n".into(),
        ControlError::Exists(..) => {
            "Already exists a server with the same name in backend.\n".into()
        }
        ControlError::Invalid(msg) | ControlError::Reload(msg) => format!("{msg}.\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Runtime;
    use arc_swap::ArcSwap;
    use fairway_config::Config;

    const YAML: &str = "frontends:\n  web:\n    bind: 127.0.0.1:1\n    default_backend: upstream\nbackends:\n  upstream:\n    servers:\n      srv: { addr: 127.0.0.1:2 }\n      b: { addr: 127.0.0.1:3, weight: 5 }\n";

    fn cli() -> Cli {
        let config = Config::from_yaml_str(YAML, "t.yaml").unwrap();
        let control = Control::new(Arc::new(ArcSwap::from_pointee(Runtime::new(&config))), None);
        Cli::new(control, Instant::now())
    }

    fn run(cli: &Cli, line: &str) -> String {
        cli.execute(line, &mut Session::default())
    }

    #[test]
    fn the_seed_command_and_get_weight() {
        let c = cli();
        assert_eq!(run(&c, "set server upstream/srv weight 256"), "\n");
        assert_eq!(run(&c, "get weight upstream/srv"), "256 (initial 1)\n\n");
        assert_eq!(run(&c, "set weight upstream/b 50%"), "\n");
        assert_eq!(run(&c, "get weight upstream/b"), "2 (initial 5)\n\n");
        assert_eq!(run(&c, "get weight #2/#1"), "256 (initial 1)\n\n");
    }

    #[test]
    fn set_server_addr_answers_as_haproxy_and_moves_the_server() {
        let c = cli();
        let addr = |c: &Cli| {
            let rt = c.control.snapshot();
            rt.backend("upstream")
                .unwrap()
                .server("srv")
                .unwrap()
                .1
                .addr()
        };
        assert_eq!(
            run(&c, "set server upstream/srv addr 127.0.0.9"),
            "IP changed from '127.0.0.1' to '127.0.0.9' by 'stats socket command'\n\n"
        );
        assert_eq!(addr(&c), "127.0.0.9:2".parse().unwrap());
        assert_eq!(
            run(&c, "set server upstream/srv addr 127.0.0.9 port 8080"),
            "no need to change the addr, port changed from '2' to '8080' by 'stats socket command'\n\n"
        );
        assert_eq!(addr(&c), "127.0.0.9:8080".parse().unwrap());
        assert_eq!(
            run(&c, "set server upstream/srv addr 0:0::1 port 8080"),
            "IP changed from '127.0.0.9' to '0:0::1', no need to change the port by 'stats socket command'\n\n"
        );
        // Refused, and nothing changes.
        for (line, reply) in [
            (
                "set server upstream/srv addr",
                "set server <b>/<s> addr requires an address and optionally a port.\n",
            ),
            (
                "set server upstream/srv addr example.org",
                "Invalid addr 'example.org' by 'stats socket command'\n",
            ),
            (
                "set server upstream/srv addr 127.0.0.1 port x",
                "problem converting port 'x' to an int by 'stats socket command'\n",
            ),
            (
                "set server upstream/srv addr 127.0.0.1 port 0",
                "problem converting port '0' to an int by 'stats socket command'\n",
            ),
            (
                "set server upstream/srv addr 127.0.0.1 port +1",
                "problem converting port '+1' to an int by 'stats socket command'\n",
            ),
            (
                "set server upstream/srv addr 127.0.0.1 port",
                "problem converting port '' to an int by 'stats socket command'\n",
            ),
            (
                "set server upstream/nope addr 127.0.0.1",
                "No such server.\n",
            ),
        ] {
            assert_eq!(run(&c, line), format!("{reply}\n"), "{line}");
            assert_eq!(addr(&c), "[::1]:8080".parse().unwrap(), "{line}");
        }
    }

    #[test]
    fn haproxy_error_texts() {
        let c = cli();
        assert_eq!(
            run(&c, "set server nope/srv weight 1"),
            "No such backend.\n\n"
        );
        assert_eq!(
            run(&c, "set server upstream/nope weight 1"),
            "No such server.\n\n"
        );
        assert_eq!(
            run(&c, "set server upstream weight 1"),
            "Require 'backend/server'.\n\n"
        );
        assert_eq!(
            run(&c, "set server upstream/srv weight 300"),
            "Absolute weight can only be between 0 and 256 inclusive.\n\n"
        );
        assert_eq!(
            run(&c, "set server upstream/srv weight abc"),
            "Empty weight string empty or preceded by garbage\n\n"
        );
        assert_eq!(
            run(&c, "set server upstream/srv weight 12x"),
            "Trailing garbage in weight string\n\n"
        );
        assert_eq!(
            run(&c, "set server upstream/srv weight"),
            "Require <weight> or <weight%>.\n\n"
        );
        assert_eq!(
            run(&c, "set server upstream/srv state up"),
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
        );
        assert_eq!(
            run(&c, "get weight upstream/srv"),
            "1 (initial 1)\n\n",
            "nothing changed"
        );
        assert!(run(&c, "frobnicate").starts_with(
            "Unknown command: 'frobnicate'. Please enter one of the following commands only:\n"
        ));
        assert!(run(&c, "set nothing").starts_with(
            "Unknown command: 'set', but maybe one of the following ones is a better match:\n  set server"
        ));
    }

    #[test]
    fn states_servers_and_pipelines() {
        let c = cli();
        assert_eq!(
            run(&c, "disable server upstream/srv; get weight upstream/srv"),
            "\n1 (initial 1)\n\n"
        );
        let rt = c.control.snapshot();
        let (_, srv) = rt.backend("upstream").unwrap().server("srv").unwrap();
        assert_eq!(srv.admin_state(), AdminState::Maint);
        assert_eq!(run(&c, "set server upstream/srv state drain"), "\n");
        assert_eq!(srv.admin_state(), AdminState::Drain);
        assert_eq!(
            run(&c, "del server upstream/srv"),
            "Only servers in maintenance mode can be deleted.\n\n"
        );
        assert_eq!(run(&c, "enable server upstream/srv"), "\n");
        assert_eq!(srv.admin_state(), AdminState::Ready);

        assert_eq!(
            run(&c, "add server upstream/new 127.0.0.1:9 weight 7"),
            "New server registered.\n\n"
        );
        assert_eq!(
            run(&c, "add server upstream/new 127.0.0.1:9"),
            "Already exists a server with the same name in backend.\n\n"
        );
        assert!(run(&c, "add server upstream/bad nonsense").starts_with("invalid address"));
        let rt = c.control.snapshot();
        let (_, new) = rt.backend("upstream").unwrap().server("new").unwrap();
        assert_eq!((new.admin_state(), new.weight()), (AdminState::Maint, 7));
        let state = run(&c, "show servers state upstream");
        assert!(state.starts_with("1\n# be_id be_name srv_id srv_name srv_addr"));
        assert!(
            state.contains("\n2 upstream 3 new 127.0.0.1 0 1 7 0 "),
            "{state}"
        );
        assert!(
            state.contains(" srv_agent_port fairway_status\n"),
            "{state}"
        );
        assert!(state.contains(" - - 0 MAINT\n"), "{state}");
        // An ejected server (`outlier`): stopped, and EJECTED.
        let (_, srv) = rt.backend("upstream").unwrap().server("srv").unwrap();
        let now = crate::upstream::ewma::now_ns();
        srv.outlier().eject(now, std::time::Duration::from_secs(30));
        let state = run(&c, "show servers state upstream");
        assert!(
            state.contains("\n2 upstream 1 srv 127.0.0.1 0 0 "),
            "{state}"
        );
        assert!(state.contains(" - - 0 EJECTED\n"), "{state}");
        srv.outlier().readmit(now);
        assert_eq!(
            run(&c, "show servers state nope"),
            "Can't find backend.\n\n"
        );
        assert_eq!(run(&c, "del server upstream/new"), "Server deleted.\n\n");
        assert_eq!(run(&c, "get weight upstream/new"), "No such server.\n\n");
        assert!(run(&c, "show stat").starts_with("# pxname,svname,"));
        assert!(run(&c, "help").starts_with("The following commands are valid at this level:\n"));
    }

    #[test]
    fn interactive_mode_and_quit() {
        let c = cli();
        let mut session = Session::default();
        assert_eq!(c.execute("prompt", &mut session), "\n> ");
        assert!(session.interactive);
        assert_eq!(
            c.execute("get weight upstream/srv", &mut session),
            "1 (initial 1)\n\n> "
        );
        assert_eq!(c.execute("", &mut session), "\n> ");
        c.execute("quit", &mut session);
        assert!(session.quit);
    }
}

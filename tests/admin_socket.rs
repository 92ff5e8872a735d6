//! The HAProxy-compatible runtime socket: commands, replies, routing
//! changes, the seed's weight script, stale and bad socket paths.

mod common;

use common::admin::*;
use common::{free_port, wait_until, Fairway, Upstream};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

#[test]
fn socket_commands_reply_like_haproxy() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    let mode = std::fs::metadata(&ad.sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode");

    for (cmd, reply) in [
        ("set server upstream/a weight 10", "\n"),
        ("get weight upstream/a", "10 (initial 1)\n\n"),
        ("set weight upstream/a 5", "\n"),
        ("get weight upstream/a", "5 (initial 1)\n\n"),
        (
            "set server upstream/a weight 300",
            "Absolute weight can only be between 0 and 256 inclusive.\n\n",
        ),
        (
            "set server upstream/a weight x",
            "Empty weight string empty or preceded by garbage\n\n",
        ),
        (
            "set server upstream/a weight 3x",
            "Trailing garbage in weight string\n\n",
        ),
        ("set server nope/a weight 1", "No such backend.\n\n"),
        ("set server upstream/nope weight 1", "No such server.\n\n"),
        ("get weight upstream", "Require 'backend/server'.\n\n"),
        (
            "set server upstream/a state up",
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
        ),
        ("set server upstream/a state drain", "\n"),
        ("set server upstream/a state ready", "\n"),
        ("disable server upstream/a", "\n"),
        ("enable server upstream/a", "\n"),
        (
            "del server upstream/a",
            "Only servers in maintenance mode can be deleted.\n\n",
        ),
        ("show servers state nope", "Can't find backend.\n\n"),
        ("get weight upstream/a", "5 (initial 1)\n\n"),
    ] {
        assert_eq!(ad.sock(&format!("{cmd}\n")), reply, "{cmd}");
    }
    let state = ad.sock("show servers state\n");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change"));
    assert!(
        lines[2].starts_with("2 upstream 1 a 127.0.0.1 2 0 5 1 "),
        "{state}"
    );
    assert!(state.ends_with("\n\n"));
    let stat = ad.sock("show stat\n");
    assert!(
        stat.starts_with("# pxname,svname,qcur,qmax,scur,"),
        "{stat}"
    );
    assert!(stat.contains("\nupstream,a,"), "{stat}");
    let help = ad.sock("help\n");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    for cmd in [
        "set server",
        "get weight",
        "enable server",
        "disable server",
        "add server",
        "del server",
        "show servers state",
        "show stat",
    ] {
        assert!(help.contains(&format!("  {cmd}")), "{cmd} in {help}");
    }
    let unknown = ad.sock("make coffee\n");
    assert!(
        unknown.starts_with(
            "Unknown command: 'make'. Please enter one of the following commands only:\n"
        ),
        "{unknown}"
    );
    // Several commands: `;`-separated, and several lines in one write.
    assert_eq!(
        ad.sock("set server upstream/b weight 7; get weight upstream/b\n"),
        "\n7 (initial 1)\n\n"
    );
    assert_eq!(
        ad.sock("get weight upstream/a\nget weight upstream/b\n"),
        "5 (initial 1)\n\n7 (initial 1)\n\n"
    );
    // Interactive mode keeps the connection until `quit`.
    let mut s = UnixStream::connect(&ad.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    s.write_all(b"prompt\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\n> ");
    s.write_all(b"get weight upstream/b\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"7 (initial 1)\n\n> ");
    s.write_all(b"quit\n").unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 0, "closed after quit");
}

#[test]
fn socket_weight_state_add_and_del_change_routing() {
    let (a, b, c) = (
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    );
    let ad = start(
        &upstream_backend("      a: { addr: \"{UP0}\" }\n      b: { addr: \"{UP1}\" }\n"),
        &[&a, &b],
        true,
    );
    assert_eq!(ad.sock("set server upstream/a weight 0\n"), "\n");
    assert_eq!(ad.tally(4), HashMap::from([("b".to_string(), 4)]));
    assert_eq!(ad.sock("set server upstream/a weight 3\n"), "\n");
    let t = ad.tally(8);
    assert_eq!((t["a"], t["b"]), (6, 2));
    assert_eq!(ad.sock("disable server upstream/b\n"), "\n");
    assert_eq!(ad.tally(3), HashMap::from([("a".to_string(), 3)]));

    // HAProxy's dynamic servers start in maintenance.
    assert_eq!(
        ad.sock(&format!("add server upstream/c {} weight 3\n", c.addr)),
        "New server registered.\n\n"
    );
    assert_eq!(
        ad.sock(&format!("add server upstream/c {}\n", c.addr)),
        "Already exists a server with the same name in backend.\n\n"
    );
    assert!(ad
        .sock("add server upstream/d nonsense\n")
        .starts_with("invalid address"));
    assert_eq!(
        ad.tally(3),
        HashMap::from([("a".to_string(), 3)]),
        "c is in maintenance"
    );
    assert_eq!(ad.sock("enable server upstream/c\n"), "\n");
    let t = ad.tally(6);
    assert_eq!((t["a"], t["c"]), (3, 3), "{t:?}");

    assert_eq!(
        ad.sock("disable server upstream/a; del server upstream/a\n"),
        "\nServer deleted.\n\n"
    );
    assert_eq!(ad.tally(3), HashMap::from([("c".to_string(), 3)]));
    assert_eq!(ad.sock("get weight upstream/a\n"), "No such server.\n\n");
}

/// The seed's exact pipeline: `echo "..." | nc -U sock` (netcat-openbsd
/// keeps its side open after stdin ends; the proxy closes, as HAProxy does).
#[test]
fn the_seed_weight_script_pipeline() {
    let nc = Command::new("sh")
        .args(["-c", "command -v nc"])
        .output()
        .unwrap();
    assert!(
        nc.status.success(),
        "nc (netcat-openbsd) is required: run scripts/setup.sh or apt-get install netcat-openbsd"
    );
    let srv = Upstream::start("srv");
    let ad = start(
        &upstream_backend("      srv: { addr: \"{UP0}\", weight: 0 }\n"),
        &[&srv],
        true,
    );
    let sock = ad.sock.display().to_string();
    let run = |cmd: &str| {
        let out = Command::new("timeout")
            .args(["10", "sh", "-c", &format!("echo \"{cmd}\" | nc -U {sock}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(ad.f.get("/").status, 503, "weight 0: no server");
    assert_eq!(run("set server upstream/srv weight 256"), "\n");
    assert_eq!(run("get weight upstream/srv"), "256 (initial 0)\n\n");
    assert_eq!(ad.f.get("/").server(), "srv");
    // As the seed's script sends it: output discarded, one command per connection.
    let out = Command::new("timeout")
        .args([
            "10",
            "sh",
            "-c",
            &format!("echo 'set server upstream/srv weight 1' | xargs -I {{}} sh -c \"echo {{}} | nc -U {sock} > /dev/null\""),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(run("get weight upstream/srv"), "1 (initial 0)\n\n");
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = common::temp_dir("stale");
    let path = dir.join("admin.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "a stale socket file");
    let a = Upstream::start("a");
    let port = free_port();
    let yaml = format!(
        "admin:\n  bind: 127.0.0.1:{port}\n  socket: \"{}\"\n{}",
        path.display(),
        upstream_backend("      a: { addr: \"{UP0}\" }\n")
    );
    let f = Fairway::start(&yaml, &[&a]);
    wait_until(&f, Duration::from_secs(10), "the socket", || {
        UnixStream::connect(&path).is_ok()
    });
    let mut s = UnixStream::connect(&path).unwrap();
    s.write_all(b"get weight upstream/a\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "1 (initial 1)\n\n");
    drop(f);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_socket_path_that_is_not_a_socket_is_a_startup_error() {
    let dir = common::temp_dir("notsock");
    let path = dir.join("admin.sock");
    std::fs::write(&path, "precious").unwrap();
    let yaml = format!(
        "global:\n  pid_file: {d}/p.pid\n  upgrade_sock: {d}/u.sock\nadmin:\n  bind: 127.0.0.1:{}\n  socket: \"{}\"\nfrontends:\n  web:\n    bind: [\"127.0.0.1:{}\"]\n    default_backend: app\nbackends:\n  app:\n    servers:\n      a: {{ addr: 127.0.0.1:9 }}\n",
        free_port(),
        path.display(),
        free_port(),
        d = dir.display()
    );
    let conf = common::write_temp("notsock.yaml", &yaml);
    let out = Command::new(common::bin())
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    let _ = std::fs::remove_dir_all(&dir);
}

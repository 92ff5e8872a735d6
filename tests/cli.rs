//! The `fairway` command line: validation, startup errors, signals, demo.

mod common;

use common::{run, write_temp, Fairway, Upstream};
use std::time::{Duration, Instant};

#[test]
fn version_and_help() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("fairway "));
    let out = run(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["-c", "-t", "-d", "-u", "--demo"] {
        assert!(help.contains(flag), "--help mentions {flag}:\n{help}");
    }
}

#[test]
fn every_shipped_config_is_valid() {
    let mut checked = 0;
    for dir in ["conf", "conf/examples"] {
        let Ok(entries) = std::fs::read_dir(common::repo_root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let out = run(&["-t", "-c", path.to_str().unwrap()]);
                assert!(
                    out.status.success(),
                    "{} is invalid:\n{}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 2,
        "conf/fairway.yaml and conf/demo.yaml at least"
    );
}

#[test]
fn test_flag_reports_every_error_with_its_position() {
    let path = write_temp(
        "bad.yaml",
        "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    acl:\n      a: paht_beg /x\n    default_backend: nope\n    colour: red\n",
    );
    let out = run(&["-t", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert!(
        err.contains(&format!("{file}:5:")),
        "position of the bad ACL:\n{err}"
    );
    assert!(err.contains("frontends.web.acl.a"), "{err}");
    assert!(err.contains("paht_beg"), "{err}");
    assert!(err.contains("nope"), "the unknown backend is named:\n{err}");
    assert!(err.contains("colour"), "the unknown key is named:\n{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn test_flag_accepts_a_valid_file() {
    let path = write_temp(
        "ok.yaml",
        "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: b\nbackends:\n  b:\n    servers: { s: { addr: 127.0.0.1:2 } }\n",
    );
    let out = run(&["-t", "-c", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
}

#[test]
fn missing_file_is_an_error() {
    let out = run(&["-t", "-c", "/nonexistent/fairway.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/fairway.yaml"));
}

#[test]
fn a_busy_port_is_a_startup_error() {
    let busy = common::listen();
    let port = busy.local_addr().unwrap().port();
    let dir = common::temp_dir("busy");
    let path = dir.join("f.yaml");
    std::fs::write(
        &path,
        format!(
            "global: {{ pid_file: {d}/p.pid, upgrade_sock: {d}/u.sock }}\nfrontends:\n  web:\n    bind: [\"127.0.0.1:{port}\"]\n    default_backend: b\nbackends:\n  b: {{}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let t = Instant::now();
    let out = run(&["-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(t.elapsed() < Duration::from_secs(5), "no retry loop");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn sighup_reloads_a_valid_file_and_keeps_running_on_an_invalid_one() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let yaml = "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: { a: { addr: \"{UP0}\" } }\n  two:\n    servers: { b: { addr: \"{UP1}\" } }\n";
    let f = Fairway::start(yaml, &[&a, &b]);
    assert_eq!(f.get("/").server(), "a");

    let text = std::fs::read_to_string(&f.conf).unwrap();
    std::fs::write(
        &f.conf,
        text.replace("default_backend: one", "default_backend: two"),
    )
    .unwrap();
    f.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.get("/").server() != "b" {
        assert!(
            Instant::now() < deadline,
            "reload not applied:\n{}",
            f.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    std::fs::write(&f.conf, "frontends: [oops").unwrap();
    f.signal("HUP");
    common::wait_until(&f, Duration::from_secs(10), "the refused reload", || {
        f.log().contains("reload failed")
    });
    assert_eq!(f.get("/").server(), "b", "an invalid file changes nothing");
}

#[test]
fn sigterm_stops_within_the_grace_period() {
    let a = Upstream::start("a");
    let mut f = Fairway::start(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: { a: { addr: \"{UP0}\" } }\n",
        &[&a],
    );
    f.signal("TERM");
    let status = f.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some(),
        "fairway still running 10 s after SIGTERM (grace_period 1s)"
    );
}

#[test]
fn demo_serves_seed_003_on_its_fixed_ports() {
    use std::net::TcpStream;
    use std::process::{Command, Stdio};
    let ports_free = [8080u16, 8001, 8002, 8003, 8004]
        .iter()
        .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
    let mut demo = common::Group::spawn(
        Command::new(common::bin())
            .arg("--demo")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .unwrap();
    if !ports_free {
        // Someone else holds a demo port: fairway must say so and exit 1.
        let status = demo.0.wait().unwrap();
        assert_eq!(status.code(), Some(1));
        return;
    }
    let addr: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() || TcpStream::connect("127.0.0.1:8004").is_err() {
        assert!(Instant::now() < deadline, "demo did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let home: Vec<String> = (0..4).map(|_| common::get(addr, "/", &[]).body).collect();
    for n in 1..=4 {
        assert!(
            home.contains(&format!("server{n}: Home page!\n")),
            "{home:?}"
        );
    }
    let light = common::get(addr, "/lightwork", &[]);
    assert!(
        light.body.ends_with(": Doing light work!\n") && light.body.starts_with("server"),
        "{light:?}"
    );
    assert!(["server1", "server2"].contains(&light.server()));
    let heavy = common::get(addr, "/heavywork", &[]);
    assert!(
        ["server3", "server4"].contains(&heavy.server()),
        "{heavy:?}"
    );
    assert_eq!(common::get(addr, "/admin", &[]).status, 403);
    assert_eq!(common::get(addr, "//admin", &[]).status, 403);
    common::stop_group(&mut demo.0);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut demo.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        out.contains("curl http://127.0.0.1:8080/"),
        "the demo prints what to try:\n{out}"
    );
}

#[test]
fn the_pid_file_is_written_in_the_foreground_and_removed_at_exit() {
    let a = Upstream::start("a");
    let mut f = Fairway::start(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: { a: { addr: \"{UP0}\" } }\n",
        &[&a],
    );
    let pid_file = f.dir.join("fairway.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("pid_file written in the foreground");
    assert_eq!(pid.trim(), f.child.id().to_string());
    // `kill -HUP $(cat pid_file)` reaches the process.
    let hup = std::process::Command::new("kill")
        .args(["-HUP", pid.trim()])
        .status()
        .unwrap();
    assert!(hup.success());
    common::wait_until(&f, Duration::from_secs(5), "the reload", || {
        f.log().contains("reload")
    });
    f.signal("TERM");
    assert!(f.wait_exit(Duration::from_secs(10)).is_some());
    assert!(!pid_file.exists(), "the pid_file is left after exit");
}

#[test]
fn access_lines_do_not_depend_on_the_log_level() {
    let a = Upstream::start("a");
    let f = Fairway::start(
        "global:\n  log_level: warn\n  access_log: true\n  pid_file: {DIR}/fairway.pid\n  upgrade_sock: {DIR}/upgrade.sock\n\
         frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: { a: { addr: \"{UP0}\" } }\n",
        &[&a],
    );
    assert_eq!(f.get("/logged").status, 200);
    common::wait_until(&f, Duration::from_secs(5), "the access line", || {
        f.log().contains("/logged")
    });
    // The process log level still holds for everything else.
    assert!(!f.log().contains("INFO  fairway]"), "{}", f.log());
}

#[test]
fn a_daemon_started_with_a_relative_config_path_reloads_it() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let dir = common::temp_dir("daemon");
    let port = common::free_port();
    let yaml = |backend: &str| {
        format!(
            "global:\n  pid_file: {d}/fairway.pid\n  upgrade_sock: {d}/upgrade.sock\n  grace_period: 1s\n\
             frontends:\n  web:\n    bind: [\"127.0.0.1:{port}\"]\n    default_backend: {backend}\n\
             backends:\n  one:\n    servers: {{ a: {{ addr: \"{}\" }} }}\n  two:\n    servers: {{ b: {{ addr: \"{}\" }} }}\n",
            a.addr,
            b.addr,
            d = dir.display()
        )
    };
    std::fs::write(dir.join("fairway.yaml"), yaml("one")).unwrap();
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let status = std::process::Command::new(common::bin())
        .args(["-d", "-c", "fairway.yaml"])
        .current_dir(&dir)
        .stderr(log)
        .status()
        .unwrap();
    assert!(status.success());
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        let pid = std::fs::read_to_string(dir.join("fairway.pid")).unwrap_or_default();
        if !pid.trim().is_empty() && std::net::TcpStream::connect(addr).is_ok() {
            break pid.trim().to_string();
        }
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let kill = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
    };
    assert_eq!(common::get(addr, "/", &[]).server(), "a");
    std::fs::write(dir.join("fairway.yaml"), yaml("two")).unwrap();
    assert!(kill("-HUP").success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::get(addr, "/", &[]).server() != "b" {
        let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "reload not applied:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(kill("-TERM").success());
}

#[test]
fn upgrade_without_a_running_instance_says_so_at_once() {
    let dir = common::temp_dir("upgrade-alone");
    let conf = dir.join("f.yaml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  pid_file: {d}/none.pid\n  upgrade_sock: {d}/u.sock\nfrontends:\n  web:\n    bind: [\"127.0.0.1:{}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: {{ a: {{ addr: \"127.0.0.1:1\" }} }}\n",
            common::free_port(),
            d = dir.display()
        ),
    )
    .unwrap();
    let t = Instant::now();
    let out = run(&["-u", "-c", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no running fairway to take over"), "{err}");
    // A pid_file naming a process that is gone: the same, at once.
    std::fs::write(dir.join("none.pid"), "999999\n").unwrap();
    let out = run(&["-u", "-c", conf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_exits_0() {
    let a = Upstream::start("a");
    a.set_delay(Duration::from_millis(1500));
    let mut f = Fairway::start(
        "global:\n  grace_period: 4s\n  pid_file: {DIR}/f.pid\n  upgrade_sock: {DIR}/u.sock\n\
         frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: { a: { addr: \"{UP0}\" } }\n",
        &[&a],
    );
    let addr = f.addr;
    let slow = std::thread::spawn(move || common::get(addr, "/slow", &[]));
    std::thread::sleep(Duration::from_millis(300));
    f.signal("TERM");
    // The request in flight is answered during the grace period.
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.server()), (200, "a"), "{}", f.log());
    let status = f
        .wait_exit(Duration::from_secs(15))
        .expect("exited after the grace period");
    assert_eq!(status.code(), Some(0), "{}", f.log());
}

#[test]
fn a_reload_that_changes_listeners_is_refused_and_changes_nothing() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let yaml = "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: { a: { addr: \"{UP0}\" } }\n  two:\n    servers: { b: { addr: \"{UP1}\" } }\n";
    let f = Fairway::start(yaml, &[&a, &b]);
    let text = std::fs::read_to_string(&f.conf).unwrap();
    let other = common::free_port();
    // A new bind address and another backend in the same file.
    let moved = text
        .replace(&f.addr.to_string(), &format!("127.0.0.1:{other}"))
        .replace("default_backend: one", "default_backend: two");
    std::fs::write(&f.conf, moved).unwrap();
    f.signal("HUP");
    common::wait_until(&f, Duration::from_secs(5), "the refusal", || {
        f.log().contains("listeners cannot change on reload")
    });
    // Nothing of that file applies: same port, same backend.
    assert_eq!(f.get("/").server(), "a");
    assert!(std::net::TcpStream::connect(("127.0.0.1", other)).is_err());
}

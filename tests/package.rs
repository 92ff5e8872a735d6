//! Installing fairway: the package lists of `scripts/setup.sh`, the
//! Dockerfile that must use them, and the Debian package built by
//! `scripts/deb.sh`, installed with dpkg, run as its `fairway` user on its
//! own config, and removed again. The .deb test needs root (dpkg -i), as
//! CI has.

mod common;

use common::{bin, repo_root};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sh(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let out = sh(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn setup_list(which: &str) -> Vec<String> {
    ok("./scripts/setup.sh", &["--list", which])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn setup_lists_every_package_the_build_needs_and_checks_them_by_package() {
    let build = setup_list("build");
    for pkg in [
        "cmake",
        "protobuf-compiler",
        "libprotobuf-dev",
        "build-essential",
    ] {
        assert!(
            build.iter().any(|p| p == pkg),
            "{pkg} missing from {build:?}"
        );
    }
    let test = setup_list("test");
    for pkg in ["etcd-server", "haproxy", "nginx", "chromium", "systemd"] {
        assert!(test.iter().any(|p| p == pkg), "{pkg} missing from {test:?}");
    }
    // The test run installed them: --check agrees, package by package.
    let out = sh("./scripts/setup.sh", &["--check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let script = std::fs::read_to_string(repo_root().join("scripts/setup.sh")).unwrap();
    assert!(script.contains("dpkg-query"));
    assert!(
        !script.contains("command -v cmake"),
        "packages are checked by name"
    );
    // An unknown option is refused, not taken for "install everything".
    assert_eq!(sh("./scripts/setup.sh", &["--chek"]).status.code(), Some(2));
}

#[test]
fn dockerfile_installs_the_build_packages_from_setup_sh() {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    // The text from the first FROM to the second: the build stage.
    let stages: Vec<&str> = text.split("\nFROM ").skip(1).collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let build_stage = stages[0];
    assert!(build_stage.contains("AS build"), "{build_stage}");
    assert!(
        build_stage.contains("scripts/setup.sh --build"),
        "the build stage must run scripts/setup.sh --build:\n{build_stage}"
    );
    assert!(
        !build_stage.contains("apt-get install"),
        "the build stage installs packages only through scripts/setup.sh:\n{build_stage}"
    );
    // What the build stage copies before running the script is the script.
    assert!(build_stage.contains("COPY scripts/setup.sh"));
}

/// Removes the package again whatever happens to the test.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "fairway"]).output();
    }
}

/// Kills the process on drop.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        common::stop_group(&mut self.0);
    }
}

fn field(pkg: &str, f: &str) -> String {
    ok("dpkg-query", &["-W", &format!("-f=${{{f}}}"), pkg])
}

#[test]
fn the_deb_installs_runs_as_its_user_and_uninstalls() {
    assert_eq!(
        ok("id", &["-u"]).trim(),
        "0",
        "the package test installs a .deb: run the tests as root (CI does)"
    );
    // The test build of the binary (this test's own dependency) is packaged.
    let built = Path::new(bin());
    assert!(built.ends_with("debug/fairway"), "{}", built.display());
    let out_dir = common::temp_dir("deb");
    let deb = ok(
        "./scripts/deb.sh",
        &[
            "--profile",
            "dev",
            "--no-build",
            "-o",
            out_dir.to_str().unwrap(),
        ],
    );
    let deb = deb.trim();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        deb.ends_with(&format!("fairway_{version}_amd64.deb"))
            || deb.contains(&format!("fairway_{version}_")),
        "{deb}"
    );
    let contents = ok("dpkg-deb", &["--contents", deb]);
    for path in [
        "./usr/bin/fairway",
        "./etc/fairway/fairway.yaml",
        "./lib/systemd/system/fairway.service",
    ] {
        assert!(
            contents.contains(path),
            "{path} not in the .deb:\n{contents}"
        );
    }

    let _ = sh("dpkg", &["--purge", "fairway"]);
    ok("dpkg", &["-i", deb]);
    let _installed = Installed;
    assert_eq!(field("fairway", "db:Status-Status"), "installed");
    assert!(field("fairway", "Conffiles").contains("/etc/fairway/fairway.yaml"));
    for f in [
        "/usr/bin/fairway",
        "/etc/fairway/fairway.yaml",
        "/lib/systemd/system/fairway.service",
    ] {
        assert!(Path::new(f).exists(), "{f} not installed");
    }
    let version_out = ok("/usr/bin/fairway", &["--version"]);
    assert!(version_out.starts_with("fairway "), "{version_out}");

    // The system user: no login, no home.
    let pw = ok("getent", &["passwd", "fairway"]);
    let cols: Vec<&str> = pw.trim().split(':').collect();
    let uid: u32 = cols[2].parse().unwrap();
    assert!(uid < 1000, "a system uid, got {uid}");
    assert_eq!(cols[6], "/usr/sbin/nologin");
    // The fairway user can read its config; nobody else can.
    let stat = ok("stat", &["-c", "%a %U %G", "/etc/fairway/fairway.yaml"]);
    assert_eq!(stat.trim(), "640 root fairway");

    // The unit: what an operator relies on, and systemd finds it valid.
    let unit = std::fs::read_to_string("/lib/systemd/system/fairway.service").unwrap();
    for line in [
        "ExecStartPre=/usr/bin/fairway -t -c /etc/fairway/fairway.yaml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "User=fairway",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "unit lacks {line}:\n{unit}"
        );
    }
    let verify = sh(
        "systemd-analyze",
        &["verify", "/lib/systemd/system/fairway.service"],
    );
    let said = String::from_utf8_lossy(&verify.stderr).to_string();
    assert!(verify.status.success(), "systemd-analyze verify: {said}");
    assert!(!said.contains("fairway.service:"), "unit warnings: {said}");

    // The installed config passes -t as the unit's ExecStartPre runs it.
    ok(
        "/usr/bin/fairway",
        &["-t", "-c", "/etc/fairway/fairway.yaml"],
    );

    // Run it as the unit would: user fairway, only CAP_NET_BIND_SERVICE,
    // /run/fairway made for it (RuntimeDirectory=fairway).
    ok(
        "install",
        &[
            "-d",
            "-o",
            "fairway",
            "-g",
            "fairway",
            "-m",
            "0750",
            "/run/fairway",
        ],
    );
    assert!(
        std::net::TcpListener::bind("0.0.0.0:80").is_ok(),
        "port 80 is busy: the installed config listens there"
    );
    let log = out_dir.join("fairway.log");
    let child = common::spawn_group(
        Command::new("setpriv")
            .args([
                "--reuid=fairway",
                "--regid=fairway",
                "--init-groups",
                "--inh-caps=-all,+net_bind_service",
                "--ambient-caps=+net_bind_service",
                "--bounding-set=-all,+net_bind_service",
                "--no-new-privs",
                "/usr/bin/fairway",
                "-c",
                "/etc/fairway/fairway.yaml",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap())),
    )
    .expect("setpriv");
    let mut running = Running(child);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        if let Ok(Some(st)) = running.0.try_wait() {
            panic!("fairway exited with {st}:\n{}", log_text());
        }
        if let Ok(c) = TcpStream::connect("127.0.0.1:80") {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "no listener on :80\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("ok"), "{resp}");

    // The process runs as fairway, and its admin socket (socket only, no
    // HTTP listener) answers.
    let status = std::fs::read_to_string(format!("/proc/{}/status", running.0.id())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == uid.to_string()),
        "{uid_line}"
    );
    let sock = Path::new("/run/fairway/admin.sock");
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("{e}\n{}", log_text()));
    s.write_all(b"show info\n").unwrap();
    let mut first = String::new();
    BufReader::new(s).read_line(&mut first).unwrap();
    assert!(first.starts_with("Name: fairway"), "{first}");
    drop(running);

    // Remove keeps the conffile, purge takes it.
    ok("dpkg", &["-r", "fairway"]);
    assert!(!Path::new("/usr/bin/fairway").exists());
    assert!(Path::new("/etc/fairway/fairway.yaml").exists());
    ok("dpkg", &["--purge", "fairway"]);
    assert!(!Path::new("/etc/fairway/fairway.yaml").exists());
    let _ = std::fs::remove_dir_all("/run/fairway");
    let _ = std::fs::remove_dir_all(&out_dir);
}

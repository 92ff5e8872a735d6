//! The `fairway` command: a thin shell over the `fairway` library.
//!
//! ```text
//! fairway -c conf/fairway.yaml        # run in the foreground
//! fairway -t -c conf/fairway.yaml     # validate and exit: 0 ok, 1 with errors on stderr
//! fairway -d -c ...                   # daemonize
//! fairway -u -c ...                   # graceful upgrade: take over the listeners of the instance in pid_file
//! fairway --demo                      # 4 local demo upstreams + the proxy on conf/demo.yaml
//! fairway import-haproxy haproxy.cfg > fairway.yaml   # convert; exit 0 complete, 2 incomplete, 1 unreadable
//! fairway replay -c new.yaml access.log               # what-if: exit 0 nothing changes, 3 something does
//! ```

mod import;
mod replay;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fairway::{Config, Fairway};
use pingora::server::configuration::Opt;
use pingora::server::Server;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the configuration is when `-c` is not given.
const DEFAULT_CONF: &str = "/etc/fairway/fairway.yaml";

/// The demo configuration, built into the binary so `--demo` works anywhere.
const DEMO_YAML: &str = include_str!("../../conf/demo.yaml");

/// fairway: an HAProxy-style reverse proxy and load balancer on Pingora.
#[derive(Parser, Debug)]
#[command(name = "fairway", version, about, long_about = None)]
struct Cli {
    /// Configuration file [default: /etc/fairway/fairway.yaml; with --demo: the built-in conf/demo.yaml].
    #[arg(short = 'c', long = "conf", value_name = "FILE")]
    conf: Option<PathBuf>,
    /// Validate the configuration and exit (0: valid, 1: errors on stderr).
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Run in the background (daemon).
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// Graceful upgrade: take over the listeners of the running fairway named by `global.pid_file` (it gets SIGQUIT, hands them over through `global.upgrade_sock`, drains and exits).
    #[arg(short = 'u', long = "upgrade")]
    upgrade: bool,
    /// Start four local demo upstreams and the proxy on the built-in demo config (seed 003).
    #[arg(long)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Subcommands (without one, fairway runs the proxy).
#[derive(Subcommand, Debug)]
enum Command {
    /// Convert an HAProxy configuration to fairway YAML on stdout; directives that
    /// were not converted are listed on stderr. Exit code: 0 complete, 2 some
    /// directives not converted, 1 unreadable input.
    ImportHaproxy {
        /// The HAProxy configuration file (`-` for stdin).
        #[arg(value_name = "HAPROXY_CFG")]
        file: PathBuf,
        /// Write the YAML to this file instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Decide every request of an access log (fairway's formats or HAProxy's
    /// httplog) under another configuration, without sending traffic, and
    /// print what would change: backend moves, newly answered or allowed
    /// requests, with counts and examples. Exit code: 0 nothing changes, 3
    /// something does, 1 unreadable configuration or log.
    Replay {
        /// The configuration to try.
        #[arg(short = 'c', long = "conf", value_name = "FILE")]
        conf: PathBuf,
        /// The access log (`-` for stdin).
        #[arg(value_name = "ACCESS_LOG")]
        log: PathBuf,
        /// Examples shown per change.
        #[arg(long, default_value_t = 3)]
        examples: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::ImportHaproxy { file, output }) => {
            return import::run(file, output.as_deref());
        }
        Some(Command::Replay {
            conf,
            log,
            examples,
        }) => return replay::run(conf, log, *examples),
        None => {}
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            flush_log();
            eprintln!("fairway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(cli: &Cli) -> anyhow::Result<Result<Config, fairway::ConfigError>> {
    let path = match &cli.conf {
        Some(path) => path.clone(),
        None if cli.demo => return Ok(Config::from_yaml_str(DEMO_YAML, "conf/demo.yaml")),
        None => PathBuf::from(DEFAULT_CONF),
    };
    if !path.exists() {
        anyhow::bail!(
            "{}: no such file (give the configuration with -c FILE)",
            path.display()
        );
    }
    Ok(Config::from_file(&path))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = match load(&cli)? {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "fairway: configuration has {} error(s)",
                errors.diagnostics.len()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let source = config
        .path
        .as_ref()
        .map_or_else(|| "conf/demo.yaml".to_string(), |p| p.display().to_string());
    if cli.test {
        println!("Configuration file {source} is valid");
        return Ok(ExitCode::SUCCESS);
    }

    init_logging(&config, cli.daemon);
    let fairway = Fairway::new(config);
    if !cli.upgrade {
        fairway.check_binds().context("startup failed")?;
    }

    let opt = Opt {
        upgrade: cli.upgrade,
        daemon: cli.daemon,
        nocapture: false,
        test: false,
        conf: None,
    };
    let mut conf = fairway.server_conf();
    // A daemon stays in the directory it was started from (rather than
    // `/`), so that a relative `-c` path and the relative paths in the
    // file (certificates, discovery files) still resolve on a reload.
    conf.working_directory = std::env::current_dir().ok();
    let pid_file = PathBuf::from(&conf.pid_file);
    if cli.upgrade {
        hand_over(&pid_file)?;
    }
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    // The daemon's PID file is written by the daemonizing; in the
    // foreground fairway writes it itself (as HAProxy's `-p` does). Either
    // way it goes at exit, unless a newer process (an upgrade) wrote its own.
    if !cli.daemon {
        let pid = format!("{}\n", std::process::id());
        if let Err(e) = std::fs::write(&pid_file, pid) {
            log::warn!("cannot write pid_file {}: {e}", pid_file.display());
        }
    }

    if cli.demo {
        server.add_services(fairway::demo::services(fairway.config()));
        print_demo_help(&fairway);
    }
    server.add_services(fairway.services(&server.configuration));
    server.add_services(fairway.background_services());
    server.add_services(fairway.admin_services().context("startup failed")?);
    log::info!(
        "fairway {} started config={source}",
        env!("CARGO_PKG_VERSION")
    );
    // Returns once the grace period is over (in the daemon too).
    server.run(pingora::server::RunArgs::default());
    remove_pid_file(&pid_file);
    flush_log();
    std::process::exit(0)
}

/// `-u`: asks the running instance named by `pid_file` to hand its
/// listeners over (SIGQUIT), which it does once this process waits on
/// `upgrade_sock` (both sides retry for a few seconds), then drains and
/// exits. An error, at once, when no instance runs.
fn hand_over(pid_file: &std::path::Path) -> anyhow::Result<()> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let text = std::fs::read_to_string(pid_file).with_context(|| {
        format!(
            "-u: no running fairway to take over (cannot read pid_file {}); start it without -u",
            pid_file.display()
        )
    })?;
    let pid: i32 = text.trim().parse().with_context(|| {
        format!(
            "-u: pid_file {} does not hold a process id",
            pid_file.display()
        )
    })?;
    let old = Pid::from_raw(pid);
    kill(old, None).with_context(|| {
        format!(
            "-u: process {pid} of pid_file {} is not running; start fairway without -u",
            pid_file.display()
        )
    })?;
    // Signalled from a thread so that this process is already waiting on
    // the socket when (or soon after) the old one connects to it.
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        if let Err(e) = kill(old, Signal::SIGQUIT) {
            log::error!("-u: cannot signal process {pid}: {e}");
        }
    });
    Ok(())
}

/// Removes the PID file as fairway exits, if it still names this process
/// (after an upgrade it names the new one).
fn remove_pid_file(path: &std::path::Path) {
    let ours = std::process::id().to_string();
    if std::fs::read_to_string(path).is_ok_and(|text| text.trim() == ours) {
        let _ = std::fs::remove_file(path);
    }
}

/// Writes out the log lines still queued (before the process exits).
static LOG_FLUSHER: std::sync::OnceLock<fairway::logging::Flusher> = std::sync::OnceLock::new();

fn flush_log() {
    if let Some(f) = LOG_FLUSHER.get() {
        f.flush();
    }
}

fn init_logging(config: &Config, daemon: bool) {
    let level = config.global.log_level.as_str();
    // Access lines (`access_log: true`, at any time: a reload may turn it
    // on) do not depend on the process log level.
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level));
    builder
        .filter_module("fairway::access", log::LevelFilter::Info)
        .format_timestamp_millis();
    // Lines are written by a background thread, so that a worker that logs
    // an access line does not wait on the disk; not in a daemon, whose
    // fork would leave the thread behind.
    if !daemon {
        let (writer, flusher) = fairway::logging::Background::stderr();
        builder.target(env_logger::Target::Pipe(Box::new(writer)));
        let _ = LOG_FLUSHER.set(flusher);
    }
    let inner = builder.build();
    let max = inner.filter().max(log::LevelFilter::Info);
    // Pingora's reports of client mistakes are logged at info.
    if log::set_boxed_logger(Box::new(fairway::logging::ClientErrorsAtInfo::new(inner))).is_ok() {
        log::set_max_level(max);
    }
}

fn print_demo_help(fairway: &Fairway) {
    let Some(addr) = fairway.bind_addresses().into_iter().next() else {
        return;
    };
    let upstreams = fairway::demo::upstreams(fairway.config());
    println!(
        "fairway demo: proxy on http://{addr}/ in front of {} demo servers:",
        upstreams.len()
    );
    for (up, name) in &upstreams {
        println!("  {name:<10} http://{up}/");
    }
    println!("Try:");
    println!("  curl http://{addr}/            # round robin over server1..server4");
    println!("  curl http://{addr}/lightwork   # backend light: server1, server2");
    println!(
        "  curl http://{addr}/heavywork   # backend heavy: server3 or server4, fixed per client (balance source)"
    );
    println!(
        "  curl -i http://{addr}/admin    # 403: denied by 'deny if {{ path -i -m beg /admin }}'"
    );
    println!("  curl -i http://{addr}//admin   # 403 too: paths are normalized first");
    println!("Stop with Ctrl-C.");
}

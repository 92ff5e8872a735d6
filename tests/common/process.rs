//! Programs a test starts (fairway, nginx, HAProxy, etcd, dnsmasq, Python
//! servers), each in a process group of its own, so that stopping one
//! stops its children too: nginx's master and its `worker process`, a
//! shell and what it ran. Killing the leader alone leaves the children
//! running after the test ends.
//!
//! A child killed with its parent is reparented to pid 1, which on this
//! machine does not reap it: it stays a `<defunct>` entry. So programs
//! that fork are run without forking where they can (nginx with
//! `master_process off;`), and the group kill is the safety net that
//! leaves nothing running.
//!
//! Included by `tests/common/mod.rs` and, by path, by the conformance
//! suite (`tests/conformance/peers.rs`).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// Starts `cmd` as the leader of a new process group (its pgid is its
/// pid); stop it with [`stop_group`].
pub fn spawn_group(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0).spawn()
}

/// Kills the process group `child` leads (SIGKILL to every member, the
/// children it forked too), then reaps `child`. Harmless if it exited.
pub fn stop_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // The group's id is the leader's pid (`spawn_group`); the group
        // outlives its leader while a child is in it.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A child leading its own process group ([`spawn_group`]); the whole
/// group is killed when this is dropped, on a failed assertion too.
pub struct Group(pub Child);

impl Group {
    /// Starts `cmd` in a new process group.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Group> {
        spawn_group(cmd).map(Group)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        stop_group(&mut self.0);
    }
}

//! The HAProxy-compatible runtime socket (`admin.socket`): a Unix socket,
//! mode 0600, speaking the text commands of [`Cli`].
//!
//! Like HAProxy's `stats socket` outside interactive mode, a connection
//! runs one line (commands separated by `;`), plus any further lines that
//! have already arrived with it, and is then closed — so that
//! `echo "set server be/srv weight 256" | nc -U sock` returns at once even
//! though `nc` keeps its side open. After `prompt` the connection stays
//! open, one line at a time, until `quit` or end of input.
//!
//! The socket is bound when the service is built (a bad path is a startup
//! error): a stale socket file is removed first, and the new socket is
//! created under a temporary name, given mode 0600 and renamed into place,
//! so that it is never reachable with wider permissions. At shutdown the
//! file is removed if it is still the one this process created (after a
//! graceful upgrade it belongs to the new process).

use super::cli::{Cli, Session};
use async_trait::async_trait;
use log::{debug, error, info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The longest command line accepted.
pub const MAX_LINE: usize = 64 * 1024;

/// How long a connection may stay silent (HAProxy's `stats timeout` default).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the runtime socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Something that is not a socket is at the path.
    #[error("admin.socket {0}: the path exists and is not a socket; not removing it")]
    NotASocket(PathBuf),
    /// Binding, chmod or rename failed.
    #[error("admin.socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The runtime socket: a bound listener and the commands it runs.
pub struct RuntimeSocket {
    path: PathBuf,
    /// (device, inode) of the socket file this process created.
    identity: (u64, u64),
    listener: Mutex<Option<std::os::unix::net::UnixListener>>,
    cli: Cli,
}

impl std::fmt::Debug for RuntimeSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeSocket")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RuntimeSocket {
    /// Binds `path` (mode 0600), replacing a stale socket file.
    pub fn bind(path: &Path, cli: Cli) -> Result<RuntimeSocket, SocketError> {
        let io = |source| SocketError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Absolute, so that the cleanup at exit finds it after a daemon's chdir.
        let absolute;
        let path = if path.is_relative() {
            absolute = std::env::current_dir().map_err(io)?.join(path);
            absolute.as_path()
        } else {
            path
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                std::fs::remove_file(path).map_err(io)?;
                info!("admin socket: removed stale socket path={}", path.display());
            }
            Ok(_) => return Err(SocketError::NotASocket(path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let tmp = path.with_file_name(format!(".fw{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let listener = std::os::unix::net::UnixListener::bind(&tmp).map_err(io)?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&tmp, path))
            .and_then(|()| listener.set_nonblocking(true))
            .and_then(|()| std::fs::metadata(path));
        let meta = match placed {
            Ok(meta) => meta,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(io(e));
            }
        };
        Ok(RuntimeSocket {
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            listener: Mutex::new(Some(listener)),
            cli,
        })
    }

    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn remove_file(&self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[async_trait]
impl BackgroundService for RuntimeSocket {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let taken = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(std_listener) = taken else {
            return;
        };
        let listener = match tokio::net::UnixListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                error!(
                    "admin socket: cannot listen path={}: {e}",
                    self.path.display()
                );
                return;
            }
        };
        info!("admin socket listening path={}", self.path.display());
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let cli = self.cli.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve(stream, &cli).await {
                                debug!("admin socket: connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        warn!("admin socket: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.changed() => break,
            }
        }
        self.remove_file();
    }
}

/// Runs one connection.
async fn serve(stream: UnixStream, cli: &Cli) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut session = Session::default();
    loop {
        let mut line = Vec::new();
        let limit = (MAX_LINE + 1) as u64;
        let read = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut reader).take(limit).read_until(b'\n', &mut line),
        )
        .await;
        match read {
            Err(_) | Ok(Ok(0)) => break,
            Ok(Err(e)) => return Err(e),
            Ok(Ok(_)) => {}
        }
        if line.len() > MAX_LINE {
            write
                .write_all(format!("Command line longer than {MAX_LINE} bytes.\n\n").as_bytes())
                .await?;
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let out = cli.execute(&text, &mut session);
        write.write_all(out.as_bytes()).await?;
        if session.quit || (!session.interactive && reader.buffer().is_empty()) {
            break;
        }
    }
    write.shutdown().await
}

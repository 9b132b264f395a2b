//! The `ssh` driver: runs a step's command on a device through the OpenSSH client
//! (`ssh`), with strict host-key checking against the node's own known_hosts file and a
//! key from the data folder. An unknown or changed host key is refused with a clear
//! error, never accepted: `StrictHostKeyChecking=yes`, no global known_hosts, batch mode
//! (no prompt), only the given identity.
//!
//! Why the OpenSSH client and not `russh` (decision 0045): russh 0.65 adds 124 crates to
//! every build, and callers that only check `check_known_hosts_path` for an error accept
//! unknown hosts; OpenSSH's own strict checking is the behaviour operators already trust.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::exec::{Driver, TargetAccess};

/// The ssh driver's settings.
#[derive(Debug, Clone)]
pub struct SshDriver {
    /// The client binary (`ssh`).
    pub ssh: PathBuf,
    /// The private key to log in with (`DATA/ssh/id_ed25519`).
    pub key: PathBuf,
    /// The known_hosts file (`DATA/ssh/known_hosts`): the only host keys accepted.
    pub known_hosts: PathBuf,
    /// The user when a target names none.
    pub user: String,
}

impl SshDriver {
    /// The driver for a node's data folder: `DATA/ssh/id_ed25519`, `DATA/ssh/known_hosts`.
    pub fn in_data(data: &std::path::Path, user: &str) -> Self {
        Self {
            ssh: PathBuf::from("ssh"),
            key: data.join("ssh/id_ed25519"),
            known_hosts: data.join("ssh/known_hosts"),
            user: user.to_string(),
        }
    }

    fn run_blocking(
        &self,
        target: &TargetAccess,
        command: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let addr = target
            .address
            .as_deref()
            .ok_or_else(|| format!("ssh {}: no address in the targets file", target.id))?;
        let (host, port) = match addr.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h, p),
            _ => (addr, "22"),
        };
        let user = target.user.as_deref().unwrap_or(&self.user);
        let out = tempfile::tempfile().map_err(|e| format!("ssh {}: {e}", target.id))?;
        let err = tempfile::tempfile().map_err(|e| format!("ssh {}: {e}", target.id))?;
        let (mut out_r, mut err_r) = (
            out.try_clone().map_err(|e| e.to_string())?,
            err.try_clone().map_err(|e| e.to_string())?,
        );
        let connect = timeout.as_secs().clamp(1, 30).to_string();
        let mut child = Command::new(&self.ssh)
            .arg("-T")
            .args(["-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "GlobalKnownHostsFile=/dev/null"])
            .args(["-o", "IdentitiesOnly=yes"])
            .args(["-o", "LogLevel=ERROR"])
            .arg("-o")
            .arg(format!("ConnectTimeout={connect}"))
            .arg("-i")
            .arg(&self.key)
            .args(["-p", port])
            .arg(format!("{user}@{host}"))
            .arg("--")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                format!(
                    "ssh {}: cannot start {}: {e}",
                    target.id,
                    self.ssh.display()
                )
            })?;
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() > timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "ssh {}: timed out after {} s",
                        target.id,
                        timeout.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(format!("ssh {}: {e}", target.id)),
            }
        };
        use std::io::{Read, Seek};
        let mut stdout = String::new();
        let mut stderr = String::new();
        let _ = out_r
            .rewind()
            .and_then(|()| out_r.read_to_string(&mut stdout));
        let _ = err_r
            .rewind()
            .and_then(|()| err_r.read_to_string(&mut stderr));
        if status.success() {
            return Ok(stdout);
        }
        if stderr.contains("Host key verification failed")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            let why = if stderr.contains("HAS CHANGED") {
                "changed"
            } else {
                "unknown"
            };
            return Err(format!(
                "ssh {}: refused: {why} host key for [{host}]:{port} (known_hosts {}); nothing was sent",
                target.id,
                self.known_hosts.display()
            ));
        }
        Err(format!(
            "ssh {}: exit {}: {}{}",
            target.id,
            status.code().map_or("signal".into(), |c| c.to_string()),
            stdout.trim(),
            if stderr.trim().is_empty() {
                String::new()
            } else {
                format!(" ({})", stderr.trim())
            }
        ))
    }
}

impl Driver for SshDriver {
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        let (me, target, command) = (self.clone(), target.clone(), command.to_string());
        Box::pin(async move {
            // the client is a blocking child process, awaited here (never outlives the call)
            tokio::task::spawn_blocking(move || me.run_blocking(&target, &command, timeout))
                .await
                .unwrap_or_else(|e| Err(format!("ssh: {e}")))
        })
    }
}

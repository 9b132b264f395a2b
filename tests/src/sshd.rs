//! A real OpenSSH server for the runbook ssh driver: Debian's sshd started by
//! `deploy/scripts/sshd-test-server.sh` on a loopback port with its own host key, config
//! and client key, whose forced command emulates a switch CLI with state
//! (`deploy/sshd/switch-cli.sh`).

use std::path::{Path, PathBuf};

use crate::{deploy_dir, free_port};

/// The project's script that runs throwaway sshd servers.
pub fn script() -> PathBuf {
    deploy_dir().join("scripts/sshd-test-server.sh")
}

/// A server in its own directory; stopped on drop.
pub struct Managed {
    dir: tempfile::TempDir,
    port: u16,
}

impl Managed {
    /// Runs the script's `cmd`; its last stdout line.
    pub fn run(&self, cmd: &str) -> Result<String, String> {
        crate::run_script(
            &script(),
            cmd,
            self.dir.path(),
            &[],
            &[("SSHD_PORT", self.port.to_string())],
        )
    }

    /// Starts a server on a fresh loopback port; an error when sshd is missing.
    pub fn start() -> Result<Self, String> {
        let m = Managed {
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            port: free_port(),
        };
        m.run("start")?;
        Ok(m)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its directory: `client_key`, `known_hosts`, `ports`, `applied.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The changes the switch applied, in order (`Gi1/0/7 shutdown`).
    pub fn applied(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("applied.log"))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Restarts it with a new host key (a changed key for clients that knew the old one).
    pub fn rekey(&self) -> Result<(), String> {
        self.run("stop")?;
        self.run("rekey")?;
        self.run("start").map(drop)
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

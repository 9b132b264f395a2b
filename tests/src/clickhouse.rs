//! A real ClickHouse server for tests: started by `deploy/scripts/clickhouse-test-server.sh`
//! (Debian's `clickhouse-server`, installed if missing) in its own directory and ports, or
//! the one at `SEAWATCH_CLICKHOUSE_URL`.

use std::path::PathBuf;
use std::process::Command;

use crate::{deploy_dir, free_port};

/// The project's script that installs and runs throwaway ClickHouse servers.
pub fn script() -> PathBuf {
    deploy_dir().join("scripts/clickhouse-test-server.sh")
}

/// A server started by the script in its own directory; stopped on drop.
pub struct Managed {
    dir: tempfile::TempDir,
    http_port: u16,
    tcp_port: u16,
}

impl Managed {
    /// Runs the script's `cmd` (start, stop, kill, ...) on this server; its last stdout line.
    pub fn run(&self, cmd: &str) -> Result<String, String> {
        crate::run_script(
            &script(),
            cmd,
            self.dir.path(),
            &[],
            &[
                ("CH_HTTP_PORT", self.http_port.to_string()),
                ("CH_TCP_PORT", self.tcp_port.to_string()),
            ],
        )
    }

    /// Starts a server on fresh loopback ports; it and its HTTP URL.
    pub fn start() -> Result<(Self, String), String> {
        let m = Managed {
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            http_port: free_port(),
            tcp_port: free_port(),
        };
        let url = m.run("start")?;
        Ok((m, url))
    }

    /// Its HTTP port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// Runs `query` over HTTP (`curl`); its output rows as text.
    pub fn query(&self, query: &str) -> Result<String, String> {
        let out = Command::new("curl")
            .args(["-fsS", "--data-binary", query])
            .arg(format!("http://127.0.0.1:{}/", self.http_port))
            .output()
            .map_err(|e| format!("cannot run curl: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

/// Where the test's server comes from.
pub enum Server {
    /// Started (and stopped) by the test.
    Managed(Managed),
    /// `SEAWATCH_CLICKHOUSE_URL`: not ours to stop or kill.
    External,
}

/// A server and its HTTP URL.
pub fn get_server() -> Result<(Server, String), String> {
    if let Ok(url) = std::env::var("SEAWATCH_CLICKHOUSE_URL") {
        return Ok((Server::External, url));
    }
    let (m, url) = Managed::start()?;
    Ok((Server::Managed(m), url))
}

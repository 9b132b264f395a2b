//! A real ClickHouse server for tests: started by `deploy/scripts/clickhouse-test-server.sh`
//! (Debian's `clickhouse-server`, installed if missing) in its own directory and ports, or
//! the one at `SEAWATCH_CLICKHOUSE_URL`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/scripts/clickhouse-test-server.sh")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
        let out = Command::new("bash")
            .arg(script())
            .arg(cmd)
            .arg(self.dir.path())
            .env("CH_HTTP_PORT", self.http_port.to_string())
            .env("CH_TCP_PORT", self.tcp_port.to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("{cmd} failed ({}): {stderr}", out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned())
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

/// Where the test's server comes from.
// A test that never kills its server only holds the managed one until it ends.
#[allow(dead_code)]
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
    let m = Managed {
        dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        http_port: free_port(),
        tcp_port: free_port(),
    };
    let url = m.run("start")?;
    Ok((Server::Managed(m), url))
}

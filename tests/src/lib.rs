//! Helpers shared by the workspace's integration tests (a dev-dependency of the crates
//! whose tests run real servers).
//!
//! * [`nats`]: nats-server processes started by `deploy/scripts/nats-test-server.sh`
//!   (the 3-node shore cluster and ship leaf nodes of `deploy/nats/`), throwaway TLS
//!   certificates from `deploy/scripts/nats-tls-certs.sh`, and a TCP proxy that cuts a
//!   leaf connection.
//! * [`clickhouse`]: ClickHouse servers started by `deploy/scripts/clickhouse-test-server.sh`.
//! * [`smtp`]: aiosmtpd SMTP servers started by `deploy/scripts/smtp-test-server.sh`.
//! * [`victoriametrics`]: VictoriaMetrics servers started by
//!   `deploy/scripts/victoriametrics-test-server.sh`.
//! * [`sshd`]: OpenSSH servers emulating a switch CLI, started by
//!   `deploy/scripts/sshd-test-server.sh`.

pub mod clickhouse;
pub mod nats;
pub mod smtp;
pub mod sshd;
pub mod victoriametrics;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Runs `bash SCRIPT CMD DIR ARGS...` with `env` (a server script of `deploy/scripts`
/// acting on the server in `dir`); its last stdout line, or what it said on stderr.
pub fn run_script(
    script: &Path,
    cmd: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, String)],
) -> Result<String, String> {
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(cmd)
        .arg(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// A loopback port that was free a moment ago (bind port 0, read it, close it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

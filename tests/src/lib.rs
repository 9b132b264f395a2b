//! Helpers shared by the workspace's integration tests (a dev-dependency of the crates
//! whose tests run real servers).
//!
//! * [`nats`]: nats-server processes started by `deploy/scripts/nats-test-server.sh`
//!   (the 3-node shore cluster and ship leaf nodes of `deploy/nats/`), throwaway TLS
//!   certificates from `deploy/scripts/nats-tls-certs.sh`, and a TCP proxy that cuts a
//!   leaf connection.
//! * [`clickhouse`]: ClickHouse servers started by `deploy/scripts/clickhouse-test-server.sh`.
//! * [`smtp`]: aiosmtpd SMTP servers started by `deploy/scripts/smtp-test-server.sh`.

pub mod clickhouse;
pub mod nats;
pub mod smtp;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// A loopback port that was free a moment ago (bind port 0, read it, close it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

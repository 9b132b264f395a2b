//! Builds seawatch nodes (a ship, shore, the demo) from config as supervision trees, and
//! hosts the `seawatch` command line.

pub mod assistant_cli;
pub mod assistant_indexer;
pub mod bench_actors;
pub mod bench_ingest;
pub mod bench_ws;
pub mod cli;
pub mod config;
pub mod demo;
pub mod exit;
pub mod feed;
pub mod inventory;
pub mod models;
pub mod remediation;
pub mod ship;
pub mod sim;
pub mod sim_rollout;
pub mod suite;
pub mod sync;

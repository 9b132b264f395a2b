//! The `seawatch` command line (contracts §1).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::bench_actors::{run_actors, ActorsBenchConfig};
use clap::{Args, Parser, Subcommand};
use seawatch_runtime::Clock;

use crate::config::ShipConfig;
use crate::ship::{ShipNode, ShipStartError};
use seawatch_model::Inventory;

pub use crate::exit::{wait_for_shutdown_signal, EXIT_USAGE};

/// seawatch: offline-first AIOps for cruise ships.
#[derive(Debug, Parser)]
#[command(name = "seawatch", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole platform in one process on embedded defaults.
    Demo(DemoArgs),
    /// One ship's edge node.
    Ship(ShipArgs),
    /// One shore node.
    Shore(ShoreArgs),
    /// Scenario simulation.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// NAB anomaly benchmark.
    #[command(subcommand)]
    Nab(NabCommand),
    /// The operator's assistant: index documents, ask, evaluate (contracts §8).
    #[command(subcommand)]
    Assistant(crate::assistant_cli::AssistantCommand),
    /// Remediation policies (contracts §7).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Rollout bundles (contracts §10).
    #[command(subcommand)]
    Bundle(BundleCommand),
}

/// `seawatch bundle ...`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Packs a folder into a content-addressed bundle and prints its SHA-256. The folder
    /// holds `bundle.toml` (`kind = "detectors|runbooks|policies|assistant|model"`, and
    /// `name = "..."` for a model) and the files to ship. Upload the result to shore with
    /// `POST /api/bundles` (admin).
    Build {
        /// The folder.
        dir: PathBuf,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `seawatch policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluates the policies against one JSON input and prints the decision with its
    /// reasons. Exit 0 when allowed, 1 when denied, 2 for a broken policy or input.
    Check {
        /// Policy folder (`*.rego` and an optional `data.json`).
        #[arg(long)]
        policies: PathBuf,
        /// The input: `{"runbook","targets","params","requester","role","now","ship"}`.
        #[arg(long)]
        input: PathBuf,
    },
}

/// `seawatch demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated ships.
    #[arg(long, default_value_t = 3)]
    pub ships: usize,
    /// Console address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory.
    #[arg(long, default_value = "./seawatch-data")]
    pub data: PathBuf,
}

/// `seawatch ship` arguments.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// Config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Scenario file whose one `[[ship]]` table is the inventory.
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// Data directory (default ./seawatch-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// NATS URL (JetStream) instead of the embedded transport.
    #[arg(long)]
    pub nats: Option<String>,
    /// HTTP address.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Syslog TCP and UDP address.
    #[arg(long)]
    pub syslog: Option<SocketAddr>,
}

/// `seawatch shore` arguments.
#[derive(Debug, Args)]
pub struct ShoreArgs {
    /// Config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory.
    #[arg(long, default_value = "./seawatch-data")]
    pub data: PathBuf,
    /// NATS URL.
    #[arg(long)]
    pub nats: Option<String>,
    /// HTTP address.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// `seawatch sim ...`
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Replays a scenario through ship and shore on simulated time.
    Run {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Report file (JSON).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Play in real time.
        #[arg(long)]
        realtime: bool,
    },
    /// Writes a random but reproducible fleet scenario (topology, vendors, poll intervals,
    /// links, benign noise and a mix of faults) into a folder and prints its path.
    Fleet {
        /// Seed: the same seed (and sizes) gives a byte-identical file.
        #[arg(long)]
        seed: Option<String>,
        /// Output folder (created if missing).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Ships (1 to 12; default 1 to 3 from the seed).
        #[arg(long)]
        ships: Option<String>,
        /// Devices per ship (40 to 3000; default 40 to 3000 from the seed; 40 with
        /// `--rollout`).
        #[arg(long)]
        devices: Option<String>,
        /// Writes a fleet rollout scenario instead (`good` or `bad` bundle): up to 100
        /// ships, 30 % of them offline for 2 hours, the shore node running the rollout
        /// killed in wave 2 (decision 0075).
        #[arg(long)]
        rollout: Option<String>,
    },
}

/// `seawatch bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Runtime micro-benchmarks: supervised vs bare ractor throughput, spawn rate, idle
    /// memory per actor, restart latency.
    Actors {
        /// Report file (JSON).
        #[arg(long)]
        report: PathBuf,
        /// Messages per throughput round.
        #[arg(long, default_value_t = 1_000_000)]
        msgs: u64,
        /// Throughput rounds per side.
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        /// Idle actors for the memory and spawn figures.
        #[arg(long, default_value_t = 100_000)]
        idle_actors: usize,
        /// Restarts to time.
        #[arg(long, default_value_t = 2_000)]
        restarts: usize,
    },
    /// End-to-end ingest benchmark: a loader process sends RFC 5424 over TCP; counts
    /// events stored durably in the ship's event log.
    Ingest {
        /// Report file (JSON).
        #[arg(long)]
        report: PathBuf,
        /// Seconds the loader sends for.
        #[arg(long, default_value_t = 30)]
        secs: u64,
        /// Loader connections.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Offered load in events/s (0: as fast as the ship takes them).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// What the loader sends: syslog-tcp (RFC 5424 lines) or remote-write (device
        /// samples, 1,000 a request).
        #[arg(long, default_value = "syslog-tcp")]
        source: String,
        /// Run the ship with its VictoriaMetrics exporter writing to this server
        /// (http://HOST:PORT); the report says what it wrote.
        #[arg(long)]
        victoriametrics: Option<String>,
    },
    /// WebSocket push latency: N console sessions on one ship node while ingest runs.
    #[command(hide = true)]
    Ws {
        /// Report file (JSON).
        #[arg(long)]
        report: PathBuf,
        /// WebSocket sessions.
        #[arg(long, default_value_t = 500)]
        sessions: usize,
        /// Seconds of publishing.
        #[arg(long, default_value_t = 20)]
        secs: u64,
        /// Pushes published per second (each goes to every session).
        #[arg(long, default_value_t = 20)]
        pushes_per_s: u64,
        /// Offered syslog ingest load, events/s (0: none).
        #[arg(long, default_value_t = 100_000)]
        ingest_rate: u64,
    },
    /// The WebSocket clients of `bench ws` (run as a separate process).
    #[command(hide = true)]
    WsClients {
        /// HTTP address of the node.
        #[arg(long)]
        addr: SocketAddr,
        /// Viewer token.
        #[arg(long)]
        token: String,
        /// Ship to subscribe to.
        #[arg(long)]
        ship: String,
        /// Sessions.
        #[arg(long)]
        sessions: usize,
        /// Pushes each session waits for.
        #[arg(long)]
        expect: u64,
        /// Give up after this many seconds.
        #[arg(long)]
        deadline_s: u64,
    },
    /// The ingest loader (run by `bench ingest` as a separate process).
    #[command(hide = true)]
    Load {
        /// Syslog TCP address.
        #[arg(long)]
        addr: SocketAddr,
        /// Seconds.
        #[arg(long)]
        secs: u64,
        /// Connections.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Lines (or samples) per second in total (0: unpaced).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// syslog-tcp (ADDR is the syslog port) or remote-write (ADDR is the HTTP port).
        #[arg(long, default_value = "syslog-tcp")]
        source: String,
        /// The ingest token (remote-write).
        #[arg(long, default_value = "")]
        token: String,
    },
}

/// `seawatch nab ...`
#[derive(Debug, Subcommand)]
pub enum NabCommand {
    /// Runs the detectors over NAB CSVs and writes NAB results files.
    Run {
        /// NAB data folder.
        #[arg(long)]
        data: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Scores NAB results files (three profiles, one corpus-wide threshold each).
    Score {
        /// Results folder (`OUT` of `nab run`, or `OUT/seawatch`).
        #[arg(long)]
        results: PathBuf,
        /// Labelled windows (NAB's combined_windows.json).
        #[arg(long)]
        labels: PathBuf,
    },
}

/// Parses the process arguments and runs; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    // Benchmarks restart actors thousands of times on purpose: log errors only there.
    let default_filter = match cli.command {
        Command::Bench(_) => "error",
        _ => "warn,seawatch=info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("seawatch: cannot start the async runtime: {e}");
            return 1;
        }
    };
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Ship(args) => ship(args).await,
        Command::Shore(args) => shore(args).await,
        Command::Sim(SimCommand::Run {
            scenario,
            report,
            realtime,
        }) => sim_run(&scenario, report.as_deref(), realtime).await,
        Command::Sim(SimCommand::Fleet {
            seed,
            out,
            ships,
            devices,
            rollout,
        }) => sim_fleet(
            seed.as_deref(),
            out.as_deref(),
            ships.as_deref(),
            devices.as_deref(),
            rollout.as_deref(),
        ),
        Command::Bench(BenchCommand::Load {
            addr,
            secs,
            connections,
            rate,
            source,
            token,
        }) => match crate::bench_ingest::LoadSource::parse(&source).and_then(|s| {
            match s {
                crate::bench_ingest::LoadSource::SyslogTcp => {
                    crate::bench_ingest::load(addr, secs, connections, rate)
                }
                crate::bench_ingest::LoadSource::RemoteWrite => {
                    crate::bench_ingest::load_remote_write(addr, &token, secs, connections, rate)
                }
            }
            .map_err(|e| e.to_string())
        }) {
            Ok(n) => {
                println!("{n}");
                0
            }
            Err(e) => {
                eprintln!("seawatch bench load: {addr}: {e}");
                1
            }
        },
        Command::Bench(BenchCommand::Ingest {
            report,
            secs,
            connections,
            rate,
            source,
            victoriametrics,
        }) => {
            let source = match crate::bench_ingest::LoadSource::parse(&source) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("seawatch bench ingest: {e}");
                    return crate::exit::EXIT_USAGE;
                }
            };
            if let Some(url) = &victoriametrics {
                if let Err(e) = seawatch_actors::store::victoriametrics::VmClient::new(
                    url,
                    std::time::Duration::from_secs(1),
                ) {
                    eprintln!("seawatch bench ingest: --victoriametrics: {e}");
                    return crate::exit::EXIT_USAGE;
                }
            }
            let exe = match std::env::current_exe() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("seawatch bench ingest: cannot find my own binary: {e}");
                    return 1;
                }
            };
            match crate::bench_ingest::run(
                &exe,
                secs.max(1),
                connections.max(1),
                rate,
                source,
                victoriametrics,
            )
            .await
            {
                Ok(r) => write_report("bench ingest", &report, &r),
                Err(e) => {
                    eprintln!("seawatch bench ingest: {e}");
                    1
                }
            }
        }
        Command::Bench(BenchCommand::Ws {
            report,
            sessions,
            secs,
            pushes_per_s,
            ingest_rate,
        }) => {
            let exe = match std::env::current_exe() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("seawatch bench ws: cannot find my own binary: {e}");
                    return 1;
                }
            };
            match crate::bench_ws::run(
                &exe,
                sessions.max(1),
                secs.max(1),
                pushes_per_s.max(1),
                ingest_rate,
            )
            .await
            {
                Ok(r) => write_report("bench ws", &report, &r),
                Err(e) => {
                    eprintln!("seawatch bench ws: {e}");
                    1
                }
            }
        }
        Command::Bench(BenchCommand::WsClients {
            addr,
            token,
            ship,
            sessions,
            expect,
            deadline_s,
        }) => {
            // One thread: the clients must not take the node's cores.
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("seawatch bench ws-clients: {e}");
                    return 1;
                }
            };
            let result = std::thread::spawn(move || {
                rt.block_on(crate::bench_ws::clients(
                    addr, &token, &ship, sessions, expect, deadline_s,
                ))
            })
            .join();
            match result {
                Ok(Ok(r)) => {
                    println!("{}", serde_json::to_string(&r).unwrap_or_default());
                    0
                }
                Ok(Err(e)) => {
                    eprintln!("seawatch bench ws-clients: {e}");
                    1
                }
                Err(_) => 1,
            }
        }
        Command::Assistant(cmd) => {
            // CPU-bound and synchronous: off the async workers for the length of the call
            tokio::task::spawn_blocking(move || crate::assistant_cli::run(cmd))
                .await
                .unwrap_or(1)
        }
        Command::Policy(PolicyCommand::Check { policies, input }) => {
            policy_check(&policies, &input)
        }
        Command::Bundle(BundleCommand::Build { dir, out }) => bundle_build(&dir, &out),
        Command::Nab(NabCommand::Run { data, out }) => nab_run(&data, &out),
        Command::Nab(NabCommand::Score { results, labels }) => nab_score(&results, &labels),
        Command::Bench(BenchCommand::Actors {
            report,
            msgs,
            rounds,
            idle_actors,
            restarts,
        }) => {
            let cfg = ActorsBenchConfig {
                msgs_per_round: msgs.max(1),
                rounds: rounds.max(1),
                idle_actors: idle_actors.max(1),
                restarts: restarts.max(1),
                // A small run (a test's) keeps its warm spawn rounds small too.
                warm_spawn_actors: idle_actors
                    .clamp(1, ActorsBenchConfig::default().warm_spawn_actors),
                ..ActorsBenchConfig::default()
            };
            let result = run_actors(cfg).await;
            let json = match serde_json::to_string_pretty(&result) {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("seawatch bench actors: cannot encode report: {e}");
                    return 1;
                }
            };
            if let Err(e) = write_atomically(&report, json.as_bytes()) {
                eprintln!(
                    "seawatch bench actors: cannot write {}: {e}",
                    report.display()
                );
                return 1;
            }
            println!("{json}");
            0
        }
    }
}

async fn sim_run(
    scenario: &std::path::Path,
    report: Option<&std::path::Path>,
    realtime: bool,
) -> i32 {
    let sc = match seawatch_simulators::scenario::Scenario::load(scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("seawatch sim run: {e}");
            return EXIT_USAGE;
        }
    };
    let opts = crate::sim::SimRunOptions {
        realtime,
        base: scenario.parent().map(std::path::Path::to_path_buf),
        ..crate::sim::SimRunOptions::default()
    };
    match crate::sim::run(&sc, &opts).await {
        Ok(r) => match report {
            Some(path) => write_report("sim run", path, &r),
            None => match serde_json::to_string_pretty(&r) {
                Ok(j) => {
                    println!("{j}");
                    0
                }
                Err(e) => {
                    eprintln!("seawatch sim run: cannot encode report: {e}");
                    1
                }
            },
        },
        Err(e) => {
            eprintln!("seawatch sim run: {}: {e}", scenario.display());
            1
        }
    }
}

/// `seawatch sim fleet`: one-line errors and exit 2 on bad arguments.
fn sim_fleet(
    seed: Option<&str>,
    out: Option<&std::path::Path>,
    ships: Option<&str>,
    devices: Option<&str>,
    rollout: Option<&str>,
) -> i32 {
    use seawatch_simulators::fleet::{
        random_fleet, rollout_fleet, RolloutFleetOptions, FLEET_DEVICES, FLEET_MAX_SHIPS,
        ROLLOUT_MAX_SHIPS,
    };
    let usage = |msg: String| {
        eprintln!("seawatch sim fleet: {msg}");
        EXIT_USAGE
    };
    let Some(seed) = seed else {
        return usage("--seed N is required, expected an integer seed".into());
    };
    let Ok(seed) = seed.parse::<u64>() else {
        return usage(format!(
            "--seed: \"{seed}\" is not a seed, expected an integer 0 to {}",
            u64::MAX
        ));
    };
    let Some(out) = out else {
        return usage(
            "--out DIR is required, expected the folder to write the scenario into".into(),
        );
    };
    let count = |flag: &str, v: Option<&str>, range: std::ops::RangeInclusive<usize>| match v {
        None => Ok(None),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "{flag}: \"{text}\" is out of range, expected an integer {} to {}",
                range.start(),
                range.end()
            )),
        },
    };
    let bundle = match rollout {
        None => None,
        Some("good") => Some(seawatch_simulators::GeneratedBundle::Good),
        Some("bad") => Some(seawatch_simulators::GeneratedBundle::Bad),
        Some(other) => {
            return usage(format!(
                "--rollout: \"{other}\" is not known, expected good or bad"
            ))
        }
    };
    let max_ships = if bundle.is_some() {
        ROLLOUT_MAX_SHIPS
    } else {
        FLEET_MAX_SHIPS
    };
    let ships = match count("--ships", ships, 1..=max_ships) {
        Ok(n) => n,
        Err(e) => return usage(e),
    };
    let devices = match count("--devices", devices, FLEET_DEVICES) {
        Ok(n) => n,
        Err(e) => return usage(e),
    };
    if out.exists() && !out.is_dir() {
        return usage(format!(
            "--out {}: is a file, expected a folder",
            out.display()
        ));
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        return usage(format!(
            "--out {}: cannot create the folder: {e}",
            out.display()
        ));
    }
    let fleet = match bundle {
        None => random_fleet(seed, ships, devices),
        Some(bundle) => {
            let o = RolloutFleetOptions {
                ships: ships.unwrap_or(50),
                devices: devices.unwrap_or(40),
                bundle,
                ..RolloutFleetOptions::default()
            };
            rollout_fleet(seed, &o).0
        }
    };
    let text = fleet.to_toml();
    // what `sim run` will read back
    if let Err(e) = seawatch_simulators::Scenario::parse(&text, "generated") {
        eprintln!("seawatch sim fleet: generated an invalid scenario (a bug): {e}");
        return 1;
    }
    let path = out.join(format!("{}.toml", fleet.scenario.name));
    if let Err(e) = write_atomically(&path, text.as_bytes()) {
        eprintln!("seawatch sim fleet: cannot write {}: {e}", path.display());
        return 1;
    }
    println!("{}", path.display());
    0
}

fn write_report<T: serde::Serialize>(what: &str, path: &std::path::Path, report: &T) -> i32 {
    let json = match serde_json::to_string_pretty(report) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("seawatch {what}: cannot encode report: {e}");
            return 1;
        }
    };
    if let Err(e) = write_atomically(path, json.as_bytes()) {
        eprintln!("seawatch {what}: cannot write {}: {e}", path.display());
        return 1;
    }
    println!("{json}");
    0
}

/// `seawatch bundle build DIR --out FILE`: prints the bundle's SHA-256, kind and size.
fn bundle_build(dir: &std::path::Path, out: &std::path::Path) -> i32 {
    use seawatch_actors::rollout::bundle::{build_dir, decode};
    let bytes = match build_dir(dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("seawatch bundle build: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(e) = write_atomically(out, &bytes) {
        eprintln!("seawatch bundle build: {}: {e}", out.display());
        return EXIT_USAGE;
    }
    match decode(&bytes) {
        Ok(b) => {
            println!(
                "{} {} {} ({} files, {} bytes) -> {}",
                b.sha256,
                b.manifest.kind.as_str(),
                b.manifest.name,
                b.files.len(),
                bytes.len(),
                out.display()
            );
            0
        }
        Err(e) => {
            eprintln!("seawatch bundle build: {e}");
            1
        }
    }
}

fn policy_check(policies: &std::path::Path, input: &std::path::Path) -> i32 {
    use seawatch_actors::runbook::policy::{Policy, PolicyInput};
    let usage = |msg: String| {
        eprintln!("seawatch policy check: {msg}");
        EXIT_USAGE
    };
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => return usage(format!("{}: cannot read: {e}", input.display())),
    };
    let parsed: PolicyInput = match serde_json::from_str(&text) {
        Ok(i) => i,
        Err(e) => {
            return usage(format!(
                "{}:{}:{}: {e}",
                input.display(),
                e.line(),
                e.column()
            ))
        }
    };
    let policy = Policy::load_dir(policies);
    if let Some(e) = policy.error() {
        return usage(format!("policy {}: {e}", policies.display()));
    }
    let d = policy.decide(&parsed);
    match serde_json::to_string_pretty(&d) {
        Ok(j) => println!("{j}"),
        Err(e) => {
            eprintln!("seawatch policy check: {e}");
            return 1;
        }
    }
    if d.allow {
        0
    } else {
        1
    }
}

fn nab_run(data: &std::path::Path, out: &std::path::Path) -> i32 {
    use seawatch_actors::detect::{nab, EnsembleConfig};
    if !data.is_dir() {
        eprintln!("seawatch nab run: --data {}: not a folder", data.display());
        return EXIT_USAGE;
    }
    match nab::run_corpus(&EnsembleConfig::default(), data, out) {
        Ok(n) => {
            println!(
                "{n} files scored into {}",
                out.join(nab::DETECTOR).display()
            );
            0
        }
        Err(e) => {
            eprintln!("seawatch nab run: {e}");
            1
        }
    }
}

fn nab_score(results: &std::path::Path, labels: &std::path::Path) -> i32 {
    use seawatch_actors::detect::nab;
    let c = match nab::score_corpus(results, labels) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("seawatch nab score: {e}");
            return 1;
        }
    };
    for k in &c.unlabelled {
        eprintln!("seawatch nab score: {k}: no labels, skipped");
    }
    println!("files {}", c.files.len());
    println!("profile                 score  threshold       raw      null  perfect");
    for p in &c.profiles {
        println!(
            "{:<20} {:>8.2} {:>10.6} {:>9.3} {:>9.3} {:>8.1}",
            p.profile.name, p.normalized, p.detector.threshold, p.detector.raw, p.null, p.perfect
        );
    }
    0
}

/// Writes a file through a temporary sibling and a rename: nothing half-written.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

async fn demo(args: DemoArgs) -> i32 {
    use crate::demo::{Demo, DemoError, DemoOptions};
    // Listen for Ctrl-C / SIGTERM from the start, on a task of its own.
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let signals = tokio::spawn(async move {
        wait_for_shutdown_signal().await;
        let _ = stop_tx.send(());
    });
    let opts = DemoOptions {
        ships: args.ships,
        listen: args.listen,
        data: args.data.clone(),
        ..DemoOptions::new()
    };
    let demo = match Demo::start(&opts).await {
        Ok(d) => d,
        Err(e @ (DemoError::Usage(_) | DemoError::Bind { .. })) => {
            eprintln!("seawatch demo: {e}");
            signals.abort();
            return EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("seawatch demo: {e}");
            signals.abort();
            return 1;
        }
    };
    let url = format!("http://{}/", demo.http_addr);
    println!(
        "seawatch demo: shore and {} ships replaying the built-in scenario in real time",
        args.ships
    );
    println!("  console:  {url}");
    println!("  user:     admin");
    if demo.password_file.exists() {
        println!("  password: in {}", demo.password_file.display());
    } else {
        println!(
            "  password: set on the first start ({} has been removed)",
            demo.password_file.display()
        );
    }
    println!(
        "  first faults at ~20 s (interface errors), ~40 s (a distribution switch down) and \
         ~70 s (a VSAT blockage); incidents open within two minutes. Ctrl-C to stop."
    );
    println!(
        "  runbooks: {} and policy: {} (re-read every 5 s); an incident's page suggests them",
        args.data.join("runbooks").display(),
        args.data.join("policies").display()
    );
    let status = tokio::select! {
        r = demo.play(None) => match r {
            Ok(()) => {
                println!("seawatch demo: the scenario has ended; the console stays up. Ctrl-C to stop.");
                let _ = (&mut stop).await;
                0
            }
            Err(e) => {
                eprintln!("seawatch demo: {e}");
                1
            }
        },
        _ = &mut stop => 0,
    };
    signals.abort();
    demo.shutdown().await;
    status
}

fn ship_config(args: &ShipArgs) -> Result<ShipConfig, String> {
    let mut cfg = match &args.config {
        Some(path) => ShipConfig::load(path).map_err(|e| e.to_string())?,
        None => ShipConfig::default(),
    };
    if let Some(d) = &args.data {
        cfg.data = d.clone();
    }
    if let Some(a) = args.listen {
        cfg.listen = a;
    }
    if let Some(a) = args.syslog {
        cfg.syslog = a;
    }
    if let Some(i) = &args.inventory {
        cfg.inventory = Some(i.clone());
    }
    if let Some(url) = &args.nats {
        let bulk_bytes_per_s = cfg.nats.as_ref().and_then(|n| n.bulk_bytes_per_s);
        cfg.nats = Some(crate::config::NatsSection {
            url: url.clone(),
            bulk_bytes_per_s,
        });
    }
    Ok(cfg)
}

async fn shore(args: ShoreArgs) -> i32 {
    let mut cfg = match &args.config {
        Some(path) => match crate::config::ShoreConfig::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("seawatch shore: {e}");
                return EXIT_USAGE;
            }
        },
        None => match crate::config::ShoreConfig::parse("", "defaults") {
            Ok(c) => c,
            Err(e) => {
                eprintln!("seawatch shore: {e}");
                return EXIT_USAGE;
            }
        },
    };
    if let Some(a) = args.listen {
        cfg.listen = a;
    }
    let Some(url) = args.nats.clone().or(cfg.nats.clone()) else {
        eprintln!(
            "seawatch shore: --nats URL (or `nats` in --config) is required: a shore node serves \
             ships over NATS JetStream; the embedded transport runs inside `seawatch demo` and `sim run`"
        );
        return EXIT_USAGE;
    };
    let listen = cfg.listen;
    crate::sync::run_shore(cfg, url, listen, &args.data).await
}

async fn ship(args: ShipArgs) -> i32 {
    let cfg = match ship_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("seawatch ship: {e}");
            return EXIT_USAGE;
        }
    };
    let inventory = match &cfg.inventory {
        Some(path) => match crate::inventory::load(path, &cfg.ship) {
            Ok(inv) => inv,
            Err(e) => {
                eprintln!("seawatch ship: {e}");
                return EXIT_USAGE;
            }
        },
        None => Inventory::empty(&cfg.ship),
    };
    let devices = inventory.devices.len();
    let links = inventory.links.len();
    // A leaf server too old for our JetStream client: one plain line and exit 2, before
    // anything starts when it answers at once, or whenever it first answers (a ship
    // starts offline), instead of a connect-and-retry loop.
    let pending_check = match &cfg.nats {
        None => None,
        Some(n) => match crate::sync::check_nats_version(&n.url).await {
            Ok(pending) => pending,
            Err(e) => {
                eprintln!("seawatch ship: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let node = match ShipNode::start(&cfg, inventory, Clock::system()).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("seawatch ship: {e}");
            return match e {
                ShipStartError::Bind { .. }
                | ShipStartError::Config(_)
                | ShipStartError::Auth(seawatch_console::auth::AuthError::Config(_)) => EXIT_USAGE,
                _ => 1,
            };
        }
    };
    println!(
        "seawatch ship {}: {} inventoried devices, {} links",
        cfg.ship, devices, links
    );
    println!("  http:   http://{}/ (metrics at /metrics)", node.http_addr);
    println!(
        "  syslog: tcp {} udp {}",
        node.syslog_tcp_addr, node.syslog_udp_addr
    );
    println!("  data:   {}", cfg.data.display());
    let users_note = if cfg.data.join("initial-admin-password").exists() {
        format!(
            "user admin, first password in {}",
            cfg.data.join("initial-admin-password").display()
        )
    } else {
        "users in users.json".to_string()
    };
    println!("  console: http://{}/ ({users_note})", node.http_addr);
    println!(
        "  ingest token (NDJSON, remote write): {}",
        cfg.data.join("ingest-token").display()
    );
    if let Some(path) = cfg.inventory.clone() {
        println!("  inventory: {} (SIGHUP reloads it)", path.display());
    }
    if cfg.nats.is_some() {
        println!("  sync:   to shore over NATS JetStream (the ship's leaf server)");
    }
    let too_old = async {
        match pending_check {
            Some(check) => check.too_old().await,
            None => std::future::pending().await,
        }
    };
    let status = tokio::select! {
        _ = wait_for_shutdown_signal() => 0,
        e = too_old => {
            eprintln!("seawatch ship: {e}");
            EXIT_USAGE
        }
    };
    node.shutdown().await;
    status
}

//! The `seawatch` binary.

/// mimalloc instead of the system allocator: the pipeline allocates each event's strings
/// on one thread (decode, event log) and frees them on another (actors, sync), which
/// glibc's per-thread arenas handle poorly (docs/benchmarks.md, `sim run` wall time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(seawatch_topologies::cli::main());
}

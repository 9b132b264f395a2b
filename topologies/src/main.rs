//! The `seawatch` binary.

fn main() {
    std::process::exit(seawatch_topologies::cli::main());
}

//! The `seawatch` binary.

/// mimalloc instead of the system allocator: the pipeline allocates each event's strings
/// on one thread (decode, event log) and frees them on another (actors, sync), which
/// glibc's per-thread arenas handle poorly (docs/benchmarks.md, `sim run` wall time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_decommits` option (`mi_option_purge_decommits` in `mimalloc.h`, the
/// same index in its v2 and v3).
const MI_OPTION_PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

fn main() {
    // Memory idle for a second is purged with MADV_FREE instead of MADV_DONTNEED: the
    // kernel takes the pages back only under memory pressure, so the event log's and
    // sync's large per-batch buffers are not zero-filled and faulted in again on every
    // reuse (decision 0030). mimalloc reads its environment when the process loads, so
    // an operator's `MIMALLOC_PURGE_DECOMMITS` is left as it is.
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_none() {
        // SAFETY: first thing in `main`, before this program starts a thread (the option
        // is a plain word mimalloc reads when it purges).
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0) };
    }
    std::process::exit(seawatch_topologies::cli::main());
}

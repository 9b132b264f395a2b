#![no_main]
//! A byte stream, chunked at fuzzer-chosen points, through the RFC 6587
//! framer. Checks: no panic, frames within the limit, and the same frames as
//! feeding the stream in one piece.

use libfuzzer_sys::fuzz_target;
use seawatch_actors::ingest::decode::SyslogFramer;

fn run(chunks: &[&[u8]], max: usize) -> Vec<Result<Vec<u8>, &'static str>> {
    let mut f = SyslogFramer::new(max);
    let mut out = Vec::new();
    for c in chunks {
        f.push(c);
        while let Some(r) = f.next_frame() {
            out.push(r.map(|b| b.to_vec()).map_err(|e| e.reason()));
        }
        assert!(f.buffered() <= max + c.len() + 12);
    }
    out.extend(
        f.finish()
            .map(|r| r.map(|b| b.to_vec()).map_err(|e| e.reason())),
    );
    for fr in out.iter().flatten() {
        assert!(fr.len() <= max);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max = 8 + data[0] as usize * 4;
    let step = 1 + data[1] as usize % 32;
    let stream = &data[2..];
    let whole = run(&[stream], max);
    let chunks: Vec<&[u8]> = stream.chunks(step).collect();
    assert_eq!(run(&chunks, max), whole);
});

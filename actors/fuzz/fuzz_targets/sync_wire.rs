#![no_main]
//! Ship-to-shore frames as shore (and ship) receive them over NATS: the header line,
//! the zstd payload, and the batch's columns decoded directly.

use libfuzzer_sys::fuzz_target;
use seawatch_actors::sync::wire::{decode_events, Down, Up};

fuzz_target!(|data: &[u8]| {
    if let Ok(Up::Batch(b)) = Up::decode(data) {
        let _ = b.events();
    }
    let _ = Down::decode(data);
    let _ = decode_events(1, data);
});

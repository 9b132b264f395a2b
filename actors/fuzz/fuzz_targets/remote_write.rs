#![no_main]
//! Remote-write bodies: raw fuzz input as the snappy body, and the input
//! snappy-compressed so the protobuf decoder sees arbitrary bytes too.

use libfuzzer_sys::fuzz_target;
use seawatch_actors::ingest::decode::decode_remote_write;

fuzz_target!(|data: &[u8]| {
    let _ = decode_remote_write(data, 1 << 20);
    if let Ok(body) = snap::raw::Encoder::new().compress_vec(data) {
        let _ = decode_remote_write(&body, 1 << 20);
    }
});

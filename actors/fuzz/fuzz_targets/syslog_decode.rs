#![no_main]
//! Any bytes through the syslog line decoder (lenient and strict) and the
//! structured-data / FortiOS iterators: must never panic.

use libfuzzer_sys::fuzz_target;
use seawatch_actors::ingest::decode::{
    fortinet_kv, parse_syslog, sd_params, SyslogOptions, VendorHint,
};

fuzz_target!(|data: &[u8]| {
    let lenient = SyslogOptions::at(1_741_960_800_000);
    let strict = SyslogOptions {
        require_priority: true,
        ..lenient
    };
    for opts in [&lenient, &strict] {
        if let Ok(r) = parse_syslog(data, opts) {
            if let Some(sd) = r.structured_data {
                sd_params(sd).for_each(drop);
            }
            if let VendorHint::Fortinet { kv, .. } = r.vendor {
                fortinet_kv(kv).for_each(drop);
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        sd_params(s).take(256).for_each(drop);
        fortinet_kv(s).take(256).for_each(drop);
    }
});

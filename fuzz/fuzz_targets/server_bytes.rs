//! Arbitrary bytes from a client, served by sluice exactly as its listener would (HTTP/1.1
//! or h2c), in memory, with a strict in-process app behind it. Fails on a panic, on an
//! ambiguous or hop-by-hop message reaching the app, on a connection that never ends, and
//! on any slot or queue place left held afterwards.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_fuzz::World::get().run(data);
});

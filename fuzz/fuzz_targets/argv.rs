//! Fuzz the argv path: NUL-separated bytes as one exec's argv.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: common::quiet_panics(), |data: &[u8]| {
    common::run(|| {
        let argv: Vec<&[u8]> = data.split(|b| *b == 0).collect();
        let _ = guard_classify::classify_argv(&argv, &guard_classify::Context::builtin());
    });
});

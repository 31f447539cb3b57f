//! Fuzz the argv path: NUL-separated bytes as one exec's argv.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let argv: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let _ = guard_classify::classify_argv(&argv, &guard_classify::Context::builtin());
});

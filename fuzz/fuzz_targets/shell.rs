//! Fuzz the shell path: any text as `sh -c TEXT` must classify without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = guard_classify::classify_shell(&text, &guard_classify::Context::builtin());
});

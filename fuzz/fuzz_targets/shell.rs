//! Fuzz the shell path: any text as `sh -c TEXT` must classify without a panic escaping
//! the classifier.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: common::quiet_panics(), |data: &[u8]| {
    common::run(|| {
        let text = String::from_utf8_lossy(data);
        let _ = guard_classify::classify_shell(&text, &guard_classify::Context::builtin());
    });
});

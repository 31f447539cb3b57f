//! Fuzz `check --batch` input: exactly one JSON result per judged line, never a panic
//! that escapes the classifier.
#![no_main]

#[path = "common.rs"]
mod common;

use guard_classify::check::{Mode, run_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: common::quiet_panics(), |data: &[u8]| {
    common::run(|| {
        let mut out = Vec::new();
        let n = run_batch(data, &mut out, &guard_classify::Context::builtin(), Mode::Strict, true).expect("in-memory I/O");
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), n);
    });
});

//! Shared by the fuzz targets. brush-parser 0.4 panics on some inputs; the classifier
//! contains those panics (`catch_unwind` around parsing and evaluation, then the fallback
//! scanner), which is the behaviour under test. libfuzzer-sys's panic hook aborts on every
//! panic, caught or not, so a target would stop at the first contained one: `quiet_panics`
//! replaces that hook with one that only records the message, and `run` aborts (a crash
//! for libFuzzer, with the message) when a panic escapes the classifier.
//! (cargo-fuzz builds without `-Cpanic=abort`, so a panic does unwind to the
//! classifier's `catch_unwind`.)

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces libfuzzer-sys's aborting panic hook with one that records the panic.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
    }));
}

/// Runs one input; a panic the classifier did not contain is reported and aborts.
pub fn run(f: impl FnOnce()) {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    if std::panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        let msg = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
        eprintln!("uncontained panic: {msg}");
        std::process::abort();
    }
}

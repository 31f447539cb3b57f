//! Intent classification of command lines: what a command means, not what its binary is called.
//!
//! Pure and I/O-free: give it one exec's argv ([`classify_argv`]) or a shell line
//! ([`classify_shell`], as if run by `sh -c`) and a [`Context`] (protected paths, data
//! directories, sensitive files, trusted destinations), get back a [`Verdict`] listing every
//! destructive [`Intent`] found, each with a class from the fixed vocabulary
//! ([`IntentClass`]), a reason and the evidence. Shell text is parsed with brush-parser,
//! SQL with sqlparser; hostile input (huge, deeply nested) is bounded by work budgets and
//! degrades to a linear scan, never a panic or a hang.
//!
//! [`check`] implements the `guard-agent check` CLI contract over `Read`/`Write`.

pub mod check;
pub mod eval;
mod context;
mod engine;
mod fallback;
mod intent;
pub mod path;
mod quick;
mod shell;
mod tools;
mod words;

pub use context::Context;
pub use engine::{Wrapped, wrapped};
pub use intent::{Intent, IntentClass, UnknownClass, Verdict};
pub use tools::net::host_of;

use engine::{Engine, ShellState, Stdin};

/// Longest argv element or script examined; the rest is cut and the verdict marked degraded.
/// (Linux caps one argv string at 128 KiB and all of argv at a few MiB.)
pub const MAX_INPUT_BYTES: usize = 8 << 20;

/// Classifies one exec's argv as the kernel sees it (`argv[0]` may be a path). Bytes that
/// are not UTF-8 are replaced. Relative paths stay relative (cwd unknown).
#[must_use]
pub fn classify_argv<S: AsRef<[u8]>>(argv: &[S], ctx: &Context) -> Verdict {
    classify_argv_in(argv, None, ctx)
}

/// [`classify_argv`] for a process whose working directory is known, so relative
/// paths (`rm -rf *` in `/`) mean what they mean.
#[must_use]
pub fn classify_argv_in<S: AsRef<[u8]>>(argv: &[S], cwd: Option<&str>, ctx: &Context) -> Verdict {
    let mut degraded = false;
    let mut total = 0usize;
    let args: Vec<String> = argv
        .iter()
        .take(4096)
        .map(|a| {
            let b = a.as_ref();
            total += b.len();
            let b = if b.len() > MAX_INPUT_BYTES || total > 4 * MAX_INPUT_BYTES {
                degraded = true;
                &b[..b.len().min(MAX_INPUT_BYTES)]
            } else {
                b
            };
            String::from_utf8_lossy(b).into_owned()
        })
        .collect();
    degraded |= argv.len() > 4096;
    let mut eng = Engine::new(ctx);
    let mut st = ShellState { cwd: cwd.map(|c| path::normalize(c, None)), ..ShellState::default() };
    eng.run_argv(&args, &mut st, &Stdin::default());
    let mut v = eng.verdict;
    v.degraded |= degraded;
    v
}

/// Classifies a shell script as if a process ran `sh -c script`.
#[must_use]
pub fn classify_shell(script: &str, ctx: &Context) -> Verdict {
    classify_shell_in(script, None, ctx)
}

/// [`classify_shell`] with a known working directory.
#[must_use]
pub fn classify_shell_in(script: &str, cwd: Option<&str>, ctx: &Context) -> Verdict {
    let mut cut = script.len().min(MAX_INPUT_BYTES);
    while !script.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut eng = Engine::new(ctx);
    let mut st = ShellState { cwd: cwd.map(|c| path::normalize(c, None)), ..ShellState::default() };
    shell::run_script(&mut eng, &script[..cut], &mut st);
    let mut v = eng.verdict;
    v.degraded |= cut < script.len();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_entry_point_unwraps_wrappers() {
        let ctx = Context::builtin();
        let v = classify_argv(&["/usr/bin/sudo", "-u", "root", "env", "FOO=1", "nice", "-n", "10", "rm", "-rf", "/"], &ctx);
        assert!(v.has(IntentClass::BulkDelete));
        let v = classify_argv(&[b"bash".as_slice(), b"-c", b"cd / && rm -rf *"], &ctx);
        assert!(v.has(IntentClass::BulkDelete));
        assert!(classify_argv(&["ls", "-la", "/"], &ctx).is_benign());
        assert!(classify_argv::<&str>(&[], &ctx).is_benign());
    }

    #[test]
    fn cwd_gives_relative_paths_meaning() {
        let ctx = Context::builtin();
        assert!(classify_argv_in(&["rm", "-rf", "*"], Some("/"), &ctx).has(IntentClass::BulkDelete));
        assert!(classify_argv_in(&["rm", "-rf", "*"], Some("/srv/app/build"), &ctx).is_benign());
    }
}

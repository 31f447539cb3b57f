//! `cargo xtask eval` and `cargo xtask fuzz`: the classifier measured on the corpora,
//! and its fuzz targets run for a while.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{
    setup::Setup,
    util::{self, exec},
};

/// Options of `eval`.
#[derive(clap::Args)]
pub struct EvalOptions {
    /// The shared corpora (Atomic Red Team, NL2Bash); default ../shared/corpus.
    #[arg(long)]
    pub corpus_dir: Option<PathBuf>,
    /// Where the report and the flagged lines go.
    #[arg(long, default_value = "target/eval")]
    pub out: PathBuf,
}

/// Runs guard-eval: per-class precision/recall on the labelled corpus, atomics flagged
/// per technique, the NL2Bash flag rate (flagged lines written to OUT).
pub fn eval(setup: &Setup, opts: &EvalOptions) -> Result<()> {
    let root = util::workspace_root();
    let corpus = opts
        .corpus_dir
        .clone()
        .unwrap_or_else(|| root.join("../shared/corpus"));
    if !corpus.is_dir() {
        bail!("no corpus at {} (give --corpus-dir)", corpus.display());
    }
    exec(
        setup
            .cargo()
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "guard-classify",
                "--bin",
                "guard-eval",
                "--",
            ])
            .arg("--corpus-dir")
            .arg(&corpus)
            .arg("--out")
            .arg(root.join(&opts.out)),
    )
}

/// Options of `fuzz`.
#[derive(clap::Args)]
pub struct FuzzOptions {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Only these targets (default: every target `cargo fuzz list` names).
    #[arg(long = "target")]
    pub targets: Vec<String>,
}

/// What one target's run came to.
struct FuzzRun {
    target: String,
    executions: Option<u64>,
    /// Where libFuzzer wrote the input that crashed, timed out or ran out of memory.
    artifact: Option<String>,
    success: bool,
}

/// Installs cargo-fuzz into the cache (once) and runs every target for `seconds`, each
/// even if an earlier one found something; fails at the end if any target did.
pub fn fuzz(opts: &FuzzOptions) -> Result<()> {
    let root = util::workspace_root();
    let cache = util::cache_dir()?.join("cargo-fuzz");
    let bin = cache.join("bin/cargo-fuzz");
    if !bin.exists() {
        exec(
            Command::new("cargo")
                .args(["install", "cargo-fuzz", "--locked", "--root"])
                .arg(&cache),
        )?;
    }
    let targets = if opts.targets.is_empty() {
        let list = Command::new(&bin)
            .args(["list"])
            .current_dir(&root)
            .output()
            .context("cargo fuzz list")?;
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    } else {
        opts.targets.clone()
    };
    let mut runs = Vec::new();
    for t in &targets {
        util::note(format_args!("fuzzing {t} for {} s", opts.seconds));
        let (status, log) = tee_stderr(
            Command::new("rustup")
                .args(["run", "nightly"])
                .arg(&bin)
                .args([
                    "run",
                    t,
                    "--",
                    &format!("-max_total_time={}", opts.seconds),
                    "-max_len=1048576",
                    // One input must never take this long: the classifier is bounded.
                    "-timeout=30",
                    "-print_final_stats=1",
                ])
                .current_dir(&root),
        )?;
        runs.push(FuzzRun {
            target: t.clone(),
            executions: executions(&log),
            artifact: artifact(&log),
            success: status.success(),
        });
    }
    eprintln!("\n{:<8} {:>12}  result", "target", "executions");
    for r in &runs {
        let execs = r
            .executions
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        let result = match (&r.artifact, r.success) {
            (_, true) => "ok".to_owned(),
            (Some(a), false) => format!("FOUND: {a}"),
            (None, false) => "FAILED (no artifact; see the log above)".to_owned(),
        };
        eprintln!("{:<8} {execs:>12}  {result}", r.target);
    }
    let failed = runs.iter().filter(|r| !r.success).count();
    if failed > 0 {
        bail!(
            "{failed} of {} fuzz targets found a crash or failed",
            runs.len()
        );
    }
    Ok(())
}

/// Runs `cmd`, copying its stderr (where libFuzzer reports) to ours while capturing it.
fn tee_stderr(cmd: &mut Command) -> Result<(std::process::ExitStatus, String)> {
    use std::io::{BufRead as _, Write as _};
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    let mut log = String::new();
    let reader = std::io::BufReader::new(child.stderr.take().context("child stderr")?);
    let mut err = std::io::stderr().lock();
    for line in reader.split(b'\n') {
        let line = String::from_utf8_lossy(&line?).into_owned();
        writeln!(err, "{line}")?;
        log.push_str(&line);
        log.push('\n');
    }
    drop(err);
    Ok((child.wait()?, log))
}

/// libFuzzer's count of executed inputs (`-print_final_stats=1`).
fn executions(log: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The input libFuzzer saved for a crash, leak, timeout or out-of-memory.
fn artifact(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        l.split_once("Test unit written to ")
            .map(|(_, p)| p.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_libfuzzer_reports() {
        let log = "#1024 pulse\nstat::number_of_executed_units: 123456\nstat::peak_rss_mb: 80\n";
        assert_eq!(super::executions(log), Some(123_456));
        assert_eq!(super::artifact(log), None);
        let crash = "==1== ERROR: libFuzzer: deadly signal\nartifact_prefix='/w/fuzz/artifacts/shell/'; Test unit written to /w/fuzz/artifacts/shell/crash-da39\n";
        assert_eq!(
            super::artifact(crash).as_deref(),
            Some("/w/fuzz/artifacts/shell/crash-da39")
        );
    }
}

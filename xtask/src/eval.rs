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
}

/// Installs cargo-fuzz into the cache (once) and runs every target for `seconds`.
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
    let list = Command::new(&bin)
        .args(["list"])
        .current_dir(&root)
        .output()
        .context("cargo fuzz list")?;
    let targets = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    for t in targets.iter().filter(|t| !t.is_empty()) {
        util::note(format_args!("fuzzing {t} for {} s", opts.seconds));
        exec(
            Command::new("rustup")
                .args(["run", "nightly"])
                .arg(&bin)
                .args([
                    "run",
                    t,
                    "--",
                    &format!("-max_total_time={}", opts.seconds),
                    "-max_len=1048576",
                ])
                .current_dir(&root),
        )?;
    }
    Ok(())
}

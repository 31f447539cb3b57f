//! Developer tasks for guard, run as `cargo xtask <command>`.
//!
//! Every command except `setup` itself runs the idempotent, cached set-up first and
//! starts its children with bpf-linker on `PATH` (guard-agent's build.rs needs it).

mod bench;
mod bpf_linker;
mod build;
mod eval;
mod initramfs;
mod kernels;
mod qemu;
mod run;
mod setup;
mod syscall_tracing;
mod test;
mod test_bins;
mod totals;
mod util;
mod vm_image;
mod vm_report;
mod vm_systemd;
mod vm_test;

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

/// guard's developer tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what this machine lacks (rust-src, bpf-linker, qemu, kernels); cached.
    Setup,
    /// Build the release agent at target/release/guard-agent.
    Build,
    /// Build, then run `guard-agent run ARGS` as root.
    Run {
        /// Arguments for `guard-agent run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the tests on Debian's 6.1 and 6.12 kernels under qemu.
    VmTest(vm_test::Options),
    /// Install the .deb on a debootstrapped Debian with systemd (6.12, qemu) and check
    /// start, enforcement, restart after SIGKILL without a gap, reload and unload.
    VmSystemd,
    /// Run everything: unit, host integration and VM tests; print `N passed, N failed`.
    Test(vm_test::Options),
    /// Classifier precision/recall and corpus flag rates (../shared/corpus).
    Eval(eval::EvalOptions),
    /// Run the classifier's cargo-fuzz targets (installs cargo-fuzz once, cached).
    Fuzz(eval::FuzzOptions),
    /// Benchmarks (not part of `test`).
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
    /// Build packages: `package deb` builds the agent and then the .deb (target/debian).
    Package {
        #[command(subcommand)]
        kind: Package,
    },
    /// In the VM guest only (its `/init` starts it): keep the syscall tracepoints'
    /// probes registered until killed.
    #[command(hide = true)]
    GuestSyscallTracing,
}

#[derive(Subcommand, Debug)]
enum Package {
    /// The Debian package: binary, unit, default policy and config, man page, docs.
    Deb,
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    // The guest has no toolchain to set up.
    if let Command::GuestSyscallTracing = command {
        return syscall_tracing::hold().map(|never| match never {});
    }
    let setup = match setup::run() {
        Ok(setup) => setup,
        // `test` always ends with its totals line, even when it cannot start.
        Err(e) if matches!(command, Command::Test(_)) => {
            eprintln!("[xtask] FAILED: setup: {e:#}");
            println!("{}", totals::Totals::FAIL);
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e),
    };
    match command {
        Command::Setup => {
            for k in &setup.kernels {
                util::note(format_args!("kernel {}: {}", k.series, k.vmlinuz.display()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Build => build::agent(&setup).map(|_| ExitCode::SUCCESS),
        Command::Run { args } => run::run(&setup, &args).map(|()| ExitCode::SUCCESS),
        Command::VmTest(opts) => {
            let totals = vm_test::run(&setup, &opts)?;
            println!("{totals}");
            Ok(if totals.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::VmSystemd => {
            let agent = build::agent(&setup)?;
            let totals = vm_systemd::run(&setup, &agent)?;
            println!("{totals}");
            Ok(if totals.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Test(opts) => Ok(test::run(&setup, &opts)),
        Command::Bench { which } => bench::run(&setup, &which),
        Command::Eval(opts) => eval::eval(&setup, &opts).map(|()| ExitCode::SUCCESS),
        Command::Fuzz(opts) => eval::fuzz(&opts).map(|()| ExitCode::SUCCESS),
        Command::Package { kind: Package::Deb } => {
            let agent = build::agent(&setup)?;
            let script = util::workspace_root().join("deploy/debian/build-deb.sh");
            let status = std::process::Command::new(&script)
                .arg(&agent)
                .arg(util::target_dir().join("debian"))
                .status()
                .with_context(|| format!("running {}", script.display()))?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::GuestSyscallTracing => unreachable!("runs before the set-up"),
    }
}

//! `guard-agent policy validate FILE` and `guard-agent policy show [--policy FILE]`.

use std::{path::PathBuf, process::ExitCode};

use crate::enforce::{
    compile::compile,
    facts::{cgroup2_root, facts},
};

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate a policy file; every problem is listed with its line and column.
    Validate { file: PathBuf },
    /// Print the effective, compiled policy (the built-in one without --policy).
    Show {
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

pub fn policy(cmd: &PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Validate { file } => match guard_policy::load_file(file) {
            Ok(p) => {
                println!("{}: valid (policy {}, version {})", file.display(), p.name(), p.version_hash());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::from(1))
            }
        },
        PolicyCommand::Show { policy } => {
            let p = match policy {
                Some(f) => guard_policy::load_file(f)?,
                None => guard_policy::builtin(),
            };
            print!("{}", guard_policy::render(&p));
            let (f, notes) = facts(&p, &cgroup2_root());
            let c = compile(&f, guard_common::enforce::path::SIGNAL, 0)?;
            println!("# version: {}", p.version_hash());
            println!("# kernel: {} binaries with signatures, {} keywords, {} path entries, {} uid modes, {} cgroup modes", c.rules.len(), c.keywords.len(), c.paths.len(), c.uid_modes.len(), c.cgroup_modes.len());
            for n in notes {
                println!("# note: {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

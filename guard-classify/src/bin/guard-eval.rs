//! `guard-eval`: measures the classifier on the labelled corpus (precision/recall per
//! class), the Atomic Red Team Linux atomics (share flagged per technique) and NL2Bash
//! (flag rate; every flagged line written to OUT/nl2bash-flagged.txt).
//! Exits 1 when labelled precision or recall is below 0.97.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use guard_classify::eval::{parse_atomics, parse_labelled, score};
use guard_classify::{Context, classify_shell};

/// Threshold for precision and recall on the labelled corpus.
const TARGET: f64 = 0.97;

#[derive(Parser)]
#[command(about = "Evaluate guard-classify on the labelled and public corpora")]
struct Args {
    /// The shared public corpus directory (atomic-red-team/, nl2bash/).
    #[arg(long)]
    corpus_dir: PathBuf,
    /// Output directory for reports.
    #[arg(long)]
    out: PathBuf,
    /// Labelled corpus (defaults to the one in this crate).
    #[arg(long)]
    labelled: Option<PathBuf>,
    /// Print every labelled mistake.
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("guard-eval: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let args = Args::parse();
    let ctx = Context::builtin();
    std::fs::create_dir_all(&args.out)?;
    let mut report = String::new();

    let labelled_path = args.labelled.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/labelled.tsv"));
    let corpus = parse_labelled(&std::fs::read_to_string(&labelled_path)?)?;
    let s = score(&corpus, &ctx);
    let positives = corpus.iter().filter(|l| !l.expected.is_empty()).count();
    report += &format!("== labelled corpus {} ({} lines: {} destructive, {} benign)\n", labelled_path.display(), corpus.len(), positives, corpus.len() - positives);
    report += &format!("{:<20} {:>5} {:>5} {:>5} {:>9} {:>7}\n", "class", "tp", "fp", "fn", "precision", "recall");
    for (c, n) in &s.per_class {
        report += &format!("{:<20} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}\n", c.as_str(), n.tp, n.fp, n.fn_, n.precision(), n.recall());
    }
    report += &format!("{:<20} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}\n", "micro (all classes)", s.micro.tp, s.micro.fp, s.micro.fn_, s.micro.precision(), s.micro.recall());
    report += &format!("{:<20} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}\n", "decision (any)", s.decision.tp, s.decision.fp, s.decision.fn_, s.decision.precision(), s.decision.recall());
    for (l, got) in &s.mistakes {
        if args.verbose || s.mistakes.len() <= 30 {
            report += &format!("  mistake line {}: expected {:?} got {:?}: {}\n", l.line, l.expected, got, l.command);
        }
    }
    let pass = [s.micro.precision(), s.micro.recall(), s.decision.precision(), s.decision.recall()].iter().all(|x| *x >= TARGET);

    // Atomic Red Team.
    let atomics_dir = args.corpus_dir.join("atomic-red-team/atomics");
    let mut per_tech: BTreeMap<String, (String, usize, usize)> = BTreeMap::new();
    let mut atomics_log = String::new();
    if atomics_dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&atomics_dir)?.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for dir in files {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let yaml = dir.join(format!("{name}.yaml"));
            let Ok(text) = std::fs::read_to_string(&yaml) else { continue };
            for case in parse_atomics(&text)? {
                let v = classify_shell(&case.command, &ctx);
                let e = per_tech.entry(case.technique.clone()).or_insert((case.technique_name.clone(), 0, 0));
                e.1 += 1;
                e.2 += usize::from(!v.is_benign());
                let classes: Vec<&str> = v.classes().iter().map(|c| c.as_str()).collect();
                atomics_log += &format!("{}\t{}\t{}\t{}\n", case.technique, if v.is_benign() { "-" } else { "FLAGGED" }, classes.join(","), case.name);
            }
        }
    }
    std::fs::write(args.out.join("atomics.tsv"), &atomics_log)?;
    let (tot, hit) = per_tech.values().fold((0, 0), |a, v| (a.0 + v.1, a.1 + v.2));
    report += &format!("\n== Atomic Red Team linux sh/bash atomics: {hit}/{tot} flagged ({:.1}%)\n", pct(hit, tot));
    for (t, (name, n, h)) in &per_tech {
        report += &format!("{t:<10} {h:>3}/{n:<3} {:>6.1}%  {name}\n", pct(*h, *n));
    }

    // NL2Bash.
    let nl = args.corpus_dir.join("nl2bash/data/bash/all.cm");
    if let Ok(text) = std::fs::read_to_string(&nl) {
        let mut flagged = std::fs::File::create(args.out.join("nl2bash-flagged.txt"))?;
        let mut total = 0;
        let mut hits = 0;
        let mut by_class: BTreeMap<&'static str, usize> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            total += 1;
            let v = classify_shell(line, &ctx);
            if !v.is_benign() {
                hits += 1;
                let classes: Vec<&str> = v.classes().iter().map(|c| c.as_str()).collect();
                for c in &classes {
                    *by_class.entry(c).or_default() += 1;
                }
                writeln!(flagged, "{}\t{}\t{}", classes.join(","), v.intents[0].reason, line)?;
            }
        }
        report += &format!("\n== NL2Bash: {hits}/{total} lines flagged ({:.2}%), list in {}\n", pct(hits, total), args.out.join("nl2bash-flagged.txt").display());
        for (c, n) in by_class {
            report += &format!("  {c:<20} {n}\n");
        }
    }

    report += &format!("\nlabelled targets (precision and recall >= {TARGET}): {}\n", if pass { "PASS" } else { "FAIL" });
    print!("{report}");
    std::fs::write(args.out.join("report.txt"), &report)?;
    Ok(pass)
}

#[expect(clippy::cast_precision_loss, reason = "corpus counts are far below 2^52")]
fn pct(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 }
}

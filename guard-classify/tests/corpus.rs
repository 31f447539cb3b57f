//! The labelled corpus meets the precision and recall targets, per class and overall.

use guard_classify::Context;
use guard_classify::eval::{parse_labelled, score};

const TARGET: f64 = 0.97;

#[test]
fn labelled_corpus_meets_targets() {
    let text = include_str!("../corpus/labelled.tsv");
    let corpus = parse_labelled(text).expect("corpus parses");
    let positives = corpus.iter().filter(|l| !l.expected.is_empty()).count();
    assert!(corpus.len() >= 400, "corpus has {} lines", corpus.len());
    assert!(positives * 2 >= corpus.len() * 9 / 10 && positives * 2 <= corpus.len() * 11 / 10, "about half destructive");
    let s = score(&corpus, &Context::builtin());
    for (class, counts) in &s.per_class {
        assert!(counts.tp >= 20, "{class}: only {} positives", counts.tp + counts.fn_);
    }
    let mistakes: Vec<String> = s.mistakes.iter().map(|(l, got)| format!("line {}: expected {:?} got {:?}: {}", l.line, l.expected, got, l.command)).collect();
    assert!(s.micro.precision() >= TARGET && s.micro.recall() >= TARGET, "micro P={:.3} R={:.3}\n{}", s.micro.precision(), s.micro.recall(), mistakes.join("\n"));
    assert!(s.decision.precision() >= TARGET && s.decision.recall() >= TARGET, "decision P={:.3} R={:.3}", s.decision.precision(), s.decision.recall());
}

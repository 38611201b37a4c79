//! Every message of the shared corpus (`../shared/corpus`, beside the project) through
//! `mailroom replay --dry-run`: no panic, no `error`, and every reply subject one clean
//! line. Prints the count of each decision and reason. Skipped, saying so, when the
//! corpus is not there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.is_dir().then_some(dir)
}

/// Replays the corpus with `config` and returns one JSON object per message.
fn replay(corpus: &PathBuf, config: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("mailroom.toml");
    std::fs::write(&config_path, config).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(["replay", "--dry-run", "--json", "--config"])
        .arg(&config_path)
        .arg("--state")
        .arg(dir.path().join("state"))
        .arg(corpus)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        out.status.code() == Some(0),
        "replay exited {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    println!("replayed {} messages in {:.2?}", lines.len(), elapsed);
    lines
}

fn report(title: &str, lines: &[Value]) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines {
        let key = match line["reason"].as_str() {
            Some(reason) => format!("{} {reason}", line["decision"].as_str().unwrap()),
            None => line["decision"].as_str().unwrap().to_string(),
        };
        *counts.entry(key).or_default() += 1;
    }
    println!("{title}:");
    for (key, count) in counts {
        println!("  {count:>4}  {key}");
    }
}

fn check(lines: &[Value]) {
    for line in lines {
        assert_ne!(line["decision"], "error", "{line}");
        if line["decision"] == "reply" {
            let subject = line["subject"].as_str().unwrap();
            assert!(!subject.chars().any(char::is_control), "{line}");
            assert!(!line["to"].as_str().unwrap().is_empty(), "{line}");
        }
    }
}

#[test]
fn corpus_replays_without_panic_or_error() {
    let Some(corpus) = corpus() else {
        println!("skipped: ../shared/corpus is not there, so the corpus test did not run");
        return;
    };
    let expected = mailroom::replay::files(std::slice::from_ref(&corpus))
        .unwrap()
        .len();
    assert!(expected >= 100, "the corpus has only {expected} files");

    // As deployed: only mail addressed to us is answered, so most of the corpus is
    // skipped as not-addressed.
    let lines = replay(&corpus, "");
    assert!(lines.len() >= expected);
    check(&lines);
    report("default configuration", &lines);

    // With the addressing rule off, every other rule and the composer see every message.
    let lines = replay(&corpus, "disabled_rules = [\"not-addressed\"]\n");
    check(&lines);
    report("not-addressed switched off", &lines);
    assert!(lines.iter().any(|l| l["decision"] == "reply"));
}

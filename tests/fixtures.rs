//! Golden tests: every message in `fixtures/mail/` has a `.json` beside it holding what we
//! extract from it and what we decide, with the exact reply headers.
//!
//! The folder is replayed in name order through one ledger, as `mailroom replay` would,
//! so fixtures that depend on an earlier one (a second copy, the same sender again) see
//! it. A mismatch writes `<name>.actual.json` beside the fixture and the test fails naming
//! it; `MAILROOM_BLESS=1` writes the goldens instead, for review in the diff.

use std::path::{Path, PathBuf};

use mailroom::config::Config;
use mailroom::ledger::local::FileLedger;
use mailroom::mailer::outbox::Outbox;
use mailroom::message;
use mailroom::pipeline::Pipeline;
use mailroom::replay;
use serde_json::{Value, json};

/// A fixed clock, so reply Date headers are part of the golden output.
const NOW: u64 = 1_715_000_000;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail")
}

/// The reply's header section as a list of unfolded lines.
fn header_lines(mime: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(mime);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_fixture_matches_its_golden_file() {
    let files = replay::files(&[fixture_dir()]).unwrap();
    assert!(
        files.len() >= 30,
        "expected the fixture set, found {} files",
        files.len()
    );

    let state = tempfile::tempdir().unwrap();
    let outbox_dir = state.path().join("outbox");
    let ledger = FileLedger::open(&state.path().join("ledger.redb")).unwrap();
    let outbox = Outbox::new(&outbox_dir);
    let pipeline = Pipeline::new(Config::default(), ledger, outbox.clone(), false);
    let bless = std::env::var_os("MAILROOM_BLESS").is_some();
    let mut mismatches = Vec::new();

    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = pipeline.process(&name, &raw, NOW).await.unwrap();

        let parsed = match message::parse(&raw) {
            Ok(inbound) => json!({
                "identity": message::identity(&inbound, &raw),
                "fields": inbound,
            }),
            Err(message::Unparseable(why)) => json!({ "unparseable": why }),
        };
        let reply_headers = outcome.to.as_ref().map(|_| {
            let path = std::fs::read_dir(&outbox_dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
                .unwrap();
            header_lines(&std::fs::read(path).unwrap())
        });
        let actual = json!({
            "parsed": parsed,
            "decision": outcome.decision,
            "reason": outcome.reason,
            "detail": outcome.detail,
            "to": outcome.to,
            "subject": outcome.subject,
            "reply_headers": reply_headers,
        });

        let golden = file.with_extension("json");
        let actual_path = file.with_extension("actual.json");
        let pretty = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        if bless {
            std::fs::write(&golden, &pretty).unwrap();
            continue;
        }
        let expected: Option<Value> = std::fs::read_to_string(&golden)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        if expected.as_ref() == Some(&actual) {
            let _ = std::fs::remove_file(&actual_path);
        } else {
            std::fs::write(&actual_path, &pretty).unwrap();
            mismatches.push(actual_path.display().to_string());
        }
    }

    assert!(
        mismatches.is_empty(),
        "{} fixtures differ from their golden .json; compare:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

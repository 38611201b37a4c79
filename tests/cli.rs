//! The `mailroom` command line, run as a user runs it: the replay contract (JSON lines,
//! table, exit codes), the outbox it leaves, and `explain`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn mailroom(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the mailroom binary runs")
}

/// Runs `mailroom replay --state STATE ARGS...`.
fn replay(state: &Path, args: &[&str]) -> Output {
    let state = state.display().to_string();
    let mut all = vec!["replay", "--state", state.as_str()];
    all.extend_from_slice(args);
    mailroom(&all)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

fn outbox_files(state: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(state.join("outbox"))
        .map(|dir| dir.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn golden(name: &str) -> Value {
    let path = fixtures().join(name).with_extension("json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn replay_json_has_one_object_per_message_with_the_contract_keys() {
    let state = tempfile::tempdir().unwrap();
    let out = replay(state.path(), &["--json", &fixtures().display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let lines = json_lines(&out);
    let messages = mailroom::replay::files(&[fixtures()]).unwrap().len();
    assert_eq!(lines.len(), messages);
    for line in &lines {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "decision",
                "message_id",
                "reason",
                "source",
                "subject",
                "to"
            ]
        );
        let name = Path::new(line["source"].as_str().unwrap())
            .file_name()
            .unwrap();
        let expected = golden(&name.to_string_lossy());
        assert_eq!(line["decision"], expected["decision"], "{line}");
        assert_eq!(line["reason"], expected["reason"], "{line}");
        assert_eq!(line["to"], expected["to"], "{line}");
        assert_eq!(line["subject"], expected["subject"], "{line}");
    }

    let replies = lines.iter().filter(|l| l["decision"] == "reply").count();
    assert_eq!(outbox_files(state.path()).len(), replies);
}

#[test]
fn reply_in_the_outbox_has_exactly_the_intended_headers() {
    let state = tempfile::tempdir().unwrap();
    let out = replay(state.path(), &[&fixture("plain.eml")]);
    assert!(out.status.success());

    let files = outbox_files(state.path());
    assert_eq!(files.len(), 1);
    let mime = String::from_utf8(std::fs::read(&files[0]).unwrap()).unwrap();
    let (head, body) = mime.split_once("\r\n\r\n").unwrap();
    let names: Vec<&str> = head
        .split("\r\n")
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "X-Auto-Response-Suppress",
            "X-Loop",
            "In-Reply-To",
            "References",
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding"
        ]
    );
    assert!(head.contains("\r\nTo: <jane@example.org>\r\n"));
    assert!(head.contains("\r\nSubject: Auto: Question about my order\r\n"));
    assert!(head.contains("\r\nAuto-Submitted: auto-replied\r\n"));
    assert!(head.contains("\r\nIn-Reply-To: <plain-1@mail.example.org>\r\n"));
    assert!(
        !body.contains("I have a question"),
        "the inbound body must not be echoed"
    );
}

#[test]
fn second_replay_sends_nothing_new() {
    let state = tempfile::tempdir().unwrap();
    let dir = fixtures().display().to_string();
    assert!(replay(state.path(), &[&dir]).status.success());
    let first: Vec<(PathBuf, Vec<u8>)> = outbox_files(state.path())
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    assert!(!first.is_empty());

    let out = replay(state.path(), &["--json", &dir]);
    assert!(out.status.success());
    for line in json_lines(&out) {
        assert_eq!(line["decision"], "skip", "{line}");
        // Unreadable bytes are judged before the ledger is asked, so they keep their
        // reason; everything else is now a duplicate.
        let expected = if line["source"]
            .as_str()
            .unwrap()
            .ends_with("unparseable.eml")
        {
            "unparseable"
        } else {
            "duplicate"
        };
        assert_eq!(line["reason"], expected, "{line}");
    }
    let second: Vec<(PathBuf, Vec<u8>)> = outbox_files(state.path())
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(first, second);
}

#[test]
fn dry_run_decides_but_records_and_sends_nothing() {
    let state = tempfile::tempdir().unwrap();
    let plain = fixture("plain.eml");
    for _ in 0..2 {
        let out = replay(state.path(), &["--dry-run", "--json", &plain]);
        assert!(out.status.success());
        assert_eq!(json_lines(&out)[0]["decision"], "reply");
    }
    assert!(outbox_files(state.path()).is_empty());
}

#[test]
fn table_output_ends_with_a_summary_line() {
    let state = tempfile::tempdir().unwrap();
    let out = replay(state.path(), &[&fixture("plain.eml"), &fixture("list.eml")]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("RESULT"), "{stdout}");
    assert!(stdout.contains("skip   list"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with(&format!(
            "2 messages: 1 replied, 1 skipped, 0 failed; replies in {}",
            state.path().join("outbox").display()
        )),
        "{stdout}"
    );
}

#[test]
fn mbox_file_is_replayed_message_by_message() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox.mbox");
    let mut text = String::new();
    for name in ["plain.eml", "list.eml"] {
        let raw = std::fs::read_to_string(fixtures().join(name)).unwrap();
        text.push_str("From sender@example.org Mon May  6 10:00:00 2024\n");
        text.push_str(&raw.replace("\r\n", "\n"));
    }
    std::fs::write(&mbox, text).unwrap();
    let out = replay(
        &dir.path().join("state"),
        &["--json", &mbox.display().to_string()],
    );
    let lines = json_lines(&out);
    let decisions: Vec<&str> = lines
        .iter()
        .map(|l| l["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["reply", "skip"]);
    assert!(
        lines[1]["source"]
            .as_str()
            .unwrap()
            .ends_with("inbox.mbox#2")
    );
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "reply_window_days = 0\n").unwrap();
    let out = mailroom(&[
        "replay",
        "--config",
        &config.display().to_string(),
        &fixture("plain.eml"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("reply_window_days"), "{stderr}");
}

#[test]
fn missing_path_and_bad_usage_exit_2() {
    assert_eq!(
        mailroom(&["replay", "/nonexistent/mail"]).status.code(),
        Some(2)
    );
    assert_eq!(mailroom(&["replay"]).status.code(), Some(2));
    assert_eq!(mailroom(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn failed_send_exits_1_and_says_error() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("outbox"),
        "a file where the outbox folder belongs",
    )
    .unwrap();
    let out = replay(state.path(), &["--json", &fixture("plain.eml")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["decision"], "error");
}

#[test]
fn explain_lists_every_rule_and_the_deciding_one() {
    let out = mailroom(&["explain", &fixture("list.eml")]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for rule in mailroom::policy::rule_names() {
        assert!(stdout.contains(rule), "{rule} missing from:\n{stdout}");
    }
    assert!(
        stdout.contains("decision: skip (list), decided by rule list"),
        "{stdout}"
    );
}

#[test]
fn unparseable_and_truncated_messages_do_not_abort_the_run() {
    let state = tempfile::tempdir().unwrap();
    let out = replay(
        state.path(),
        &[
            "--json",
            &fixture("unparseable.eml"),
            &fixture("truncated-headers.eml"),
            &fixture("plain.eml"),
        ],
    );
    assert!(out.status.success());
    let reasons: Vec<Value> = json_lines(&out)
        .iter()
        .map(|l| l["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        [
            Value::from("unparseable"),
            Value::from("not-addressed"),
            Value::Null
        ]
    );
}

#[test]
fn hourly_ceiling_stops_replies_across_senders() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ceiling.toml");
    std::fs::write(&config, "max_replies_per_hour = 2\n").unwrap();
    let out = replay(
        &dir.path().join("state"),
        &[
            "--config",
            &config.display().to_string(),
            "--json",
            &fixture("plain.eml"),
            &fixture("html.eml"),
            &fixture("attachment.eml"),
        ],
    );
    let lines = json_lines(&out);
    let decisions: Vec<(&str, Option<&str>)> = lines
        .iter()
        .map(|l| (l["decision"].as_str().unwrap(), l["reason"].as_str()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("reply", None),
            ("reply", None),
            ("skip", Some("rate-limited"))
        ]
    );
}

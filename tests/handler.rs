//! The Lambda handler over the local adapters: each event in `fixtures/events/` against a
//! folder standing in for the bucket, the embedded ledger and the outbox.

use std::path::{Path, PathBuf};

use mailroom::config::Config;
use mailroom::handler::{self, Response};
use mailroom::ledger::local::FileLedger;
use mailroom::mailer::outbox::Outbox;
use mailroom::pipeline::Pipeline;
use mailroom::store::local::FileStore;

const BUCKET: &str = "mailroom-inbox";

/// Each event fixture and the decoded key of each of its records (`None`: ignored).
const EVENTS: &[(&str, &[Option<&str>])] = &[
    (
        "put-plus-and-encoded-plus.json",
        &[Some("inbound/2024 05 06/msg+one")],
    ),
    (
        "put-non-ascii-key.json",
        &[Some("inbound/café crème ☕.eml")],
    ),
    (
        "put-two-records.json",
        &[
            Some("inbound/first message"),
            Some("inbound/second%message"),
        ],
    ),
    ("ses-setup-notification.json", &[None]),
    ("outside-prefix.json", &[None]),
    ("s3-test-event.json", &[None]),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn event(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("events").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Rig {
    dir: tempfile::TempDir,
    store: FileStore,
    pipeline: Pipeline<FileLedger, Outbox>,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("s3"));
    let ledger = FileLedger::open(&dir.path().join("state/ledger.redb")).unwrap();
    let outbox = Outbox::new(dir.path().join("state/outbox"));
    let pipeline = Pipeline::new(Config::default(), ledger, outbox, false);
    Rig {
        dir,
        store,
        pipeline,
    }
}

impl Rig {
    /// Stores a fixture message under `key`, with its Message-ID made unique to the key
    /// so that two objects are two messages.
    fn put(&self, key: &str, fixture: &str) {
        let raw = std::fs::read_to_string(fixtures().join("mail").join(fixture)).unwrap();
        let raw = raw.replace(
            "<plain-1@mail.example.org>",
            &format!("<{}@test>", key.len()),
        );
        let path = self.dir.path().join("s3").join(BUCKET).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, raw).unwrap();
    }

    fn outbox_len(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("state/outbox")).map_or(0, |d| d.count())
    }

    async fn deliver(&self, name: &str) -> Response {
        handler::handle(&event(name), &self.store, &self.pipeline)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn each_event_fixture_decodes_its_keys_and_is_handled() {
    for (name, keys) in EVENTS {
        let rig = rig();
        let mut sender = 0;
        for key in keys.iter().flatten() {
            sender += 1;
            rig.put(key, "plain.eml");
            // Distinct senders, so the reply window does not hide the second record.
            let path = rig.dir.path().join("s3").join(BUCKET).join(key);
            let raw = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, raw.replace("jane@", &format!("jane{sender}@"))).unwrap();
        }

        let response = rig.deliver(name).await;
        assert_eq!(response.results.len(), keys.len(), "{name}");
        for (result, key) in response.results.iter().zip(keys.iter()) {
            match key {
                Some(key) => {
                    assert_eq!(
                        result.object.as_deref(),
                        Some(&*format!("s3://{BUCKET}/{key}"))
                    );
                    assert_eq!(result.outcome, "reply", "{name}: {result:?}");
                }
                None => {
                    assert_eq!(result.outcome, "ignored", "{name}: {result:?}");
                    assert_eq!(result.reason.as_deref(), Some("not-mail"));
                }
            }
        }
        let replies = keys.iter().flatten().count();
        assert_eq!(rig.outbox_len(), replies, "{name}");

        let again = rig.deliver(name).await;
        for result in again.results.iter().filter(|r| r.outcome != "ignored") {
            assert_eq!(
                result.reason.as_deref(),
                Some("duplicate"),
                "{name}: {result:?}"
            );
        }
        assert_eq!(rig.outbox_len(), replies, "{name}: a redelivery sent again");
    }
}

#[tokio::test]
async fn missing_object_is_a_permanent_error_and_the_invocation_succeeds() {
    let rig = rig();
    let response = rig.deliver("put-plus-and-encoded-plus.json").await;
    assert_eq!(response.results[0].outcome, "error");
}

#[tokio::test]
async fn oversized_object_is_skipped_unread() {
    let rig = rig();
    let key = "inbound/2024 05 06/msg+one";
    let path = rig.dir.path().join("s3").join(BUCKET).join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let config = Config {
        max_message_bytes: 1024,
        ..Config::default()
    };
    let ledger = FileLedger::open(&rig.dir.path().join("big.redb")).unwrap();
    let pipeline = Pipeline::new(config, ledger, Outbox::new(rig.dir.path().join("o")), false);
    let event = event("put-plus-and-encoded-plus.json");
    let response = handler::handle(&event, &rig.store, &pipeline)
        .await
        .unwrap();
    assert_eq!(response.results[0].reason.as_deref(), Some("too-large"));
}

#[tokio::test]
async fn retryable_failure_fails_the_invocation() {
    let rig = rig();
    rig.put("inbound/2024 05 06/msg+one", "plain.eml");
    std::fs::create_dir_all(rig.dir.path().join("state")).unwrap();
    std::fs::write(rig.dir.path().join("state/outbox"), "not a folder").unwrap();
    let event = event("put-plus-and-encoded-plus.json");
    let error = handler::handle(&event, &rig.store, &rig.pipeline)
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("outbox"), "{error}");
}

#[tokio::test]
async fn payload_that_is_not_an_s3_event_is_an_error() {
    let rig = rig();
    let payload = serde_json::json!({"detail-type": "something else"});
    assert!(
        handler::handle(&payload, &rig.store, &rig.pipeline)
            .await
            .is_err()
    );
}

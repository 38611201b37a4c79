//! Fault injection around the send: whatever fails after SES (here, the outbox) accepted
//! a reply, no later delivery sends it again, and a reply that was not sent leaves the
//! sender free to be answered.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use mailroom::config::Config;
use mailroom::error::{Error, Retry};
use mailroom::ledger::local::FileLedger;
use mailroom::ledger::{Claim, LEASE_SECS, Ledger, State};
use mailroom::mailer::Mailer;
use mailroom::mailer::outbox::Outbox;
use mailroom::pipeline::{Pipeline, Verdict};
use mailroom::reply::Reply;

const NOW: u64 = 1_715_000_000;

fn plain() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail/plain.eml");
    std::fs::read(path).unwrap()
}

fn ledger_error(operation: &str) -> Error {
    Error::Ledger {
        operation: operation.to_string(),
        message: "injected fault".to_string(),
        retry: Retry::Retryable,
    }
}

/// The embedded ledger, with a switch that makes settling a message as sent fail.
struct Faulty {
    inner: FileLedger,
    fail_sent: AtomicBool,
}

impl Ledger for Faulty {
    async fn claim(&self, key: &str, source: &str, now: u64) -> Result<Claim, Error> {
        self.inner.claim(key, source, now).await
    }
    async fn peek(&self, key: &str, now: u64) -> Result<Option<State>, Error> {
        self.inner.peek(key, now).await
    }
    async fn settle(&self, key: &str, state: State) -> Result<(), Error> {
        if matches!(state, State::Sent { .. }) && self.fail_sent.load(Ordering::SeqCst) {
            return Err(ledger_error("settling"));
        }
        self.inner.settle(key, state).await
    }
    async fn last_reply(&self, sender: &str, now: u64) -> Result<Option<u64>, Error> {
        self.inner.last_reply(sender, now).await
    }
    async fn reserve_reply(&self, sender: &str, at: u64, expires: u64) -> Result<bool, Error> {
        self.inner.reserve_reply(sender, at, expires).await
    }
    async fn release_reply(&self, sender: &str, at: u64) -> Result<(), Error> {
        self.inner.release_reply(sender, at).await
    }
    async fn replies_in_hour(&self, hour: u64) -> Result<u64, Error> {
        self.inner.replies_in_hour(hour).await
    }
    async fn reserve_hour(&self, hour: u64, max: u64) -> Result<bool, Error> {
        self.inner.reserve_hour(hour, max).await
    }
    async fn release_hour(&self, hour: u64) -> Result<(), Error> {
        self.inner.release_hour(hour).await
    }
}

/// A mailer that refuses every reply, as SES does when the sender is not verified.
struct Refusing;

impl Mailer for Refusing {
    async fn send(&self, reply: &Reply) -> Result<String, Error> {
        Err(Error::Mailer {
            operation: format!("sending reply {}", reply.message_id),
            message: "MessageRejected (injected)".to_string(),
            retry: Retry::Retryable,
        })
    }
}

#[tokio::test]
async fn reply_sent_but_not_recorded_is_not_sent_again_by_a_later_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Faulty {
        inner: FileLedger::open(&dir.path().join("ledger.redb")).unwrap(),
        fail_sent: AtomicBool::new(true),
    };
    let outbox = dir.path().join("outbox");
    let pipeline = Pipeline::new(Config::default(), ledger, Outbox::new(&outbox), false);

    // The send succeeds and recording it fails: the invocation must still succeed, or
    // Lambda's retry would send again.
    let first = pipeline.process("a.eml", &plain(), NOW).await.unwrap();
    assert_eq!(first.decision, Verdict::Reply);
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);

    // The claim expires; a redelivery takes the message and finds its sender answered.
    pipeline.ledger().fail_sent.store(false, Ordering::SeqCst);
    let later = NOW + LEASE_SECS + 1;
    let second = pipeline.process("a.eml", &plain(), later).await.unwrap();
    assert_eq!(second.decision, Verdict::Skip, "{second:?}");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1, "sent twice");
}

#[tokio::test]
async fn refused_send_releases_the_sender_and_the_hour() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = FileLedger::open(&dir.path().join("ledger.redb")).unwrap();
    let pipeline = Pipeline::new(Config::default(), ledger, Refusing, false);

    let error = pipeline.process("a.eml", &plain(), NOW).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");

    let ledger = pipeline.ledger();
    assert_eq!(
        ledger.last_reply("jane@example.org", NOW).await.unwrap(),
        None
    );
    let hour = mailroom::ledger::hour_of(NOW);
    assert_eq!(ledger.replies_in_hour(hour).await.unwrap(), 0);
    let state = ledger
        .peek("mid:plain-1@mail.example.org", NOW)
        .await
        .unwrap();
    assert!(matches!(state, Some(State::Failed { .. })), "{state:?}");
}

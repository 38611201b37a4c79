//! The deployed path, offline: the handler over the S3 store, the DynamoDB ledger and the
//! SES mailer, against moto (see scripts/test).
//!
//! Every test makes its own bucket and table, so they run in parallel against one moto;
//! sent mail is found by the SES message id the ledger records. Without an emulator they
//! say they were skipped and pass, unless `MAILROOM_REQUIRE_EMULATOR=1`.

mod common;

use common::*;
use mail_builder::headers::date::Date;
use mailroom::aws::AwsClients;
use mailroom::config::Config;
use mailroom::handler::{self, Response};
use mailroom::ledger::dynamodb::DynamoLedger;
use mailroom::ledger::local::FileLedger;
use mailroom::ledger::{Claim, LEASE_SECS, Ledger, MESSAGE_RETENTION_SECS, State};
use mailroom::mailer::ses::SesMailer;
use mailroom::message;
use mailroom::pipeline::{Pipeline, now};
use mailroom::policy::Reason;
use mailroom::store::s3::S3Store;
use mailroom::store::{Fetched, ObjectStore};
use serde_json::Value;

/// The handler wired as the function wires it, over one fresh bucket and table.
struct Rig {
    endpoint: String,
    clients: AwsClients,
    counter: Counter,
    bucket: String,
    table: String,
    store: S3Store,
    pipeline: Pipeline<DynamoLedger, SesMailer>,
}

async fn rig(endpoint: &str, tag: &str, config: Config) -> Rig {
    let (clients, counter) = counted_clients(endpoint).await;
    let setup = AwsClients::new(&sdk_config(endpoint).await, &[]);
    let bucket = unique(tag);
    let table = unique(tag);
    create_resources(&setup, &bucket, &table).await;
    let config = Config {
        table: Some(table.clone()),
        ..config
    };
    let ledger = DynamoLedger::new(clients.dynamodb.clone(), &table);
    let mailer = SesMailer::new(clients.ses.clone(), &config);
    Rig {
        endpoint: endpoint.to_string(),
        store: S3Store::new(clients.s3.clone()),
        pipeline: Pipeline::new(config, ledger, mailer, false),
        clients,
        counter,
        bucket,
        table,
    }
}

impl Rig {
    async fn put(&self, key: &str, body: Vec<u8>) -> Value {
        let size = body.len();
        put_object(&self.clients, &self.bucket, key, body).await;
        s3_event(&self.bucket, key, size)
    }

    async fn deliver(&self, event: &Value) -> Result<Response, mailroom::Error> {
        handler::handle(event, &self.store, &self.pipeline).await
    }

    async fn item(&self, pk: &str) -> Option<std::collections::BTreeMap<String, String>> {
        ledger_item(&self.clients, &self.table, pk).await
    }
}

/// A key that only survives if it is decoded exactly once and correctly: a space, a
/// plus, a percent sign and non-ASCII letters.
fn awkward_key(n: usize, name: &str) -> String {
    format!("inbound/2024 05 06/{n:02}+msg 100% ünï ☕ {name}")
}

fn number(item: &std::collections::BTreeMap<String, String>, name: &str) -> Option<u64> {
    item.get(name)?.strip_prefix("N:")?.parse().ok()
}

/// The Date header the composer writes for each second in `from..=to`.
fn dates_between(from: u64, to: u64) -> Vec<String> {
    (from..=to)
        .map(|t| format!("Date: {}", Date::new(t as i64).to_rfc822()))
        .collect()
}

#[tokio::test]
async fn every_fixture_through_s3_dynamodb_and_ses_matches_its_golden_file_once() {
    let test = "every_fixture_through_s3_dynamodb_and_ses_matches_its_golden_file_once";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let rig = rig(&endpoint, "fixtures", Config::default()).await;

    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    // Name order through one ledger, as the golden files were made: a second copy and
    // the same sender again come after the message they depend on.
    names.sort();
    assert!(names.len() >= 30, "found only {} fixtures", names.len());

    let mut failures = Vec::new();
    for (n, name) in names.iter().enumerate() {
        if let Err(why) = check_fixture(&rig, n, name).await {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

/// One fixture: delivered once, checked against its golden file, the ledger and SES;
/// delivered again, checked to send nothing and change nothing.
async fn check_fixture(rig: &Rig, n: usize, name: &str) -> Result<(), String> {
    let golden_path = fixture_dir().join(name.replace(".eml", ".json"));
    let golden: Value = std::fs::read_to_string(&golden_path)
        .map_err(|e| format!("no golden file {}: {e}", golden_path.display()))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))?;
    let raw = fixture(name);
    let key = awkward_key(n, name);
    let source = format!("s3://{}/{key}", rig.bucket);
    let event = rig.put(&key, raw.clone()).await;

    let sends = rig.counter.len();
    let t0 = now();
    let response = rig.deliver(&event).await.map_err(|e| e.to_string())?;
    let t1 = now();
    let [result] = &response.results[..] else {
        return Err(format!("expected one result, got {:?}", response.results));
    };
    let sent_now = rig.counter.count_since(sends, "SendEmail");

    let want_decision = golden["decision"].as_str().unwrap_or_default();
    let want_reason = golden["reason"].as_str();
    if result.object.as_deref() != Some(&*source) {
        return Err(format!("object {:?}, want {source:?}", result.object));
    }
    if result.outcome != want_decision || result.reason.as_deref() != want_reason {
        return Err(format!(
            "{} {:?}, want {want_decision} {want_reason:?}",
            result.outcome, result.reason
        ));
    }

    let identity = match golden["parsed"]["identity"].as_str() {
        Some(identity) => identity.to_string(),
        None => message::identity(&message::Inbound::default(), &raw),
    };
    let pk = DynamoLedger::message_pk(&identity);
    let item = rig.item(&pk).await.ok_or(format!("no ledger item {pk}"))?;
    let at = number(&item, "at").ok_or("the item has no numeric at")?;
    let expires_at = number(&item, "expires_at").ok_or("the item has no numeric expires_at")?;
    let state = item.get("state").map(String::as_str);
    // A duplicate's item is the first copy's, written before this delivery.
    let recorded_now = want_reason != Some("duplicate");
    let checks = [
        (
            !recorded_now || (t0..=t1).contains(&at),
            format!("at {at} outside {t0}..={t1}"),
        ),
        (
            expires_at == at + MESSAGE_RETENTION_SECS,
            format!("expires_at {expires_at} is not at + retention"),
        ),
        (
            !item.contains_key("lease_until"),
            "lease_until left after settling".into(),
        ),
    ];
    for (ok, why) in checks {
        if !ok {
            return Err(why);
        }
    }

    if want_decision == "reply" {
        let first_delivery = item.get("source").map(String::as_str) == Some(&*source);
        if state != Some("sent") || !first_delivery {
            return Err(format!("ledger item {item:?}, want sent from {source}"));
        }
        if sent_now != 1 {
            return Err(format!("{sent_now} SendEmail calls, want 1"));
        }
        check_sent_mail(rig, &golden, &item, t0, t1).await?;
    } else {
        if sent_now != 0 {
            return Err(format!("a skip made {sent_now} SendEmail calls"));
        }
        // A duplicate leaves the first copy's record alone.
        let want_state = if want_reason == Some("duplicate") {
            "sent"
        } else {
            "skipped"
        };
        if state != Some(want_state) {
            return Err(format!("ledger state {state:?}, want {want_state}"));
        }
        if want_state == "skipped" && item.get("reason").map(String::as_str) != want_reason {
            return Err(format!(
                "ledger reason {:?}, want {want_reason:?}",
                item.get("reason")
            ));
        }
    }

    let before_again = rig.counter.len();
    let again = rig.deliver(&event).await.map_err(|e| e.to_string())?;
    let [again] = &again.results[..] else {
        return Err("the redelivery has no single result".to_string());
    };
    // An unparseable message has no decision to repeat: it is skipped as unparseable
    // again, but the ledger still keeps it from being recorded twice.
    let want_again = if want_reason == Some("unparseable") {
        "unparseable"
    } else {
        "duplicate"
    };
    if again.outcome != "skip" || again.reason.as_deref() != Some(want_again) {
        return Err(format!("redelivery {again:?}, want a {want_again} skip"));
    }
    if rig.counter.count_since(before_again, "SendEmail") != 0 {
        return Err("the redelivery sent again".to_string());
    }
    if rig.item(&pk).await.as_ref() != Some(&item) {
        return Err("the redelivery changed the ledger item".to_string());
    }
    Ok(())
}

/// The mail SES received is the golden reply, header for header, to one recipient, and
/// the sender is remembered for the reply window.
async fn check_sent_mail(
    rig: &Rig,
    golden: &Value,
    item: &std::collections::BTreeMap<String, String>,
    t0: u64,
    t1: u64,
) -> Result<(), String> {
    let provider_id = item.get("provider_id").ok_or("no provider_id")?;
    let sent = sent_message(&rig.endpoint, provider_id)
        .ok_or(format!("SES has no message {provider_id}"))?;
    let mime = sent["raw_data"].as_str().ok_or("no raw_data")?;
    let headers = header_lines(mime);

    let want: Vec<String> = golden["reply_headers"]
        .as_array()
        .ok_or("the golden file has no reply_headers")?
        .iter()
        .map(|h| h.as_str().unwrap_or_default().to_string())
        .collect();
    if headers.len() != want.len() {
        return Err(format!("headers\n{headers:#?}\nwant\n{want:#?}"));
    }
    let dates = dates_between(t0, t1);
    for (got, want) in headers.iter().zip(&want) {
        let same = if want.starts_with("Date: ") {
            dates.contains(got)
        } else {
            got == want
        };
        if !same {
            return Err(format!("header {got:?}, want {want:?}"));
        }
    }

    let to = golden["to"].as_str().ok_or("the golden file has no to")?;
    // moto lists the Destination and then the header recipients: all must be `to`.
    let destinations = sent["destinations"].as_array().cloned().unwrap_or_default();
    if destinations.is_empty() || destinations.iter().any(|d| d.as_str() != Some(to)) {
        return Err(format!("destinations {destinations:?}, want only {to}"));
    }
    let reply_id = want
        .iter()
        .find_map(|h| h.strip_prefix("Message-ID: <"))
        .map(|id| id.trim_end_matches('>'));
    if item.get("reply_id").map(String::as_str) != reply_id {
        return Err(format!(
            "reply_id {:?}, want {reply_id:?}",
            item.get("reply_id")
        ));
    }

    let sender = rig
        .item(&DynamoLedger::sender_pk(to))
        .await
        .ok_or("no sender item")?;
    let answered_at = number(&sender, "answered_at").ok_or("no answered_at")?;
    let window = rig.pipeline.config.reply_window_secs();
    if number(item, "at") != Some(answered_at)
        || number(&sender, "expires_at") != Some(answered_at + window)
    {
        return Err(format!("sender item {sender:?}, want answered at the send"));
    }
    Ok(())
}

#[tokio::test]
async fn form_encoded_event_key_reaches_the_stored_object() {
    let Some(endpoint) = emulator("form_encoded_event_key_reaches_the_stored_object") else {
        return;
    };
    let rig = rig(&endpoint, "key", Config::default()).await;
    let key = "inbound/a b+c%2B 100% déjà vu ☕/x+y.eml";
    let event = rig.put(key, fixture("plain.eml")).await;
    let encoded = event["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
    assert_eq!(
        encoded,
        "inbound/a+b%2Bc%252B+100%25+d%C3%A9j%C3%A0+vu+%E2%98%95/x%2By.eml"
    );

    let response = rig.deliver(&event).await.unwrap();
    assert_eq!(
        response.results[0].object.as_deref(),
        Some(&*format!("s3://{}/{key}", rig.bucket))
    );
    assert_eq!(response.results[0].outcome, "reply", "{response:?}");
}

#[tokio::test]
async fn send_request_names_the_configured_sender_set_and_one_recipient() {
    let test = "send_request_names_the_configured_sender_set_and_one_recipient";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let config = Config {
        from: "Mail Room <hello@example.com>".to_string(),
        configuration_set: Some("mailroom-replies".to_string()),
        ..Config::default()
    };
    let rig = rig(&endpoint, "request", config).await;
    let event = rig.put("inbound/plain", fixture("plain.eml")).await;

    let start = rig.counter.len();
    rig.deliver(&event).await.unwrap();
    let [request] = &rig.counter.bodies_since(start, "SendEmail")[..] else {
        panic!("expected one SendEmail");
    };
    assert_eq!(request["FromEmailAddress"], "hello@example.com");
    assert_eq!(request["ConfigurationSetName"], "mailroom-replies");
    assert_eq!(
        request["Destination"],
        serde_json::json!({"ToAddresses": ["jane@example.org"]})
    );
    assert!(request["Content"]["Raw"]["Data"].is_string(), "{request}");
    assert!(request["Content"].get("Simple").is_none(), "{request}");
}

#[tokio::test]
async fn missing_object_is_permanent_and_the_invocation_succeeds_without_retrying() {
    let test = "missing_object_is_permanent_and_the_invocation_succeeds_without_retrying";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let rig = rig(&endpoint, "missing", Config::default()).await;
    let key = "inbound/never stored ü";
    let object = mailroom::event::ObjectRef {
        bucket: rig.bucket.clone(),
        key: key.to_string(),
        size: None,
    };

    let start = rig.counter.len();
    let error = rig.store.fetch(&object, 1 << 20).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("getting s3://{}/{key}: NoSuchKey", rig.bucket)),
        "{text}"
    );
    assert_eq!(rig.counter.count_since(start, "GetObject"), 1, "retried");

    let response = rig.deliver(&s3_event(&rig.bucket, key, 10)).await.unwrap();
    assert_eq!(response.results[0].outcome, "error");
    assert_eq!(rig.counter.count_since(start, "GetObject"), 2, "retried");
}

#[tokio::test]
async fn oversized_object_is_skipped_by_its_declared_length_and_recorded() {
    let test = "oversized_object_is_skipped_by_its_declared_length_and_recorded";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let config = Config {
        max_message_bytes: 1024,
        ..Config::default()
    };
    let rig = rig(&endpoint, "large", config).await;
    let key = "inbound/big one+";
    let event = rig.put(key, vec![b'x'; 4096]).await;

    let object = mailroom::event::ObjectRef {
        bucket: rig.bucket.clone(),
        key: key.to_string(),
        size: None,
    };
    assert_eq!(
        rig.store.fetch(&object, 1024).await.unwrap(),
        Fetched::TooLarge { size: 4096 }
    );

    let response = rig.deliver(&event).await.unwrap();
    assert_eq!(response.results[0].reason.as_deref(), Some("too-large"));
    let pk = DynamoLedger::message_pk(&format!("object:s3://{}/{key}", rig.bucket));
    let item = rig.item(&pk).await.expect("the skip is recorded");
    assert_eq!(item["state"], "skipped");
    assert_eq!(item["reason"], "too-large");
}

#[tokio::test]
async fn message_claimed_by_another_run_fails_the_invocation_as_retryable() {
    let test = "message_claimed_by_another_run_fails_the_invocation_as_retryable";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let rig = rig(&endpoint, "held", Config::default()).await;
    let event = rig.put("inbound/held", fixture("plain.eml")).await;
    let key = "mid:plain-1@mail.example.org";
    let claim = rig.pipeline.ledger().claim(key, "elsewhere", now()).await;
    assert_eq!(claim.unwrap(), Claim::Acquired);

    let start = rig.counter.len();
    let error = rig.deliver(&event).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(
        error.to_string().starts_with(&format!("claiming {key}")),
        "{error}"
    );
    assert_eq!(rig.counter.count_since(start, "SendEmail"), 0);
}

#[tokio::test]
async fn unverified_sender_fails_the_invocation_and_the_retry_tries_again() {
    let test = "unverified_sender_fails_the_invocation_and_the_retry_tries_again";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let config = Config {
        from: "bot@unverified.example".to_string(),
        ..Config::default()
    };
    let rig = rig(&endpoint, "unverified", config).await;
    let event = rig.put("inbound/plain", fixture("plain.eml")).await;

    // A fault of the deployment, not of the message: the invocation fails, so Lambda
    // retries it and, after its retries, puts the event in the failure queue.
    let start = rig.counter.len();
    let error = rig.deliver(&event).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(rig.counter.count_since(start, "SendEmail"), 1, "retried");

    let item = rig
        .item(&DynamoLedger::message_pk("mid:plain-1@mail.example.org"))
        .await
        .unwrap();
    assert_eq!(item["state"], "failed");
    let error = &item["error"];
    assert!(error.starts_with("sending reply mailroom."), "{error}");
    assert!(error.contains("MessageRejected"), "{error}");
    assert!(!error.contains("bot@unverified.example"), "{error}");

    let again = rig.counter.len();
    assert!(rig.deliver(&event).await.is_err());
    assert_eq!(
        rig.counter.count_since(again, "SendEmail"),
        1,
        "the retry did not try"
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_retryable_after_every_attempt() {
    // A port that was free a moment ago: connecting is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (clients, counter) = counted_clients(&endpoint).await;
    let store = S3Store::new(clients.s3.clone());
    let config = Config::default();
    let ledger = DynamoLedger::new(clients.dynamodb.clone(), "nowhere");
    let pipeline = Pipeline::new(
        config.clone(),
        ledger,
        SesMailer::new(clients.ses, &config),
        false,
    );

    let started = std::time::Instant::now();
    let error = handler::handle(&s3_event("mail", "inbound/x y", 10), &store, &pipeline)
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("getting s3://mail/inbound/x y: "),
        "{error}"
    );
    let attempts = counter.count_since(0, "GetObject");
    assert_eq!(attempts, mailroom::aws::MAX_ATTEMPTS as usize);
    assert!(started.elapsed() < mailroom::aws::S3_BUDGET.operation * 2);
}

/// The same script of calls, with its results written down, for any ledger.
async fn ledger_transcript(ledger: &impl Ledger) -> Vec<String> {
    let t = 1_800_000_000;
    let mut out = Vec::new();
    let mut note = |step: &str, result: String| out.push(format!("{step}: {result}"));
    let short = |r: Result<String, mailroom::Error>| match r {
        Ok(v) => v,
        Err(e) => format!("error ({:?})", e.retry()),
    };

    let claim = |key: &'static str, at: u64| async move {
        short(ledger.claim(key, "src", at).await.map(|c| format!("{c:?}")))
    };
    note("claim a", claim("a", t).await);
    note("claim a again", claim("a", t + 1).await);
    note("claim a after the lease", claim("a", t + LEASE_SECS).await);
    let failed = State::Failed {
        error: "boom".into(),
        at: t,
    };
    note(
        "settle a failed",
        short(ledger.settle("a", failed).await.map(|()| "ok".into())),
    );
    note(
        "claim a after failing",
        claim("a", t + LEASE_SECS + 1).await,
    );
    let skipped = State::Skipped {
        reason: Reason::List,
        at: t,
    };
    note(
        "settle a skipped",
        short(ledger.settle("a", skipped).await.map(|()| "ok".into())),
    );
    note(
        "claim a after settling",
        claim("a", t + 2 * LEASE_SECS).await,
    );
    let peek = ledger.peek("a", t + 2).await.map(|s| format!("{s:?}"));
    note("peek a", short(peek));
    let forgotten = t + LEASE_SECS + 1 + MESSAGE_RETENTION_SECS;
    let peek = ledger.peek("a", forgotten).await.map(|s| format!("{s:?}"));
    note("peek a after retention", short(peek));
    note("claim a after retention", claim("a", forgotten).await);
    let sent = State::Sent {
        reply_id: "r".into(),
        provider_id: "p".into(),
        at: t,
    };
    let never = ledger.settle("never", sent).await.map(|()| "ok".into());
    note("settle a key never claimed", short(never));

    let recorded = ledger.reserve_reply("jane@example.org", t, t + 10).await;
    note("record jane", short(recorded.map(|r| format!("{r}"))));
    for at in [t + 9, t + 10] {
        let last = ledger.last_reply("jane@example.org", at).await;
        note(
            &format!("jane at +{}", at - t),
            short(last.map(|l| format!("{l:?}"))),
        );
    }
    let again = ledger
        .reserve_reply("jane@example.org", t + 5, t + 15)
        .await;
    note(
        "record jane again inside",
        short(again.map(|r| format!("{r}"))),
    );
    let later = ledger
        .reserve_reply("jane@example.org", t + 10, t + 20)
        .await;
    note(
        "record jane again after",
        short(later.map(|r| format!("{r}"))),
    );
    let other = ledger.release_reply("jane@example.org", t).await;
    note("release jane, stale", short(other.map(|()| "ok".into())));
    let last = ledger.last_reply("jane@example.org", t + 11).await;
    note("jane kept", short(last.map(|l| format!("{l:?}"))));
    let mine = ledger.release_reply("jane@example.org", t + 10).await;
    note("release jane", short(mine.map(|()| "ok".into())));
    let last = ledger.last_reply("jane@example.org", t + 11).await;
    note("jane released", short(last.map(|l| format!("{l:?}"))));

    let hour = 3600 * 1000;
    for i in 0..3 {
        let slot = ledger.reserve_hour(hour, 2).await;
        note(
            &format!("hour slot {i}"),
            short(slot.map(|r| format!("{r}"))),
        );
    }
    let back = ledger.release_hour(hour).await;
    note("hour slot back", short(back.map(|()| "ok".into())));
    let count = ledger.replies_in_hour(hour).await;
    note("hour count", short(count.map(|c| format!("{c}"))));
    out
}

#[tokio::test]
async fn dynamodb_ledger_behaves_exactly_like_the_embedded_ledger() {
    let Some(endpoint) = emulator("dynamodb_ledger_behaves_exactly_like_the_embedded_ledger")
    else {
        return;
    };
    let rig = rig(&endpoint, "ledger", Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let embedded = FileLedger::open(&dir.path().join("ledger.redb")).unwrap();

    let want = ledger_transcript(&embedded).await;
    let got = ledger_transcript(rig.pipeline.ledger()).await;
    assert_eq!(got, want);
    // The transcript must exercise what it claims to: spot-check the key steps.
    let expect = [
        "claim a again: Held(Claimed",
        "claim a after the lease: Acquired",
        "claim a after failing: Acquired",
        "claim a after settling: Held(Skipped",
        "peek a after retention: None",
        "claim a after retention: Acquired",
        "settle a key never claimed: error (Permanent)",
        "jane at +9: Some(",
        "jane at +10: None",
        "record jane again inside: false",
        "record jane again after: true",
        "jane kept: Some(",
        "jane released: None",
        "hour slot 1: true",
        "hour slot 2: false",
        "hour count: 1",
    ];
    for step in expect {
        assert!(got.iter().any(|l| l.starts_with(step)), "{step}: {got:#?}");
    }
}

#[tokio::test]
async fn aws_requests_per_replied_message_and_per_duplicate_delivery() {
    let test = "aws_requests_per_replied_message_and_per_duplicate_delivery";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let rig = rig(&endpoint, "count", Config::default()).await;
    let event = rig.put("inbound/count me", fixture("plain.eml")).await;

    let start = rig.counter.len();
    let first = rig.deliver(&event).await.unwrap();
    assert_eq!(first.results[0].outcome, "reply");
    let replied = rig.counter.since(start);

    let start = rig.counter.len();
    let again = rig.deliver(&event).await.unwrap();
    assert_eq!(again.results[0].reason.as_deref(), Some("duplicate"));
    let duplicate = rig.counter.since(start);

    let total = |counts: &std::collections::BTreeMap<String, usize>| counts.values().sum::<usize>();
    println!(
        "AWS requests per replied message: {} {replied:?}",
        total(&replied)
    );
    println!(
        "AWS requests per duplicate delivery: {} {duplicate:?}",
        total(&duplicate)
    );
    // Claim, sender window, hourly count, send, sender record, count, settle.
    assert_eq!(total(&replied), 8, "{replied:?}");
    assert_eq!(replied.get("ses SendEmail"), Some(&1), "{replied:?}");
    // The failed claim and the read of the state that holds it; nothing else is asked.
    assert_eq!(total(&duplicate), 3, "{duplicate:?}");
    assert!(!duplicate.contains_key("ses SendEmail"));
    let sends = rig.counter.bodies_since(0, "SendEmail");
    assert!(
        sends[0].get("ConfigurationSetName").is_none(),
        "{}",
        sends[0]
    );
}

#[tokio::test]
async fn concurrent_deliveries_answer_one_sender_once_and_keep_the_ceiling() {
    let test = "concurrent_deliveries_answer_one_sender_once_and_keep_the_ceiling";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let rig = rig(&endpoint, "race", Config::default()).await;
    let plain = String::from_utf8(fixture("plain.eml")).unwrap();
    let mut events = Vec::new();
    for i in 0..4 {
        let raw = plain.replace("plain-1@", &format!("race-{i}@"));
        events.push(
            rig.put(&format!("inbound/race {i}"), raw.into_bytes())
                .await,
        );
    }

    // Four messages from one sender, handled at the same time.
    let (a, b, c, d) = tokio::join!(
        rig.deliver(&events[0]),
        rig.deliver(&events[1]),
        rig.deliver(&events[2]),
        rig.deliver(&events[3]),
    );
    let outcomes: Vec<String> = [a, b, c, d]
        .into_iter()
        .map(|r| {
            let result = &r.unwrap().results[0];
            format!(
                "{} {}",
                result.outcome,
                result.reason.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let replies = outcomes.iter().filter(|o| o.starts_with("reply")).count();
    assert_eq!(replies, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| o == "reply -" || o == "skip rate-limited"),
        "{outcomes:?}"
    );

    // Four more senders at once against a ceiling with one slot left.
    let config = Config {
        max_replies_per_hour: 2,
        ..Config::default()
    };
    let rig = crate::rig(&endpoint, "ceiling", config).await;
    let mut events = Vec::new();
    for i in 0..4 {
        let raw = plain
            .replace("plain-1@", &format!("ceiling-{i}@"))
            .replace("jane@", &format!("jane{i}@"));
        events.push(
            rig.put(&format!("inbound/ceiling {i}"), raw.into_bytes())
                .await,
        );
    }
    let first = rig.deliver(&events[0]).await.unwrap();
    assert_eq!(first.results[0].outcome, "reply");
    let (b, c, d) = tokio::join!(
        rig.deliver(&events[1]),
        rig.deliver(&events[2]),
        rig.deliver(&events[3]),
    );
    let replies = [b, c, d]
        .into_iter()
        .filter(|r| r.as_ref().unwrap().results[0].outcome == "reply")
        .count();
    assert_eq!(replies, 1, "the ceiling of 2 was passed");
}

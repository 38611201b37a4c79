//! The Lambda binary itself, as Lambda runs it: a process that polls the Runtime API.
//!
//! The Runtime API here is a stub of our own on 127.0.0.1 that hands out queued events
//! and records what the function posts back. The binary is the one `cargo lambda build`
//! made when `MAILROOM_LAMBDA_BOOTSTRAP` points at it (scripts/test does), else the one
//! cargo built for these tests.

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mailroom::aws::AwsClients;
use mailroom::ledger::dynamodb::DynamoLedger;
use mailroom::ledger::local::FileLedger;
use mailroom::ledger::{Claim, Ledger};
use mailroom::pipeline::now;
use serde_json::{Value, json};

const BUCKET: &str = "mailroom-inbox";
/// A message with a reply-able sender, and its ledger key.
const ANSWERED: (&str, &str) = ("plain.eml", "mid:plain-1@mail.example.org");
/// A second message, claimed by "another run" before the function sees it.
const HELD: (&str, &str) = ("cc-addressed.eml", "mid:cc-1@example.il");
/// How long the function may take to answer both events.
const PATIENCE: Duration = Duration::from_secs(60);

fn bootstrap() -> PathBuf {
    match std::env::var_os("MAILROOM_LAMBDA_BOOTSTRAP") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_mailroom-lambda")),
    }
}

/// What the function posted for one invocation.
#[derive(Debug, Clone)]
struct Post {
    request_id: String,
    /// `response`, `error`, or `init-error`.
    kind: String,
    body: Value,
}

#[derive(Default)]
struct State {
    events: VecDeque<(String, Value)>,
    posts: Vec<Post>,
    polls: usize,
}

/// A Lambda Runtime API on a loopback port.
#[derive(Clone)]
struct Runtime {
    address: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Runtime {
    fn start(events: Vec<(String, Value)>) -> Runtime {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let runtime = Runtime {
            address: listener.local_addr().unwrap().to_string(),
            state: Arc::new((
                Mutex::new(State {
                    events: events.into(),
                    ..State::default()
                }),
                Condvar::new(),
            )),
        };
        let server = runtime.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.connection(stream));
            }
        });
        runtime
    }

    /// Serves requests on one kept-alive connection until the client goes away.
    fn connection(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        while let Some((method, path, body)) = read_request(&mut reader) {
            let (status, headers, reply) = self.route(&method, &path, &body);
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                reply.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let written = writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(&reply));
            if written.is_err() {
                return;
            }
        }
    }

    fn route(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (String, Vec<(String, String)>, Vec<u8>) {
        let (lock, changed) = &*self.state;
        let accepted = || {
            (
                "202 Accepted".to_string(),
                vec![],
                br#"{"status":"OK"}"#.to_vec(),
            )
        };
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, &parts[..]) {
            ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => {
                let mut state = lock.lock().unwrap();
                state.polls += 1;
                changed.notify_all();
                // Like Lambda, hold the poll until there is an event; the test ends
                // by killing the process while it waits.
                let (id, event) = loop {
                    if let Some(next) = state.events.pop_front() {
                        break next;
                    }
                    state = changed.wait(state).unwrap();
                };
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 30_000;
                let headers = vec![
                    ("Lambda-Runtime-Aws-Request-Id".to_string(), id),
                    (
                        "Lambda-Runtime-Deadline-Ms".to_string(),
                        deadline.to_string(),
                    ),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn".to_string(),
                        "arn:aws:lambda:us-east-1:123456789012:function:mailroom".to_string(),
                    ),
                    (
                        "Lambda-Runtime-Trace-Id".to_string(),
                        "Root=1-0-0".to_string(),
                    ),
                ];
                (
                    "200 OK".to_string(),
                    headers,
                    serde_json::to_vec(&event).unwrap(),
                )
            }
            (
                "POST",
                [
                    "2018-06-01",
                    "runtime",
                    "invocation",
                    id,
                    kind @ ("response" | "error"),
                ],
            ) => {
                self.record(id, kind, body);
                accepted()
            }
            ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
                self.record("", "init-error", body);
                accepted()
            }
            _ => ("404 Not Found".to_string(), vec![], b"{}".to_vec()),
        }
    }

    fn record(&self, request_id: &str, kind: &str, body: &[u8]) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().posts.push(Post {
            request_id: request_id.to_string(),
            kind: kind.to_string(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        });
        changed.notify_all();
    }

    /// Waits until `count` posts arrived and the function is polling again (it has
    /// finished with them), or the function exited, or time ran out.
    fn wait_for(&self, count: usize, child: &mut Child) -> Vec<Post> {
        let (lock, changed) = &*self.state;
        let started = Instant::now();
        let mut state = lock.lock().unwrap();
        while !(state.posts.len() >= count && state.polls > count) {
            let exited = child.try_wait().ok().flatten();
            assert!(exited.is_none(), "the function exited: {exited:?}");
            assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {count} posts, got {:?}",
                state.posts
            );
            state = changed
                .wait_timeout(state, Duration::from_millis(200))
                .unwrap()
                .0;
        }
        state.posts.clone()
    }
}

/// Reads one HTTP/1.1 request: method, path and body (by length, or chunked).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.to_string();

    let mut length = 0;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }

    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

/// The function's process, with its standard output (the JSON log) collected.
struct Function {
    child: Child,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Function {
    /// Starts the bootstrap with only the environment given: no inherited AWS settings,
    /// and a home without profile files.
    fn start(runtime: &Runtime, home: &Path, env: &[(&str, String)]) -> Function {
        let mut command = Command::new(bootstrap());
        command
            .env_clear()
            .env("HOME", home)
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "mailroom")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/mailroom")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("MAILROOM_FROM", "hello@example.com")
            .env("MAILROOM_INBOUND_ADDRESSES", "hello@example.com")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bootstrap().display()));

        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    log.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            });
        }
        Function { child, log }
    }

    /// Stops the process and returns its log lines.
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap();
        String::from_utf8_lossy(&log)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two events: one to answer, one whose message another run holds.
fn events(answered_key: &str, held_key: &str, sizes: (usize, usize)) -> Vec<(String, Value)> {
    vec![
        (
            "req-answered".to_string(),
            s3_event(BUCKET, answered_key, sizes.0),
        ),
        ("req-held".to_string(), s3_event(BUCKET, held_key, sizes.1)),
    ]
}

/// Checks the posts and the log for the two events, whatever the backend.
fn check_run(posts: &[Post], log: &[String], answered_key: &str) {
    let [answered, held] = posts else {
        panic!(
            "expected two posts, got {posts:#?}\nlog:\n{}",
            log.join("\n")
        );
    };

    assert_eq!(answered.request_id, "req-answered");
    assert_eq!(
        answered.kind,
        "response",
        "{answered:?}\n{}",
        log.join("\n")
    );
    assert_eq!(
        answered.body,
        json!({"results": [{
            "object": format!("s3://{BUCKET}/{answered_key}"),
            "outcome": "reply",
            "reason": null,
            "message_id": "plain-1@mail.example.org",
        }]})
    );

    assert_eq!(held.request_id, "req-held");
    assert_eq!(held.kind, "error", "{held:?}");
    assert_eq!(held.body["errorType"], "mailroom.Retryable", "{held:?}");
    let message = held.body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("claiming {}", HELD.1)),
        "{message}"
    );

    // One JSON line per message, with what an operator searches by; the sender's
    // address appears only shortened.
    let lines: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !lines.is_empty(),
        "no JSON log lines in:\n{}",
        log.join("\n")
    );
    let handled: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "message handled")
        .collect();
    let [line] = &handled[..] else {
        panic!("expected one 'message handled' line, got {handled:#?}");
    };
    assert_eq!(line["level"], "INFO");
    let fields = &line["fields"];
    assert_eq!(fields["source"], format!("s3://{BUCKET}/{answered_key}"));
    assert_eq!(fields["message_id"], "plain-1@mail.example.org");
    assert_eq!(fields["outcome"], "Reply");
    assert_eq!(fields["to"], "j***@example.org");
    let everything = log.join("\n");
    assert!(!everything.contains("jane@example.org"), "{everything}");
    assert!(!everything.contains("noa@example.il"), "{everything}");
}

#[test]
fn local_backend_answers_one_event_and_reports_a_retryable_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let state = dir.path().join("state");
    let answered_key = "inbound/2024 05 06/msg+1 100% ü.eml";
    let held_key = "inbound/held one.eml";
    let mut sizes = (0, 0);
    for (key, name, size) in [
        (answered_key, ANSWERED.0, &mut sizes.0),
        (held_key, HELD.0, &mut sizes.1),
    ] {
        let path = store.join(BUCKET).join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let raw = fixture(name);
        *size = raw.len();
        std::fs::write(path, raw).unwrap();
    }
    // Claimed by another run, and the database closed again before the function opens it.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tokio.block_on(async {
        let ledger = FileLedger::open(&state.join("ledger.redb")).unwrap();
        let claim = ledger.claim(HELD.1, "elsewhere", now()).await.unwrap();
        assert_eq!(claim, Claim::Acquired);
    });

    let runtime = Runtime::start(events(answered_key, held_key, sizes));
    let mut function = Function::start(
        &runtime,
        dir.path(),
        &[
            ("MAILROOM_BACKEND", "local".to_string()),
            ("MAILROOM_STORE_DIR", store.display().to_string()),
            ("MAILROOM_STATE_DIR", state.display().to_string()),
        ],
    );
    let posts = runtime.wait_for(2, &mut function.child);
    let log = function.stop();
    check_run(&posts, &log, answered_key);

    let outbox: Vec<_> = std::fs::read_dir(state.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
}

#[test]
fn aws_backend_answers_one_event_and_reports_a_retryable_failure() {
    let test = "aws_backend_answers_one_event_and_reports_a_retryable_failure";
    let Some(endpoint) = emulator(test) else {
        return;
    };
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let clients = tokio.block_on(async { AwsClients::new(&sdk_config(&endpoint).await, &[]) });
    let bucket = unique("runtime");
    let table = unique("runtime");
    let answered_key = "inbound/2024 05 06/msg+1 100% ü.eml";
    let held_key = "inbound/held one.eml";
    let answered = fixture(ANSWERED.0);
    let held = fixture(HELD.0);
    let sizes = (answered.len(), held.len());
    tokio.block_on(async {
        create_resources(&clients, &bucket, &table).await;
        put_object(&clients, &bucket, answered_key, answered).await;
        put_object(&clients, &bucket, held_key, held).await;
        let ledger = DynamoLedger::new(clients.dynamodb.clone(), &table);
        let claim = ledger.claim(HELD.1, "elsewhere", now()).await.unwrap();
        assert_eq!(claim, Claim::Acquired);
    });

    let mut events = events(answered_key, held_key, sizes);
    for (_, event) in &mut events {
        event["Records"][0]["s3"]["bucket"]["name"] = json!(bucket);
    }
    let runtime = Runtime::start(events);
    let home = tempfile::tempdir().unwrap();
    let mut function = Function::start(
        &runtime,
        home.path(),
        &[
            ("MAILROOM_BACKEND", "aws".to_string()),
            ("MAILROOM_TABLE", table.clone()),
            // The SDK's own variables: the global one for DynamoDB and SES, and S3's
            // own on a host name, where only path-style addressing can work.
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            (
                "AWS_ENDPOINT_URL_S3",
                endpoint.replace("127.0.0.1", "localhost"),
            ),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ],
    );
    let mut posts = runtime.wait_for(2, &mut function.child);
    let log = function.stop();

    // The object URL names this test's own bucket; compare it as the shared name.
    for post in &mut posts {
        if let Some(object) = post.body["results"][0]["object"].as_str() {
            post.body["results"][0]["object"] = json!(object.replace(&bucket, BUCKET));
        }
    }
    let log: Vec<String> = log.iter().map(|l| l.replace(&bucket, BUCKET)).collect();
    check_run(&posts, &log, answered_key);

    let pk = DynamoLedger::message_pk(ANSWERED.1);
    let item = tokio
        .block_on(ledger_item(&clients, &table, &pk))
        .expect("the reply is recorded");
    assert_eq!(item["state"], "sent");
    let sent = sent_message(&endpoint, &item["provider_id"]).expect("SES has the reply");
    let mime = sent["raw_data"].as_str().unwrap();
    assert!(
        header_lines(mime).contains(&"To: <jane@example.org>".to_string()),
        "{mime}"
    );
}

#[test]
fn aws_backend_without_a_table_fails_at_start_up_naming_the_variable() {
    let runtime = Runtime::start(vec![]);
    let home = tempfile::tempdir().unwrap();
    let mut function =
        Function::start(&runtime, home.path(), &[("AWS_REGION", REGION.to_string())]);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = function.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < PATIENCE, "the function did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = function.stop().join("\n");
    assert!(!status.success());
    assert!(log.contains("MAILROOM_TABLE is not set"), "{log}");
    assert_eq!(runtime.state.0.lock().unwrap().polls, 0);
}

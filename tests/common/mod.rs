//! Helpers shared by the emulator tests: finding moto, building clients against it,
//! creating the resources the CDK app would create, counting requests, and reading back
//! what moto received.
//!
//! Tests run in parallel threads against one moto, so nothing here resets it: every test
//! makes its own bucket and table, and finds its sent mail by SES message id.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Credentials, Intercept, RuntimeComponents, SharedInterceptor};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::ByteStream;
use mailroom::aws::AwsClients;
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";
/// The domain of `Config::default()`'s From address, verified in moto's SES.
pub const VERIFIED_DOMAIN: &str = "example.com";

/// The emulator's endpoint, or `None` after saying why the test is skipped.
///
/// Under `MAILROOM_REQUIRE_EMULATOR=1` (set by scripts/test) a missing or unreachable
/// emulator fails the test instead.
pub fn emulator(test: &str) -> Option<String> {
    let required = std::env::var("MAILROOM_REQUIRE_EMULATOR").is_ok_and(|v| v == "1");
    let Some(endpoint) = std::env::var("MAILROOM_TEST_AWS_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        assert!(
            !required,
            "{test}: MAILROOM_REQUIRE_EMULATOR=1 but MAILROOM_TEST_AWS_ENDPOINT is not set"
        );
        // Straight to the stream, past the test harness's capture, so a plain
        // `cargo test` shows it; in one write, so parallel tests do not interleave.
        let notice = format!(
            "SKIPPED {test}: MAILROOM_TEST_AWS_ENDPOINT is not set, so there is no AWS \
             emulator; scripts/test starts moto and runs this test\n"
        );
        let _ = std::io::stderr().write_all(notice.as_bytes());
        return None;
    };
    if let Err(e) = http(&endpoint, "GET", "/moto-api/", b"") {
        panic!("{test}: the emulator at {endpoint} does not answer: {e}");
    }
    Some(endpoint)
}

/// A configuration against `endpoint` with static credentials and a fixed region, so the
/// SDK never looks for a profile, a role or the instance metadata service.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    mailroom::aws::loader()
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "static-test"))
        .load()
        .await
}

/// A name no other test in any process uses: S3 and DynamoDB rules allow it as both a
/// bucket and a table name.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("mr-{tag}-{}-{n}-{nanos}", std::process::id())
}

/// One request as it left the SDK: the service and operation it called.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub service: String,
    pub operation: String,
    /// The request body, for the JSON protocols (DynamoDB, SES); empty for S3's GET.
    pub body: String,
}

/// Counts every attempt the SDK transmits (a retry counts again), by operation.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<Mutex<Vec<Call>>>);

impl Counter {
    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The calls made since `start` (an earlier `len()`), counted by operation.
    pub fn since(&self, start: usize) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for call in &self.calls()[start..] {
            *counts
                .entry(format!("{} {}", call.service, call.operation))
                .or_default() += 1;
        }
        counts
    }

    /// The JSON bodies of the `operation` requests made since `start`.
    pub fn bodies_since(&self, start: usize, operation: &str) -> Vec<Value> {
        self.calls()[start..]
            .iter()
            .filter(|c| c.operation == operation)
            .map(|c| serde_json::from_str(&c.body).unwrap_or(Value::Null))
            .collect()
    }

    pub fn count_since(&self, start: usize, operation: &str) -> usize {
        self.calls()[start..]
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let headers = request.headers();
        // The signing scope names the service: Credential=<key>/<date>/<region>/<service>/
        let service = headers
            .get("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string();
        let uri = request.uri();
        let operation = if let Some(target) = headers.get("x-amz-target") {
            target.rsplit('.').next().unwrap_or(target).to_string()
        } else if let Some(id) = uri.split("x-id=").nth(1) {
            id.split('&').next().unwrap_or(id).to_string()
        } else if uri.contains("/v2/email/outbound-emails") {
            "SendEmail".to_string()
        } else {
            format!("{} {uri}", request.method())
        };
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        self.0.lock().unwrap().push(Call {
            service,
            operation,
            body,
        });
        Ok(())
    }
}

/// Clients for the code under test, counting their requests.
pub async fn counted_clients(endpoint: &str) -> (AwsClients, Counter) {
    let counter = Counter::default();
    let clients = AwsClients::new(&sdk_config(endpoint).await, &[counter.interceptor()]);
    (clients, counter)
}

/// Creates what the CDK app creates: the bucket, the ledger table (`pk` string, no sort
/// key, TTL on `expires_at`), and the verified SES domain.
pub async fn create_resources(clients: &AwsClients, bucket: &str, table: &str) {
    clients
        .s3
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("creating the bucket");
    clients
        .dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("creating the table");
    clients
        .dynamodb
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enabling TTL");
    verify_domain(clients, VERIFIED_DOMAIN).await;
}

/// Verifies `domain` in SES; another test verifying it first is fine.
pub async fn verify_domain(clients: &AwsClients, domain: &str) {
    let result = clients
        .ses
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await;
    if let Err(e) = result {
        let exists = e
            .as_service_error()
            .is_some_and(|e| e.is_already_exists_exception());
        assert!(exists, "verifying {domain}: {e:?}");
    }
}

pub async fn put_object(clients: &AwsClients, bucket: &str, key: &str, body: Vec<u8>) {
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("putting the object");
}

/// Reads one ledger item straight from the table.
pub async fn ledger_item(
    clients: &AwsClients,
    table: &str,
    pk: &str,
) -> Option<BTreeMap<String, String>> {
    let item = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("reading the ledger item")
        .item?;
    Some(
        item.into_iter()
            .map(|(name, value)| {
                let text = match value {
                    AttributeValue::S(s) => s,
                    AttributeValue::N(n) => format!("N:{n}"),
                    other => format!("{other:?}"),
                };
                (name, text)
            })
            .collect(),
    )
}

/// Encodes a key the way S3 writes it into an event notification: form encoding, where
/// a space is `+` and everything but unreserved characters and `/` is percent-encoded.
pub fn form_encode_key(key: &str) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// An `ObjectCreated:Put` notification for one object, as S3 delivers it to Lambda.
pub fn s3_event(bucket: &str, key: &str, size: usize) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2024-05-06T10:00:01.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "198.51.100.7"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "x"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "mailroom-inbound",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": format!("arn:aws:s3:::{bucket}")
            },
            "object": {
                "key": form_encode_key(key),
                "size": size,
                "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                "sequencer": "0055AED6DCD90281E5"
            }
        }
    }]})
}

/// The raw messages moto's SES accepted: `{id, source, destinations, raw_data}` each.
pub fn sent_messages(endpoint: &str) -> Vec<Value> {
    let body = http(endpoint, "GET", "/moto-api/data.json", b"").expect("reading moto's data");
    let data: Value = serde_json::from_slice(&body).expect("moto's data is JSON");
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The message SES accepted under `id`.
pub fn sent_message(endpoint: &str, id: &str) -> Option<Value> {
    sent_messages(endpoint)
        .into_iter()
        .find(|m| m["id"].as_str() == Some(id))
}

/// A message's header section as unfolded lines.
pub fn header_lines(mime: &str) -> Vec<String> {
    let head = mime.split("\r\n\r\n").next().unwrap_or_default();
    head.replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

/// One HTTP/1.1 request to a loopback `endpoint` (`http://127.0.0.1:<port>`), returning
/// the body of a 2xx response.
pub fn http(endpoint: &str, method: &str, path: &str, body: &[u8]) -> Result<Vec<u8>, String> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("{endpoint} is not an http:// endpoint"))?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;

    let split = find(&response, b"\r\n\r\n").ok_or("the response has no header end")?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap_or_default().to_string();
    let payload = &response[split + 4..];
    let payload = if head.contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_vec()
    };
    if !status.starts_with('2') {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&payload)
        ));
    }
    Ok(payload)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked transfer-encoded body.
pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = find(data, b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        let start = line_end + 2;
        if size == 0 || data.len() < start + size {
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

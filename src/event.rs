//! Decoding the S3 event notification that Lambda delivers.
//!
//! One notification may carry several records. Each becomes either an object to process
//! or an [`Item::Ignored`] with the reason, so the caller logs it once and never retries
//! what can never succeed. A record S3 would never send (no event name, no key, a key
//! that is not UTF-8) fails the whole notification instead: acknowledging it as handled
//! could hide lost mail.

use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;

/// The object SES wrote for one inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub bucket: String,
    /// The decoded key, exactly as S3 stores it.
    pub key: String,
    /// The size the notification reports, when it does.
    pub size: Option<i64>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// What one record of a notification asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Object(ObjectRef),
    /// Not a message: logged with the reason and acknowledged.
    Ignored {
        /// The `s3://bucket/key` the record names, when it names one.
        object: Option<String>,
        reason: String,
    },
}

/// The object SES writes under the prefix when a receipt rule is saved.
const SES_SETUP_OBJECT: &str = "AMAZON_SES_SETUP_NOTIFICATION";

/// Decodes a notification payload into one item per record.
///
/// The `s3:TestEvent` S3 sends when a notification is configured has no records and yields
/// one ignored item. A payload that is neither is an error: it is not from S3 at all.
pub fn decode(payload: &serde_json::Value, prefix: &str) -> Result<Vec<Item>, String> {
    if payload.get("Event").and_then(|v| v.as_str()) == Some("s3:TestEvent") {
        return Ok(vec![Item::Ignored {
            object: None,
            reason: "s3:TestEvent sent when the notification was configured".to_string(),
        }]);
    }

    let event: S3Event = serde_json::from_value(payload.clone())
        .map_err(|e| format!("not an S3 event notification: {e}"))?;
    if event.records.is_empty() {
        return Err("the S3 event notification has no records".to_string());
    }

    event
        .records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let name = record.event_name.unwrap_or_default();
            let bucket = record.s3.bucket.name.unwrap_or_default();
            let raw_key = record.s3.object.key.unwrap_or_default();
            classify(&name, bucket, &raw_key, record.s3.object.size, prefix)
                .map_err(|e| format!("record {}: {e}", i + 1))
        })
        .collect()
}

/// Sorts one record: an object to process, something to acknowledge, or (an error) a
/// record S3 would never send, which must not be acknowledged as if it were handled.
fn classify(
    name: &str,
    bucket: String,
    raw_key: &str,
    size: Option<i64>,
    prefix: &str,
) -> Result<Item, String> {
    if name.is_empty() {
        return Err("the record has no eventName".to_string());
    }
    if !name.starts_with("ObjectCreated:") {
        let object = (!bucket.is_empty()).then(|| format!("s3://{bucket}/{raw_key}"));
        let reason = format!("event {name:?} is not an object creation");
        return Ok(Item::Ignored { object, reason });
    }
    if bucket.is_empty() || raw_key.is_empty() {
        return Err(format!("{name} names no bucket or no key"));
    }
    let key = decode_key(raw_key).map_err(|e| format!("key {raw_key:?}: {e}"))?;
    let object = Some(format!("s3://{bucket}/{key}"));
    if !key.starts_with(prefix) {
        let reason = format!("key {key:?} is outside the prefix {prefix:?}");
        return Ok(Item::Ignored { object, reason });
    }
    if key.rsplit('/').next() == Some(SES_SETUP_OBJECT) {
        let reason = format!("key {key:?} is the SES setup notification");
        return Ok(Item::Ignored { object, reason });
    }
    Ok(Item::Object(ObjectRef { bucket, key, size }))
}

/// Decodes an object key as S3 notifications encode it: form encoding, where `+` is a
/// space and everything else is percent-encoded UTF-8.
///
/// The `+` must become a space before percent-decoding, or an encoded `%2B` (a real plus)
/// would turn into a space too.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|_| "the decoded key is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(key: &str) -> serde_json::Value {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2024-05-06T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:SES"},
            "requestParameters": {"sourceIPAddress": "10.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "inbound",
                   "bucket": {"name": "mail-bucket", "arn": "arn:aws:s3:::mail-bucket"},
                   "object": {"key": key, "size": 1024}}
        }]})
    }

    fn only_key(payload: serde_json::Value) -> String {
        match decode(&payload, "inbound/").unwrap().as_slice() {
            [Item::Object(o)] => o.key.clone(),
            other => panic!("expected one object, got {other:?}"),
        }
    }

    #[test]
    fn key_with_plus_is_a_space_and_encoded_plus_is_a_plus() {
        assert_eq!(
            only_key(event("inbound/2024+05+06/msg%2Bone")),
            "inbound/2024 05 06/msg+one"
        );
    }

    #[test]
    fn key_with_percent_encoded_utf8_is_decoded() {
        assert_eq!(only_key(event("inbound/caf%C3%A9")), "inbound/café");
    }

    #[test]
    fn key_with_encoded_percent_stays_a_percent() {
        assert_eq!(only_key(event("inbound/100%25")), "inbound/100%");
    }

    #[test]
    fn key_decoding_to_invalid_utf8_is_an_error_not_mangled() {
        let err = decode(&event("inbound/%FF"), "inbound/").unwrap_err();
        assert!(err.starts_with("record 1: key"), "{err}");
    }

    #[test]
    fn creation_record_without_a_key_or_name_is_an_error() {
        let mut payload = event("inbound/x");
        payload["Records"][0]["s3"]["object"]["key"] = json!(null);
        assert!(decode(&payload, "inbound/").is_err());
        let mut payload = event("inbound/x");
        payload["Records"][0]["eventName"] = json!(null);
        assert!(decode(&payload, "inbound/").is_err());
    }

    #[test]
    fn test_event_is_ignored() {
        let payload = json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
            "Time": "2024-05-06T10:00:00.000Z", "Bucket": "mail-bucket"});
        let items = decode(&payload, "inbound/").unwrap();
        assert!(
            matches!(&items[..], [Item::Ignored { reason, .. }] if reason.contains("TestEvent"))
        );
    }

    #[test]
    fn key_outside_prefix_is_ignored() {
        let items = decode(&event("other/msg"), "inbound/").unwrap();
        assert!(matches!(&items[..], [Item::Ignored { reason, .. }] if reason.contains("prefix")));
    }

    #[test]
    fn ses_setup_notification_is_ignored() {
        let items = decode(&event("inbound/AMAZON_SES_SETUP_NOTIFICATION"), "inbound/").unwrap();
        assert!(matches!(&items[..], [Item::Ignored { reason, .. }] if reason.contains("setup")));
    }

    #[test]
    fn payload_that_is_not_s3_is_an_error() {
        assert!(decode(&json!({"hello": "world"}), "inbound/").is_err());
    }

    #[test]
    fn removal_event_is_ignored() {
        let mut payload = event("inbound/x");
        payload["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");
        assert!(matches!(
            &decode(&payload, "inbound/").unwrap()[..],
            [Item::Ignored { .. }]
        ));
    }
}

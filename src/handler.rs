//! The Lambda function body: one S3 notification in, one outcome per record out.
//!
//! Generic over the store, ledger and mailer, so the same code runs against S3, DynamoDB
//! and SES when deployed and against local folders in tests.

use serde::Serialize;

use crate::error::Error;
use crate::event::{self, Item};
use crate::ledger::Ledger;
use crate::mailer::Mailer;
use crate::message;
use crate::pipeline::{Outcome, Pipeline, Verdict, now};
use crate::policy::Reason;
use crate::store::{Fetched, ObjectStore};

/// What the function returns: one entry per record of the notification.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub results: Vec<RecordResult>,
}

/// The fate of one record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordResult {
    /// The decoded `s3://bucket/key`, or `None` for a record that named no object.
    pub object: Option<String>,
    /// `reply`, `skip`, `error` or `ignored`.
    pub outcome: String,
    pub reason: Option<String>,
    pub message_id: Option<String>,
}

/// Handles one notification payload.
///
/// Each record ends replied, skipped with a reason, ignored as not mail, or failed. A
/// permanent failure is logged and reported in the response; a retryable one fails the
/// whole invocation after every record was tried, so Lambda delivers the event again and
/// the ledger turns the records already handled into duplicates.
pub async fn handle<S, L, M>(
    payload: &serde_json::Value,
    store: &S,
    pipeline: &Pipeline<L, M>,
) -> Result<Response, Error>
where
    S: ObjectStore,
    L: Ledger,
    M: Mailer,
{
    let items = event::decode(payload, &pipeline.config.prefix).map_err(Error::Event)?;
    let mut results = Vec::with_capacity(items.len());
    let mut retry = None;

    for item in items {
        let object = match item {
            Item::Ignored { object, reason } => {
                let source = object.as_deref().unwrap_or_default();
                tracing::info!(outcome = "ignored", reason = Reason::NotMail.code(), %reason,
                    source, "record ignored");
                results.push(RecordResult {
                    object,
                    outcome: "ignored".to_string(),
                    reason: Some(Reason::NotMail.code().to_string()),
                    message_id: None,
                });
                continue;
            }
            Item::Object(object) => object,
        };

        let source = object.to_string();
        let outcome = match process_object(store, pipeline, &object).await {
            Ok(outcome) => outcome,
            Err((error, message_id)) => {
                let outcome = Outcome::failed(&source, message_id, &error);
                if error.is_retryable() && retry.is_none() {
                    retry = Some(error);
                }
                outcome
            }
        };
        outcome.log();
        results.push(RecordResult {
            object: Some(source),
            outcome: match outcome.decision {
                Verdict::Reply => "reply",
                Verdict::Skip => "skip",
                Verdict::Error => "error",
            }
            .to_string(),
            reason: outcome.reason.map(|r| r.code().to_string()),
            message_id: outcome.message_id,
        });
    }

    match retry {
        Some(error) => Err(error),
        None => Ok(Response { results }),
    }
}

async fn process_object<S, L, M>(
    store: &S,
    pipeline: &Pipeline<L, M>,
    object: &event::ObjectRef,
) -> Result<Outcome, (Error, Option<String>)>
where
    S: ObjectStore,
    L: Ledger,
    M: Mailer,
{
    let source = object.to_string();
    let limit = pipeline.config.max_message_bytes;
    let fetched = store.fetch(object, limit).await.map_err(|e| (e, None))?;
    match fetched {
        Fetched::Body(raw) => pipeline.process(&source, &raw, now()).await.map_err(|e| {
            // Parsed again only on this rare path, so the failure's log line names the
            // message.
            (e, message::parse(&raw).ok().and_then(|m| m.message_id))
        }),
        Fetched::TooLarge { size } => {
            let detail = format!("{size} bytes is over max_message_bytes ({limit})");
            pipeline
                .skip_unread(&source, Reason::TooLarge, detail, now())
                .await
                .map_err(|e| (e, None))
        }
    }
}

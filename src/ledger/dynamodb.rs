//! The ledger on DynamoDB: one table, one item per message and one per answered sender.
//!
//! The table has a string partition key `pk` and no sort key; the CDK app creates it with
//! `expires_at` as its TTL attribute. Items:
//!
//! - `msg#<ledger key>`: `state` (`claimed`, `sent`, `skipped` or `failed`), `source`,
//!   `at`, `expires_at`, and by state `lease_until`, `reply_id` and `provider_id`,
//!   `reason`, or `error`.
//! - `sender#<lowercased address>`: `answered_at`, `expires_at`.
//!
//! Every check-and-set is one conditional write, so two invocations racing on the same
//! message cannot both win, and every read is strongly consistent, so a claim that just
//! failed its condition reads the item that made it fail. DynamoDB deletes expired items
//! only eventually (and emulators never do), so every read also checks `expires_at`
//! itself, exactly as the embedded ledger does.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Claim, HOUR_RETENTION_SECS, LEASE_SECS, Ledger, MESSAGE_RETENTION_SECS, State};
use crate::aws::classify;
use crate::error::{Error, Retry};
use crate::policy::Reason;

type Item = HashMap<String, AttributeValue>;

/// A claim succeeds on a new message, an expired lease, a failure, or a forgotten item.
const CLAIM_CONDITION: &str = "attribute_not_exists(pk) \
    OR (#state = :claimed AND lease_until <= :now) \
    OR #state = :failed \
    OR expires_at <= :now";

/// A ledger in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoLedger {
        DynamoLedger {
            client,
            table: table.into(),
        }
    }

    /// The partition key of a message's item.
    pub fn message_pk(key: &str) -> String {
        format!("msg#{key}")
    }

    /// The partition key of a sender's item.
    pub fn sender_pk(sender: &str) -> String {
        format!("sender#{}", sender.trim().to_lowercase())
    }

    /// The partition key of the reply counter for the clock hour starting at `hour`.
    pub fn hour_pk(hour: u64) -> String {
        format!("hour#{hour}")
    }

    fn fail<E>(&self, operation: String, error: &aws_sdk_dynamodb::error::SdkError<E>) -> Error
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (retry, message) = classify(error);
        Error::Ledger {
            operation: format!("{operation} in table {}", self.table),
            message,
            retry,
        }
    }

    /// The result of a conditional write as an answer: `true` when it was made, `false`
    /// when its condition did not hold (someone else holds the sender, the hour is
    /// full, there is nothing to release); any other failure is an error.
    fn conditional<O, E>(
        &self,
        result: Result<O, aws_sdk_dynamodb::error::SdkError<E>>,
        operation: &str,
    ) -> Result<bool, Error>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.code() == Some("ConditionalCheckFailedException")) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail(operation.to_string(), &e)),
        }
    }

    async fn get(&self, pk: String, operation: impl Fn() -> String) -> Result<Option<Item>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.fail(operation(), &e))?;
        Ok(output.item)
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The attributes a state is stored as, `state` first.
fn attributes(state: &State) -> Vec<(&'static str, AttributeValue)> {
    match state {
        State::Claimed { lease_until } => {
            vec![("state", s("claimed")), ("lease_until", n(*lease_until))]
        }
        State::Sent {
            reply_id,
            provider_id,
            at,
        } => vec![
            ("state", s("sent")),
            ("reply_id", s(reply_id)),
            ("provider_id", s(provider_id)),
            ("at", n(*at)),
        ],
        State::Skipped { reason, at } => vec![
            ("state", s("skipped")),
            ("reason", s(reason.code())),
            ("at", n(*at)),
        ],
        State::Failed { error, at } => {
            vec![("state", s("failed")), ("error", s(error)), ("at", n(*at))]
        }
    }
}

/// Reads a message item back into its state.
fn state_of(item: &Item) -> Result<State, String> {
    let need_text = |name: &str| {
        text(item, name)
            .map(str::to_string)
            .ok_or_else(|| format!("the item has no {name}"))
    };
    let need_number =
        |name: &str| number(item, name).ok_or_else(|| format!("the item has no numeric {name}"));
    match text(item, "state") {
        Some("claimed") => Ok(State::Claimed {
            lease_until: need_number("lease_until")?,
        }),
        Some("sent") => Ok(State::Sent {
            reply_id: need_text("reply_id")?,
            provider_id: need_text("provider_id")?,
            at: need_number("at")?,
        }),
        Some("skipped") => {
            let code = need_text("reason")?;
            let reason: Reason = serde_json::from_value(serde_json::Value::String(code.clone()))
                .map_err(|_| format!("the item's reason {code:?} is not a reason code"))?;
            Ok(State::Skipped {
                reason,
                at: need_number("at")?,
            })
        }
        Some("failed") => Ok(State::Failed {
            error: need_text("error")?,
            at: need_number("at")?,
        }),
        Some(other) => Err(format!("the item's state {other:?} is unknown")),
        None => Err("the item has no state".to_string()),
    }
}

/// The live state in a message item, or `None` when it expired at `now`.
fn live_state(item: &Item, now: u64) -> Result<Option<State>, String> {
    match number(item, "expires_at") {
        Some(expires_at) if expires_at <= now => Ok(None),
        _ => state_of(item).map(Some),
    }
}

impl Ledger for DynamoLedger {
    async fn claim(&self, key: &str, source: &str, now: u64) -> Result<Claim, Error> {
        let operation = || format!("claiming {key}");
        let pk = DynamoLedger::message_pk(key);
        let claimed = State::Claimed {
            lease_until: now + LEASE_SECS,
        };
        let mut item: Item = attributes(&claimed)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        item.insert("pk".to_string(), s(&pk));
        item.insert("source".to_string(), s(source));
        item.insert("at".to_string(), n(now));
        item.insert("expires_at".to_string(), n(now + MESSAGE_RETENTION_SECS));

        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Acquired),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let held = self.get(pk, operation).await?;
                let state = held.as_ref().map(|item| live_state(item, now));
                match state {
                    Some(Ok(Some(state))) => Ok(Claim::Held(state)),
                    Some(Err(message)) => Err(Error::Ledger {
                        operation: operation(),
                        message,
                        retry: Retry::Permanent,
                    }),
                    // It expired or vanished between the write and the read.
                    Some(Ok(None)) | None => Err(Error::Ledger {
                        operation: operation(),
                        message: "the item changed during the claim; retry".to_string(),
                        retry: Retry::Retryable,
                    }),
                }
            }
            Err(e) => Err(self.fail(operation(), &e)),
        }
    }

    async fn peek(&self, key: &str, now: u64) -> Result<Option<State>, Error> {
        let operation = || format!("reading {key}");
        let Some(item) = self.get(DynamoLedger::message_pk(key), operation).await? else {
            return Ok(None);
        };
        live_state(&item, now).map_err(|message| Error::Ledger {
            operation: operation(),
            message,
            retry: Retry::Permanent,
        })
    }

    /// Only a claimed item is settled: the condition keeps a late run from overwriting a
    /// state another run already recorded, and keeps an unknown key from being created.
    async fn settle(&self, key: &str, state: State) -> Result<(), Error> {
        let operation = format!("settling {key}");
        let fields = attributes(&state);
        let set: Vec<String> = fields
            .iter()
            .map(|(name, _)| format!("#{name} = :{name}"))
            .collect();
        let mut expression = format!("SET {}", set.join(", "));
        if !matches!(state, State::Claimed { .. }) {
            expression.push_str(" REMOVE lease_until");
        }

        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(DynamoLedger::message_pk(key)))
            .update_expression(expression)
            .condition_expression("#state = :claimed")
            .expression_attribute_values(":claimed", s("claimed"));
        for (name, value) in fields {
            update = update
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }

        match update.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Ledger {
                    operation,
                    message: "the message is not claimed (never claimed, or settled already)"
                        .to_string(),
                    retry: Retry::Permanent,
                })
            }
            Err(e) => Err(self.fail(operation, &e)),
        }
    }

    async fn last_reply(&self, sender: &str, now: u64) -> Result<Option<u64>, Error> {
        let operation = || "reading an answered sender".to_string();
        let item = self.get(DynamoLedger::sender_pk(sender), operation).await?;
        Ok(item
            .filter(|item| number(item, "expires_at").is_some_and(|at| at > now))
            .and_then(|item| number(&item, "answered_at")))
    }

    async fn replies_in_hour(&self, hour: u64) -> Result<u64, Error> {
        let operation = || "reading the hourly reply count".to_string();
        let item = self.get(DynamoLedger::hour_pk(hour), operation).await?;
        Ok(item.and_then(|item| number(&item, "replies")).unwrap_or(0))
    }

    /// A conditional `ADD`: concurrent invocations can neither lose a count nor pass the
    /// ceiling together.
    async fn reserve_hour(&self, hour: u64, max: u64) -> Result<bool, Error> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(DynamoLedger::hour_pk(hour)))
            .update_expression("ADD replies :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(replies) OR replies < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":expires", n(hour + HOUR_RETENTION_SECS))
            .send()
            .await;
        self.conditional(update, "counting a reply")
    }

    async fn release_hour(&self, hour: u64) -> Result<(), Error> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(DynamoLedger::hour_pk(hour)))
            .update_expression("ADD replies :minus_one")
            .condition_expression("replies > :zero")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".to_string()))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        self.conditional(update, "taking back a counted reply")
            .map(|_| ())
    }

    /// A conditional put: of two deliveries racing for one sender, one wins.
    async fn reserve_reply(&self, sender: &str, at: u64, expires_at: u64) -> Result<bool, Error> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(DynamoLedger::sender_pk(sender)))
            .item("answered_at", n(at))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :at")
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        self.conditional(put, "recording an answered sender")
    }

    async fn release_reply(&self, sender: &str, at: u64) -> Result<(), Error> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(DynamoLedger::sender_pk(sender)))
            .condition_expression("answered_at = :at")
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        self.conditional(delete, "releasing an answered sender")
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item_of(state: &State, expires_at: u64) -> Item {
        let mut item: Item = attributes(state)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        item.insert("expires_at".to_string(), n(expires_at));
        item
    }

    #[test]
    fn every_state_round_trips_through_an_item() {
        let states = [
            State::Claimed { lease_until: 5 },
            State::Sent {
                reply_id: "r@example.com".into(),
                provider_id: "0100".into(),
                at: 7,
            },
            State::Skipped {
                reason: Reason::OwnMail,
                at: 8,
            },
            State::Failed {
                error: "sending reply x: boom".into(),
                at: 9,
            },
        ];
        for state in states {
            assert_eq!(state_of(&item_of(&state, 100)).unwrap(), state);
        }
    }

    #[test]
    fn expired_item_is_not_live_though_it_is_still_stored() {
        let item = item_of(&State::Claimed { lease_until: 5 }, 100);
        assert!(live_state(&item, 99).unwrap().is_some());
        assert_eq!(live_state(&item, 100).unwrap(), None);
    }

    #[test]
    fn unknown_state_or_reason_is_an_error_not_a_guess() {
        let mut item = item_of(&State::Claimed { lease_until: 5 }, 100);
        item.insert("state".into(), s("lost"));
        assert!(state_of(&item).unwrap_err().contains("\"lost\""));
        let mut item = item_of(
            &State::Skipped {
                reason: Reason::List,
                at: 1,
            },
            100,
        );
        item.insert("reason".into(), s("lists"));
        assert!(state_of(&item).is_err());
    }

    #[test]
    fn sender_key_is_lowercased() {
        assert_eq!(
            DynamoLedger::sender_pk(" Jane@Example.ORG"),
            "sender#jane@example.org"
        );
    }
}

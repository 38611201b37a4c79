//! One message through every stage: parse, claim, decide, compose, send, settle.
//!
//! The Lambda handler and the CLI both call [`Pipeline::process`], so the deployed
//! function and a laptop replay make the same decision for the same bytes.

use serde::Serialize;

use crate::address::sender_key;
use crate::config::Config;
use crate::error::{Error, Retry};
use crate::ledger::{Claim, Ledger, State, hour_of};
use crate::mailer::Mailer;
use crate::message::{self, Inbound};
use crate::policy::{self, Decision, Facts, Reason};
use crate::redact;
use crate::reply;

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Where the message came from: a file path or an `s3://` URL.
    pub source: String,
    pub message_id: Option<String>,
    pub decision: Verdict,
    /// The reason code of a skip.
    pub reason: Option<Reason>,
    /// Why the deciding rule fired, or the error.
    pub detail: String,
    /// The reply's recipient and subject; `None` on a skip.
    pub to: Option<String>,
    pub subject: Option<String>,
}

/// The three ends a message can come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Reply,
    Skip,
    Error,
}

impl Outcome {
    /// The outcome for a message whose processing failed with `error`.
    pub fn failed(source: &str, message_id: Option<String>, error: &Error) -> Outcome {
        Outcome {
            source: source.to_string(),
            message_id,
            decision: Verdict::Error,
            reason: None,
            detail: error.to_string(),
            to: None,
            subject: None,
        }
    }

    fn skipped(source: &str, message_id: Option<String>, reason: Reason, detail: String) -> Self {
        Outcome {
            source: source.to_string(),
            message_id,
            decision: Verdict::Skip,
            reason: Some(reason),
            detail,
            to: None,
            subject: None,
        }
    }

    /// Writes the one log line this message gets.
    pub fn log(&self) {
        let reason = self.reason.map(Reason::code).unwrap_or_default();
        let to = self.to.as_deref().map(redact::address).unwrap_or_default();
        let message_id = self.message_id.as_deref().unwrap_or_default();
        match self.decision {
            Verdict::Error => tracing::error!(
                source = %self.source, message_id, error = %self.detail, "message failed"
            ),
            _ => tracing::info!(
                source = %self.source,
                message_id,
                outcome = ?self.decision,
                reason,
                detail = %self.detail,
                to = %to,
                "message handled"
            ),
        }
    }
}

/// The stages, over a ledger and a mailer.
pub struct Pipeline<L, M> {
    pub config: Config,
    ledger: L,
    mailer: M,
    dry_run: bool,
}

impl<L: Ledger, M: Mailer> Pipeline<L, M> {
    /// With `dry_run`, decides from what the ledger knows but records and sends nothing.
    pub fn new(config: Config, ledger: L, mailer: M, dry_run: bool) -> Self {
        Pipeline {
            config,
            ledger,
            mailer,
            dry_run,
        }
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// Handles one raw message from `source` at `now` (Unix seconds).
    ///
    /// Returns an error only for a fault of the ledger or the mailer; everything about
    /// the message itself ends as an [`Outcome`]. A failed send is recorded as failed, so
    /// a retry may claim the message again.
    pub async fn process(&self, source: &str, raw: &[u8], now: u64) -> Result<Outcome, Error> {
        let parsed = message::parse(raw);
        let key = match &parsed {
            Ok(inbound) => message::identity(inbound, raw),
            Err(_) => message::identity(&Inbound::default(), raw),
        };

        let prior = self.claim(&key, source, now).await?;
        let acquired = prior.is_none();

        let inbound = match parsed {
            Ok(inbound) => inbound,
            Err(message::Unparseable(why)) => {
                let outcome = Outcome::skipped(source, None, Reason::Unparseable, why);
                return self.finish_skip(&key, acquired, outcome, now).await;
            }
        };

        // The sender's history and the hour's count matter only to a message that would
        // be answered, so the ledger is asked for them only then: a duplicate or a list
        // message costs no extra request.
        let mut facts = Facts {
            prior,
            now,
            ..Facts::default()
        };
        let mut decision = policy::decide(&inbound, &self.config, &facts);
        if let Decision::Reply { to } = &decision {
            facts.last_replied_at = self.ledger.last_reply(&sender_key(to), now).await?;
            facts.replies_this_hour = Some(self.ledger.replies_in_hour(hour_of(now)).await?);
            decision = policy::decide(&inbound, &self.config, &facts);
        }

        let message_id = inbound.message_id.clone();
        let to = match decision {
            Decision::Skip { reason, detail, .. } => {
                let outcome = Outcome::skipped(source, message_id, reason, detail);
                return self.finish_skip(&key, acquired, outcome, now).await;
            }
            Decision::Reply { to } => to,
        };

        let when = i64::try_from(now).unwrap_or(i64::MAX);
        let composed = reply::compose(&inbound, &key, &to, &self.config, when);
        let composed = match composed {
            Ok(composed) => composed,
            Err(message) => {
                let error = Error::Compose {
                    message_id: key.clone(),
                    message,
                };
                self.settle_failed(&key, &error, now).await?;
                return Err(error);
            }
        };

        let outcome = Outcome {
            source: source.to_string(),
            message_id,
            decision: Verdict::Reply,
            reason: None,
            detail: format!("answered as <{}>", composed.message_id),
            to: Some(composed.to.clone()),
            subject: Some(composed.subject.clone()),
        };
        if self.dry_run {
            return Ok(outcome);
        }

        // The sender and the hour's slot are taken before sending, atomically, so two
        // deliveries racing for one sender (or for the last slot of the hour) cannot both
        // send, and a retry after a send whose bookkeeping failed finds the sender
        // answered.
        let sender = sender_key(&composed.to);
        let expires_at = now + self.config.reply_window_secs();
        if !self.ledger.reserve_reply(&sender, now, expires_at).await? {
            let detail = format!(
                "{} was answered by another delivery just now",
                redact::address(&sender)
            );
            let outcome = Outcome::skipped(source, outcome.message_id, Reason::RateLimited, detail);
            return self.finish_skip(&key, acquired, outcome, now).await;
        }
        let hour = hour_of(now);
        let max = self.config.max_replies_per_hour;
        match self.ledger.reserve_hour(hour, max).await {
            Ok(true) => {}
            Ok(false) => {
                self.release(&sender, now, None).await;
                let detail = format!("the hour's {max} replies (max_replies_per_hour) are taken");
                let outcome =
                    Outcome::skipped(source, outcome.message_id, Reason::RateLimited, detail);
                return self.finish_skip(&key, acquired, outcome, now).await;
            }
            Err(error) => {
                self.release(&sender, now, None).await;
                return Err(error);
            }
        }

        let provider_id = match self.mailer.send(&composed).await {
            Ok(id) => id,
            Err(error) => {
                self.release(&sender, now, Some(hour)).await;
                self.settle_failed(&key, &error, now).await?;
                return Err(error);
            }
        };

        // Sent: from here on no error may fail the invocation, since Lambda's retry would
        // then send again. A message left claimed expires into a retry that finds its
        // sender answered.
        let sent = State::Sent {
            reply_id: composed.message_id.clone(),
            provider_id,
            at: now,
        };
        if let Err(error) = self.ledger.settle(&key, sent).await {
            tracing::error!(source, %error, "the reply was sent but not recorded as sent");
        }
        Ok(outcome)
    }

    /// Gives back the sender (and the hour's slot) taken for a reply that was not sent.
    /// Best effort: a reservation left behind only delays that sender's next reply.
    async fn release(&self, sender: &str, at: u64, hour: Option<u64>) {
        if let Err(error) = self.ledger.release_reply(sender, at).await {
            tracing::warn!(%error, "could not release an answered sender");
        }
        if let Some(hour) = hour
            && let Err(error) = self.ledger.release_hour(hour).await
        {
            tracing::warn!(%error, "could not take back a counted reply");
        }
    }

    /// Records a message that was not read (too large to fetch) as skipped, keyed by
    /// where it is stored since its identity is unknown. Like an unparseable message, it
    /// is reported with its own reason every time: that check comes before `duplicate`.
    pub async fn skip_unread(
        &self,
        source: &str,
        reason: Reason,
        detail: String,
        now: u64,
    ) -> Result<Outcome, Error> {
        let key = format!("object:{source}");
        let acquired = self.claim(&key, source, now).await?.is_none();
        let outcome = Outcome::skipped(source, None, reason, detail);
        self.finish_skip(&key, acquired, outcome, now).await
    }

    /// Claims `key`, or in a dry run only looks at it. Returns how it was handled before,
    /// or `None` when it is ours to handle now.
    async fn claim(&self, key: &str, source: &str, now: u64) -> Result<Option<String>, Error> {
        if self.dry_run {
            let state = self.ledger.peek(key, now).await?;
            return Ok(state.filter(|s| !s.reclaimable(now)).map(|s| s.describe()));
        }
        match self.ledger.claim(key, source, now).await? {
            Claim::Acquired => Ok(None),
            Claim::Held(State::Claimed { lease_until }) => Err(Error::Ledger {
                operation: format!("claiming {key}"),
                message: format!("another run holds it until {lease_until}; retry later"),
                retry: Retry::Retryable,
            }),
            Claim::Held(state) => Ok(Some(state.describe())),
        }
    }

    async fn finish_skip(
        &self,
        key: &str,
        acquired: bool,
        outcome: Outcome,
        now: u64,
    ) -> Result<Outcome, Error> {
        if acquired && !self.dry_run {
            let reason = outcome.reason.unwrap_or(Reason::NotMail);
            self.ledger
                .settle(key, State::Skipped { reason, at: now })
                .await?;
        }
        Ok(outcome)
    }

    async fn settle_failed(&self, key: &str, error: &Error, now: u64) -> Result<(), Error> {
        if self.dry_run {
            return Ok(());
        }
        let failed = State::Failed {
            error: error.to_string(),
            at: now,
        };
        self.ledger.settle(key, failed).await
    }
}

/// The current time in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

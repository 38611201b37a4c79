//! The ledger: which messages were handled and which senders were answered.
//!
//! A message is claimed before anything is sent, with a lease, so two deliveries of the
//! same event (Lambda delivers at least once) cannot both send. The claim then settles
//! into its final state. A claim whose lease ran out (the process died mid-way) and a
//! failed message can be claimed again.

pub mod dynamodb;
pub mod local;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::policy::Reason;

/// How long a claim protects a message in progress: longer than one invocation may run
/// (the function's timeout is 30 s), shorter than the minute before Lambda's first retry
/// of an event, so a retry after a crash finds the lease expired and takes the message.
pub const LEASE_SECS: u64 = 45;

/// How long a handled message is remembered. Redeliveries come within hours; a month
/// also covers an operator replaying a bucket prefix by hand.
pub const MESSAGE_RETENTION_SECS: u64 = 30 * 86_400;

/// The state of one message in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// Being processed until `lease_until` (Unix seconds).
    Claimed {
        lease_until: u64,
    },
    /// Replied: our Message-ID and the mailer's id for the send.
    Sent {
        reply_id: String,
        provider_id: String,
        at: u64,
    },
    Skipped {
        reason: Reason,
        at: u64,
    },
    /// Failed permanently or after the caller gave up; may be claimed again.
    Failed {
        error: String,
        at: u64,
    },
}

impl State {
    /// A short description for the `duplicate` detail and logs.
    pub fn describe(&self) -> String {
        match self {
            State::Claimed { lease_until } => format!("claimed until {lease_until}"),
            State::Sent { reply_id, .. } => format!("replied with <{reply_id}>"),
            State::Skipped { reason, .. } => format!("skipped as {reason}"),
            State::Failed { error, .. } => format!("failed: {error}"),
        }
    }

    /// Returns true if and only if a new claim may take this record over at `now`.
    pub fn reclaimable(&self, now: u64) -> bool {
        match self {
            State::Claimed { lease_until } => *lease_until <= now,
            State::Failed { .. } => true,
            State::Sent { .. } | State::Skipped { .. } => false,
        }
    }
}

/// The result of trying to claim a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to process.
    Acquired,
    /// Someone handled it, or is handling it now.
    Held(State),
}

/// Storage for message states and answered senders.
pub trait Ledger: Send + Sync {
    /// Claims `key` for processing at `now`, unless it is held.
    fn claim(
        &self,
        key: &str,
        source: &str,
        now: u64,
    ) -> impl Future<Output = Result<Claim, Error>> + Send;

    /// Reads the state of `key` without claiming it (for dry runs).
    fn peek(
        &self,
        key: &str,
        now: u64,
    ) -> impl Future<Output = Result<Option<State>, Error>> + Send;

    /// Moves a claimed message into its final `state`.
    fn settle(&self, key: &str, state: State) -> impl Future<Output = Result<(), Error>> + Send;

    /// When `sender` was last answered, if that is still within its window at `now`.
    fn last_reply(
        &self,
        sender: &str,
        now: u64,
    ) -> impl Future<Output = Result<Option<u64>, Error>> + Send;

    /// Records `sender` as answered at `at`, until `expires_at`, unless a record that is
    /// still live at `at` exists. Returns whether this call made the record.
    ///
    /// Called before sending, so two deliveries racing for one sender cannot both send,
    /// and a retry after a send whose bookkeeping failed finds the sender answered.
    fn reserve_reply(
        &self,
        sender: &str,
        at: u64,
        expires_at: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Removes the record [`Ledger::reserve_reply`] made at `at`, after the send failed.
    fn release_reply(
        &self,
        sender: &str,
        at: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// How many replies were counted in the clock hour that starts at `hour` (Unix
    /// seconds, a multiple of 3600).
    fn replies_in_hour(&self, hour: u64) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Counts one reply in the clock hour that starts at `hour`, unless `max` are counted
    /// already. Returns whether it counted.
    fn reserve_hour(&self, hour: u64, max: u64)
    -> impl Future<Output = Result<bool, Error>> + Send;

    /// Takes back one reply counted by [`Ledger::reserve_hour`], after the send failed.
    fn release_hour(&self, hour: u64) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The start of the clock hour `at` (Unix seconds) falls in.
pub fn hour_of(at: u64) -> u64 {
    at - at % 3600
}

/// Hourly counters are kept a day, long enough to read them back in an incident.
pub const HOUR_RETENTION_SECS: u64 = 86_400;

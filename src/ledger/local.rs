//! The embedded ledger: one redb database file.
//!
//! redb over SQLite: it is pure Rust (no C library to cross-compile for arm64), stores
//! exactly the two key-value tables we need with ACID transactions, and its single writer
//! makes the claim's check-and-set atomic without any locking of ours.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Claim, LEASE_SECS, Ledger, MESSAGE_RETENTION_SECS, State};
use crate::error::{Error, Retry};

/// Message key to a JSON [`Entry`].
const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("messages");
/// Sender key to (answered at, expires at).
const SENDERS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("senders");
/// Start of a clock hour to the replies counted in it.
const HOURS: TableDefinition<u64, u64> = TableDefinition::new("hours");

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    source: String,
    expires_at: u64,
    #[serde(flatten)]
    state: State,
}

/// A ledger in a database file.
pub struct FileLedger {
    db: Database,
    path: PathBuf,
}

impl FileLedger {
    /// Opens or creates the database at `path`.
    pub fn open(path: &Path) -> Result<FileLedger, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let db = Database::create(path).map_err(|e| Error::Ledger {
            operation: format!("opening the ledger {}", path.display()),
            message: e.to_string(),
            retry: Retry::Permanent,
        })?;
        let ledger = FileLedger {
            db,
            path: path.to_path_buf(),
        };
        ledger.write("creating tables", |txn| {
            txn.open_table(MESSAGES)?;
            txn.open_table(SENDERS)?;
            txn.open_table(HOURS)?;
            Ok(())
        })?;
        Ok(ledger)
    }

    fn fail(&self, operation: &str, e: impl std::fmt::Display) -> Error {
        Error::Ledger {
            operation: format!("{operation} in {}", self.path.display()),
            message: e.to_string(),
            retry: Retry::Retryable,
        }
    }

    fn write<T>(
        &self,
        operation: &str,
        body: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, Error> {
        let txn = self.db.begin_write().map_err(|e| self.fail(operation, e))?;
        let value = body(&txn).map_err(|e| self.fail(operation, e))?;
        txn.commit().map_err(|e| self.fail(operation, e))?;
        Ok(value)
    }

    fn read_entry(&self, key: &str) -> Result<Option<Entry>, Error> {
        let operation = format!("reading {key}");
        let txn = self.db.begin_read().map_err(|e| self.fail(&operation, e))?;
        let table = txn
            .open_table(MESSAGES)
            .map_err(|e| self.fail(&operation, e))?;
        let Some(bytes) = table.get(key).map_err(|e| self.fail(&operation, e))? else {
            return Ok(None);
        };
        decode(bytes.value())
            .map(Some)
            .map_err(|e| self.fail(&operation, e))
    }
}

fn decode(bytes: &[u8]) -> Result<Entry, serde_json::Error> {
    serde_json::from_slice(bytes)
}

fn encode(entry: &Entry) -> Vec<u8> {
    serde_json::to_vec(entry).expect("a ledger entry always serializes: it holds only strings")
}

fn storage(e: impl Into<redb::Error>) -> redb::Error {
    e.into()
}

impl Ledger for FileLedger {
    async fn claim(&self, key: &str, source: &str, now: u64) -> Result<Claim, Error> {
        self.write(&format!("claiming {key}"), |txn| {
            let mut table = txn.open_table(MESSAGES)?;
            let existing = match table.get(key)? {
                Some(bytes) => decode(bytes.value()).ok(),
                None => None,
            };
            if let Some(entry) = existing
                && entry.expires_at > now
                && !entry.state.reclaimable(now)
            {
                return Ok(Claim::Held(entry.state));
            }
            let entry = Entry {
                source: source.to_string(),
                expires_at: now + MESSAGE_RETENTION_SECS,
                state: State::Claimed {
                    lease_until: now + LEASE_SECS,
                },
            };
            table
                .insert(key, encode(&entry).as_slice())
                .map_err(storage)?;
            Ok(Claim::Acquired)
        })
    }

    async fn peek(&self, key: &str, now: u64) -> Result<Option<State>, Error> {
        Ok(self
            .read_entry(key)?
            .filter(|e| e.expires_at > now)
            .map(|e| e.state))
    }

    async fn settle(&self, key: &str, state: State) -> Result<(), Error> {
        let mut entry = self.read_entry(key)?.ok_or_else(|| Error::Ledger {
            operation: format!("settling {key}"),
            message: "the message was never claimed".to_string(),
            retry: Retry::Permanent,
        })?;
        entry.state = state;
        self.write(&format!("settling {key}"), |txn| {
            let mut table = txn.open_table(MESSAGES)?;
            table.insert(key, encode(&entry).as_slice())?;
            Ok(())
        })
    }

    async fn last_reply(&self, sender: &str, now: u64) -> Result<Option<u64>, Error> {
        let operation = "reading an answered sender";
        let txn = self.db.begin_read().map_err(|e| self.fail(operation, e))?;
        let table = txn
            .open_table(SENDERS)
            .map_err(|e| self.fail(operation, e))?;
        let found = table.get(sender).map_err(|e| self.fail(operation, e))?;
        Ok(found
            .map(|guard| guard.value())
            .filter(|(_, expires_at)| *expires_at > now)
            .map(|(at, _)| at))
    }

    async fn replies_in_hour(&self, hour: u64) -> Result<u64, Error> {
        let operation = "reading the hourly reply count";
        let txn = self.db.begin_read().map_err(|e| self.fail(operation, e))?;
        let table = txn.open_table(HOURS).map_err(|e| self.fail(operation, e))?;
        let found = table.get(hour).map_err(|e| self.fail(operation, e))?;
        Ok(found.map_or(0, |guard| guard.value()))
    }

    async fn reserve_hour(&self, hour: u64, max: u64) -> Result<bool, Error> {
        self.write("counting a reply", |txn| {
            let mut table = txn.open_table(HOURS)?;
            let count = table.get(hour)?.map_or(0, |guard| guard.value());
            if count >= max {
                return Ok(false);
            }
            table.insert(hour, count + 1)?;
            Ok(true)
        })
    }

    async fn release_hour(&self, hour: u64) -> Result<(), Error> {
        self.write("taking back a counted reply", |txn| {
            let mut table = txn.open_table(HOURS)?;
            let count = table.get(hour)?.map_or(0, |guard| guard.value());
            table.insert(hour, count.saturating_sub(1))?;
            Ok(())
        })
    }

    async fn reserve_reply(&self, sender: &str, at: u64, expires_at: u64) -> Result<bool, Error> {
        self.write("recording an answered sender", |txn| {
            let mut table = txn.open_table(SENDERS)?;
            let live = table.get(sender)?.is_some_and(|guard| guard.value().1 > at);
            if live {
                return Ok(false);
            }
            table.insert(sender, (at, expires_at))?;
            Ok(true)
        })
    }

    async fn release_reply(&self, sender: &str, at: u64) -> Result<(), Error> {
        self.write("releasing an answered sender", |txn| {
            let mut table = txn.open_table(SENDERS)?;
            let ours = table
                .get(sender)?
                .is_some_and(|guard| guard.value().0 == at);
            if ours {
                table.remove(sender)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Reason;

    fn ledger() -> (tempfile::TempDir, FileLedger) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("ledger.redb")).unwrap();
        (dir, ledger)
    }

    #[tokio::test]
    async fn second_claim_is_held_while_the_first_is_in_progress() {
        let (_dir, l) = ledger();
        assert_eq!(l.claim("k", "a.eml", 100).await.unwrap(), Claim::Acquired);
        let held = l.claim("k", "b.eml", 101).await.unwrap();
        assert_eq!(
            held,
            Claim::Held(State::Claimed {
                lease_until: 100 + LEASE_SECS
            })
        );
    }

    #[tokio::test]
    async fn settled_message_stays_held() {
        let (_dir, l) = ledger();
        l.claim("k", "a.eml", 100).await.unwrap();
        let skipped = State::Skipped {
            reason: Reason::List,
            at: 100,
        };
        l.settle("k", skipped.clone()).await.unwrap();
        assert_eq!(
            l.claim("k", "a.eml", 100 + LEASE_SECS * 2).await.unwrap(),
            Claim::Held(skipped)
        );
    }

    #[tokio::test]
    async fn expired_lease_and_failure_can_be_claimed_again() {
        let (_dir, l) = ledger();
        l.claim("k", "a.eml", 100).await.unwrap();
        assert_eq!(
            l.claim("k", "a.eml", 100 + LEASE_SECS).await.unwrap(),
            Claim::Acquired
        );
        l.settle(
            "k",
            State::Failed {
                error: "x".into(),
                at: 1,
            },
        )
        .await
        .unwrap();
        assert_eq!(
            l.claim("k", "a.eml", 100 + LEASE_SECS + 1).await.unwrap(),
            Claim::Acquired
        );
    }

    #[tokio::test]
    async fn answered_sender_is_remembered_until_expiry() {
        let (_dir, l) = ledger();
        assert!(l.reserve_reply("jane@example.org", 10, 20).await.unwrap());
        assert!(!l.reserve_reply("jane@example.org", 15, 25).await.unwrap());
        assert_eq!(
            l.last_reply("jane@example.org", 19).await.unwrap(),
            Some(10)
        );
        assert_eq!(l.last_reply("jane@example.org", 20).await.unwrap(), None);
        assert_eq!(l.last_reply("joe@example.org", 0).await.unwrap(), None);
    }

    #[tokio::test]
    async fn replies_are_counted_per_hour() {
        let (_dir, l) = ledger();
        assert_eq!(l.replies_in_hour(3600).await.unwrap(), 0);
        assert!(l.reserve_hour(3600, 2).await.unwrap());
        assert!(l.reserve_hour(3600, 2).await.unwrap());
        assert!(!l.reserve_hour(3600, 2).await.unwrap());
        assert_eq!(l.replies_in_hour(3600).await.unwrap(), 2);
        l.release_hour(3600).await.unwrap();
        assert_eq!(l.replies_in_hour(3600).await.unwrap(), 1);
        assert_eq!(l.replies_in_hour(7200).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_released_sender_can_be_answered_again_but_not_someone_elses() {
        let (_dir, l) = ledger();
        assert!(l.reserve_reply("jane@example.org", 10, 100).await.unwrap());
        l.release_reply("jane@example.org", 9).await.unwrap();
        assert_eq!(
            l.last_reply("jane@example.org", 11).await.unwrap(),
            Some(10)
        );
        l.release_reply("jane@example.org", 10).await.unwrap();
        assert_eq!(l.last_reply("jane@example.org", 11).await.unwrap(), None);
        assert!(l.reserve_reply("jane@example.org", 12, 100).await.unwrap());
    }

    #[tokio::test]
    async fn state_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        {
            let l = FileLedger::open(&path).unwrap();
            l.claim("k", "a.eml", 100).await.unwrap();
        }
        let l = FileLedger::open(&path).unwrap();
        assert!(matches!(
            l.peek("k", 101).await.unwrap(),
            Some(State::Claimed { .. })
        ));
    }
}

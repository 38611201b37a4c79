//! Fetching the raw message an event points at.

pub mod local;
pub mod s3;

use std::future::Future;

use crate::error::Error;
use crate::event::ObjectRef;

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Body(Vec<u8>),
    /// Larger than the limit: not read, so a huge object costs no memory.
    TooLarge {
        size: u64,
    },
}

/// A place raw messages are stored, addressed by bucket and decoded key.
pub trait ObjectStore: Send + Sync {
    /// Reads the whole object, refusing one larger than `max_bytes`. A missing object is a
    /// permanent error.
    fn fetch(
        &self,
        object: &ObjectRef,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Fetched, Error>> + Send;
}

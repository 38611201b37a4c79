//! The one error type of the crate.
//!
//! Every error names the operation and the object it failed on, and knows whether it is
//! worth retrying: that split decides whether the Lambda invocation fails (so Lambda
//! retries the event) or succeeds with the failure recorded.

use std::path::PathBuf;

/// Whether trying the same operation again may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A fault that a later try may not meet: a timeout, throttling, a network error, a
    /// busy database, or a fault of the deployment (a refused permission, a missing
    /// table) that an operator can fix. The invocation fails, so Lambda retries.
    Retryable,
    /// A fault of the message itself, the same on every try: its object is gone, or it
    /// cannot be composed. Recorded against the message; the invocation succeeds.
    Permanent,
}

/// An error with the operation, the object and the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{operation}: {message}")]
    Store {
        operation: String,
        message: String,
        retry: Retry,
    },

    #[error("{operation}: {message}")]
    Ledger {
        operation: String,
        message: String,
        retry: Retry,
    },

    #[error("{operation}: {message}")]
    Mailer {
        operation: String,
        message: String,
        retry: Retry,
    },

    #[error("composing the reply to {message_id}: {message}")]
    Compose { message_id: String, message: String },

    #[error("decoding the event: {0}")]
    Event(String),

    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// Returns whether the failed operation may succeed when tried again.
    pub fn retry(&self) -> Retry {
        match self {
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::InvalidInput => Retry::Permanent,
                _ => Retry::Retryable,
            },
            Error::Store { retry, .. } | Error::Ledger { retry, .. } => *retry,
            Error::Mailer { retry, .. } => *retry,
            Error::Compose { .. } | Error::Event(_) | Error::Config(_) => Retry::Permanent,
        }
    }

    /// Returns true if and only if trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry() == Retry::Retryable
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

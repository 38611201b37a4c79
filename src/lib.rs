//! mailroom answers inbound mail stored by Amazon SES with one courteous, loop-safe
//! automatic reply, and never answers the same message or sender twice.
//!
//! The modules follow the data as it flows:
//!
//! - [`event`]: decodes the S3 notification Lambda delivers into object references.
//! - [`store`]: fetches the raw message bytes (a folder on disk, or S3).
//! - [`message`]: parses the bytes into the few facts the decision needs. Pure.
//! - [`policy`]: decides, rule by rule, whether a reply is appropriate. Pure.
//! - [`reply`]: composes the reply MIME from scratch. Pure.
//! - [`ledger`]: remembers handled messages and answered senders (an embedded
//!   database file, or DynamoDB).
//! - [`mailer`]: sends the reply (an outbox folder of `.eml` files, or SES v2).
//! - [`pipeline`]: runs one message through the stages above and reports its outcome.
//! - [`handler`]: the Lambda function body, over any store, ledger and mailer.
//! - [`replay`]: enumerates stored messages on disk (files, folders, mbox) for the CLI.
//! - [`config`]: settings from a TOML file or `MAILROOM_*` environment variables.
//! - [`aws`]: the S3, DynamoDB and SES clients, with their retry and timeout budget.
//!
//! Parsing, deciding and composing do no I/O, so they are tested exhaustively in
//! isolation; the store, ledger and mailer are small traits with a local implementation
//! and an AWS one.

pub mod address;
pub mod aws;
pub mod config;
pub mod error;
pub mod event;
pub mod handler;
pub mod ledger;
pub mod mailer;
pub mod message;
pub mod pipeline;
pub mod policy;
pub mod redact;
pub mod replay;
pub mod reply;
pub mod store;

pub use config::Config;
pub use error::Error;

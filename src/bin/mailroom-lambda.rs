//! The mailroom Lambda function: S3 `ObjectCreated` notifications in, replies out.
//!
//! Configuration comes from `MAILROOM_*` environment variables. `MAILROOM_BACKEND`
//! chooses the adapters:
//!
//! - `aws` (the default): S3, the DynamoDB table `MAILROOM_TABLE`, and SES v2, through
//!   clients built once from the SDK's standard configuration chain.
//! - `local`: folders (`MAILROOM_STORE_DIR` for the objects, `MAILROOM_STATE_DIR` for the
//!   ledger and outbox), so the function can be exercised without AWS.
//!
//! A retryable failure is reported to the runtime as an error, so Lambda delivers the
//! event again; its error type is `mailroom.Retryable` (or `mailroom.Permanent` for a
//! payload that is not an S3 notification at all).

use std::path::PathBuf;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use mailroom::aws::AwsClients;
use mailroom::config::Config;
use mailroom::handler;
use mailroom::ledger::dynamodb::DynamoLedger;
use mailroom::ledger::local::FileLedger;
use mailroom::mailer::outbox::Outbox;
use mailroom::mailer::ses::SesMailer;
use mailroom::pipeline::Pipeline;
use mailroom::store::local::FileStore;
use mailroom::store::s3::S3Store;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Logs why the function cannot start, once, as JSON like everything else.
fn cannot_start(message: String) -> BoxError {
    tracing::error!(error = %message, "cannot start");
    message.into()
}

fn env_path(name: &str) -> Result<PathBuf, BoxError> {
    std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
        cannot_start(format!(
            "{name} is not set; MAILROOM_BACKEND=local needs it"
        ))
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let own = [
        "MAILROOM_BACKEND",
        "MAILROOM_STORE_DIR",
        "MAILROOM_STATE_DIR",
    ];
    for name in Config::unknown_env_names(std::env::vars().map(|(name, _)| name), &own) {
        tracing::warn!(variable = %name, "not a mailroom setting; ignored (misspelt?)");
    }
    let config = Config::from_env(|name| std::env::var(name).ok())
        .map_err(|e| cannot_start(format!("bad configuration: {e}")))?;

    let backend = std::env::var("MAILROOM_BACKEND").unwrap_or_else(|_| "aws".to_string());
    match backend.as_str() {
        "aws" => {
            let table = config.table.clone().ok_or_else(|| {
                cannot_start(
                    "MAILROOM_TABLE is not set; MAILROOM_BACKEND=aws needs the DynamoDB \
                     ledger table"
                        .to_string(),
                )
            })?;
            let clients = AwsClients::load().await;
            let store = S3Store::new(clients.s3.clone());
            let ledger = DynamoLedger::new(clients.dynamodb.clone(), table);
            let mailer = SesMailer::new(clients.ses.clone(), &config);
            let pipeline = Pipeline::new(config, ledger, mailer, false);
            serve(&store, &pipeline).await
        }
        "local" => {
            let store = FileStore::new(env_path("MAILROOM_STORE_DIR")?);
            let state = env_path("MAILROOM_STATE_DIR")?;
            let ledger = FileLedger::open(&state.join("ledger.redb"))
                .map_err(|e| cannot_start(e.to_string()))?;
            let pipeline = Pipeline::new(config, ledger, Outbox::new(state.join("outbox")), false);
            serve(&store, &pipeline).await
        }
        other => Err(cannot_start(format!(
            "MAILROOM_BACKEND: {other:?} is not a backend; use aws or local"
        ))),
    }
}

/// A failed invocation. The runtime logs it with `Debug` once per invocation (each
/// record's failure was logged already), so `Debug` is one readable line.
struct Failure(mailroom::Error);

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let then = if self.0.is_retryable() {
            "Lambda will deliver the event again"
        } else {
            "retrying cannot help"
        };
        write!(f, "invocation failed, {then}: {}", self.0)
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Diagnostic {
        let kind = if failure.0.is_retryable() {
            "Retryable"
        } else {
            "Permanent"
        };
        Diagnostic {
            error_type: format!("mailroom.{kind}"),
            error_message: failure.0.to_string(),
        }
    }
}

async fn serve<S, L, M>(store: &S, pipeline: &Pipeline<L, M>) -> Result<(), BoxError>
where
    S: mailroom::store::ObjectStore,
    L: mailroom::ledger::Ledger,
    M: mailroom::mailer::Mailer,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let response = handler::handle(&event.payload, store, pipeline)
            .await
            .map_err(Failure)?;
        let value = serde_json::to_value(response)
            .expect("a response of strings and options always serializes");
        Ok::<Value, Failure>(value)
    }))
    .await
}

//! The mailroom Lambda function: S3 `ObjectCreated` notifications in, replies out.
//!
//! Configuration comes from `MAILROOM_*` environment variables. `MAILROOM_BACKEND=local`
//! runs on folders (`MAILROOM_STORE_DIR` for the objects, `MAILROOM_STATE_DIR` for the
//! ledger and outbox) so the function can be exercised without AWS.

use std::path::PathBuf;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use mailroom::config::Config;
use mailroom::handler;
use mailroom::ledger::local::FileLedger;
use mailroom::mailer::outbox::Outbox;
use mailroom::pipeline::Pipeline;
use mailroom::store::local::FileStore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env_path(name: &str) -> Result<PathBuf, BoxError> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{name} is not set; MAILROOM_BACKEND=local needs it").into())
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

    let config = Config::from_env(|name| std::env::var(name).ok()).map_err(|e| {
        tracing::error!(error = %e, "bad configuration");
        e
    })?;

    let backend = std::env::var("MAILROOM_BACKEND").unwrap_or_else(|_| "aws".to_string());
    match backend.as_str() {
        "local" => {
            let store = FileStore::new(env_path("MAILROOM_STORE_DIR")?);
            let state = env_path("MAILROOM_STATE_DIR")?;
            let ledger = FileLedger::open(&state.join("ledger.redb"))?;
            let pipeline = Pipeline::new(config, ledger, Outbox::new(state.join("outbox")), false);
            serve(&store, &pipeline).await
        }
        other => Err(format!("MAILROOM_BACKEND: {other:?} is not a backend; use local").into()),
    }
}

async fn serve<S, L, M>(store: &S, pipeline: &Pipeline<L, M>) -> Result<(), BoxError>
where
    S: mailroom::store::ObjectStore,
    L: mailroom::ledger::Ledger,
    M: mailroom::mailer::Mailer,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let response = handler::handle(&event.payload, store, pipeline).await?;
        Ok::<Value, BoxError>(serde_json::to_value(response)?)
    }))
    .await
}

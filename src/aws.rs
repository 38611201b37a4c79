//! The AWS clients: built once at start-up, shared by every invocation.
//!
//! Region, credentials and endpoints come from the SDK's standard chain (environment,
//! profile files, the Lambda execution role), including its own `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` variables, so pointing the function at an emulator needs
//! no code of ours. Retries and timeouts are fixed here, not read from the environment,
//! so that the worst case of one message stays inside the function's timeout.
//!
//! # The time budget
//!
//! A replied message makes eight calls in sequence: GetObject (and its body), the claim,
//! the sender lookup, the hourly count, SendEmail, the sender record, the count and the
//! settle. Each operation is capped as a whole, retries included, and the body read has
//! its own deadline:
//!
//! | call | per attempt | per operation | count |
//! |---|---|---|---|
//! | S3 GetObject | 2 s | 3 s, then 5 s for the body | 1 |
//! | DynamoDB | 0.8 s | 1.5 s | 6 |
//! | SES SendEmail | 4 s | 6 s | 1 |
//!
//! That is 23 s at worst, under the 30 s function timeout with room for parsing and the
//! runtime's own calls. Every call gets up to 3 attempts (standard mode, backoff from
//! 100 ms up to 1 s), so a throttled or failed call is usually retried within the same
//! invocation before the invocation itself fails and Lambda retries the event.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_s3::config::SharedInterceptor;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_types::service_config::ServiceConfigKey;

use crate::error::Retry;

/// The Lambda function's configured timeout, which the budget must stay under.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts per operation, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Within one region a TCP and TLS handshake takes milliseconds; a second means the
/// endpoint is unreachable, and another attempt on a fresh connection is the cure.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one kind of call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// One attempt, from sending the request to the response headers.
    pub attempt: Duration,
    /// The whole operation, retries and backoff included.
    pub operation: Duration,
}

pub const S3_BUDGET: Budget = Budget {
    attempt: Duration::from_secs(2),
    operation: Duration::from_secs(3),
};

/// Reading a GetObject body is not covered by the operation timeout (the body streams
/// after the operation returns); 5 s reads a 40 MB message at 8 MB/s.
pub const S3_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// DynamoDB answers in milliseconds; a slow attempt is better abandoned and retried.
pub const DYNAMODB_BUDGET: Budget = Budget {
    attempt: Duration::from_millis(800),
    operation: Duration::from_millis(1500),
};

/// SES answers in well under a second, but an attempt cut short may still have been
/// sent, and the retry would send it twice: the send gets the most generous attempt.
pub const SES_BUDGET: Budget = Budget {
    attempt: Duration::from_secs(4),
    operation: Duration::from_secs(6),
};

/// DynamoDB calls per replied message: claim, sender lookup, hourly count, sender record,
/// count, settle.
const DYNAMODB_CALLS_PER_REPLY: u32 = 6;

/// The longest one replied message can take in AWS calls.
pub const WORST_CASE_PER_MESSAGE: Duration = Duration::from_millis(
    S3_BUDGET.operation.as_millis() as u64
        + S3_BODY_TIMEOUT.as_millis() as u64
        + DYNAMODB_CALLS_PER_REPLY as u64 * DYNAMODB_BUDGET.operation.as_millis() as u64
        + SES_BUDGET.operation.as_millis() as u64,
);

const _: () = assert!(
    WORST_CASE_PER_MESSAGE.as_millis() + 5_000 <= FUNCTION_TIMEOUT.as_millis(),
    "the AWS call budget must leave at least 5 s of the function timeout"
);

/// The three service clients every backend call goes through.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ses: aws_sdk_sesv2::Client,
    /// Whether S3 is addressed path-style (`endpoint/bucket/key`), because an endpoint
    /// override is in force.
    pub s3_path_style: bool,
}

/// The standard configuration chain with this module's retry and timeout settings;
/// tests add an endpoint, a region and static credentials to it.
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
}

fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

fn timeouts(budget: Budget) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(budget.attempt)
        .operation_timeout(budget.operation)
        .build()
}

impl AwsClients {
    /// Loads the standard configuration chain and builds the clients from it.
    pub async fn load() -> AwsClients {
        AwsClients::new(&loader().load().await, &[])
    }

    /// Builds the clients from a loaded configuration, each with its own budget and with
    /// `interceptors` (request counting in tests) on all three.
    pub fn new(conf: &SdkConfig, interceptors: &[SharedInterceptor]) -> AwsClients {
        // An emulator on `localhost` has no `bucket.localhost` subdomains, and the SDK
        // switches to path style by itself only for IP-literal endpoints.
        let s3_path_style = s3_endpoint_override(conf).is_some();

        let mut s3 = aws_sdk_s3::config::Builder::from(conf)
            .timeout_config(timeouts(S3_BUDGET))
            .force_path_style(s3_path_style);
        let mut dynamodb =
            aws_sdk_dynamodb::config::Builder::from(conf).timeout_config(timeouts(DYNAMODB_BUDGET));
        let mut ses =
            aws_sdk_sesv2::config::Builder::from(conf).timeout_config(timeouts(SES_BUDGET));
        for interceptor in interceptors {
            s3.push_interceptor(interceptor.clone());
            dynamodb.push_interceptor(interceptor.clone());
            ses.push_interceptor(interceptor.clone());
        }

        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            ses: aws_sdk_sesv2::Client::from_conf(ses.build()),
            s3_path_style,
        }
    }
}

/// The endpoint S3 will be sent to instead of AWS's, resolved in the same order as the
/// SDK resolves it: set in code, then `AWS_ENDPOINT_URL_S3` (or the profile's `s3`
/// section), then `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`).
fn s3_endpoint_override(conf: &SdkConfig) -> Option<String> {
    let global = conf.endpoint_url().map(str::to_string);
    if conf.get_origin("endpoint_url").is_client_config() {
        return global;
    }
    let key = ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build();
    let service = match (key, conf.service_config()) {
        (Ok(key), Some(loader)) => loader.load_config(key),
        _ => None,
    };
    service.or(global)
}

/// Error codes that are about one message or object, not about the deployment: the
/// object is gone, or S3 cannot hand it out. Retrying that message never helps.
const MESSAGE_CODES: &[&str] = &[
    "NoSuchKey",
    "NotFound",
    "InvalidObjectState",
    "NoSuchVersion",
];

/// Whether a failed call should fail the invocation (`Retryable`) or be recorded
/// against the one message (`Permanent`).
///
/// Only a fault of the message itself is permanent. Everything else (throttling, a 5xx,
/// but also AccessDenied, a missing table, an unverified identity, a sending quota, a
/// malformed request) is a fault of the deployment that hits every message alike:
/// succeeding the invocation would drop mail silently, while failing it lets Lambda
/// retry, fires the error alarm, and after the retries puts the event in the failure
/// queue, where it waits until the deployment is fixed.
pub fn service_retry(code: &str, status: u16) -> Retry {
    if MESSAGE_CODES.contains(&code) || (status == 404 && code == "unknown error") {
        Retry::Permanent
    } else {
        Retry::Retryable
    }
}

/// Classifies an SDK failure and describes it in one line.
///
/// Timeouts, connection failures, unreadable responses and a request the SDK could not
/// even build all fail the invocation; see [`service_retry`].
pub fn classify<E>(error: &SdkError<E, HttpResponse>) -> (Retry, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let code = context.err().code().unwrap_or("unknown error");
            let text = match context.err().message() {
                Some(message) => format!("{code} (HTTP {status}): {message}"),
                None => format!("{code} (HTTP {status})"),
            };
            (service_retry(code, status), text)
        }
        SdkError::TimeoutError(_) => (Retry::Retryable, "timed out".to_string()),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (Retry::Retryable, causes(error))
        }
        _ => (Retry::Retryable, causes(error)),
    }
}

/// An error and its sources on one line, `outer: inner: innermost`.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some wrappers repeat their source's message; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::Region;
    use aws_sdk_s3::config::Credentials;

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        assert_eq!(service_retry("ThrottlingException", 400), Retry::Retryable);
        assert_eq!(service_retry("SlowDown", 503), Retry::Retryable);
        assert_eq!(
            service_retry("TooManyRequestsException", 429),
            Retry::Retryable
        );
        assert_eq!(service_retry("Whatever", 502), Retry::Retryable);
    }

    #[test]
    fn only_a_missing_object_is_permanent() {
        assert_eq!(service_retry("NoSuchKey", 404), Retry::Permanent);
        assert_eq!(service_retry("unknown error", 404), Retry::Permanent);
    }

    #[test]
    fn faults_of_the_deployment_fail_the_invocation() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "ResourceNotFoundException",
            "MessageRejected",
            "MailFromDomainNotVerifiedException",
            "LimitExceededException",
            "SendingPausedException",
            "ValidationException",
        ] {
            assert_eq!(service_retry(code, 400), Retry::Retryable, "{code}");
        }
    }

    #[test]
    fn budget_fits_the_function_timeout() {
        assert_eq!(WORST_CASE_PER_MESSAGE, Duration::from_secs(23));
        assert!(WORST_CASE_PER_MESSAGE < FUNCTION_TIMEOUT);
    }

    async fn conf(endpoint: Option<&str>) -> SdkConfig {
        let mut loader = loader()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"));
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        loader.load().await
    }

    /// Records the URI of the first request and stops it before it leaves the process.
    #[derive(Debug, Default, Clone)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Option<String>>>);

    impl aws_sdk_s3::config::Intercept for Capture {
        fn name(&self) -> &'static str {
            "Capture"
        }

        fn read_before_transmit(
            &self,
            context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
            _: &aws_sdk_s3::config::RuntimeComponents,
            _: &mut aws_sdk_s3::config::ConfigBag,
        ) -> Result<(), aws_sdk_s3::error::BoxError> {
            *self.0.lock().unwrap() = Some(context.request().uri().to_string());
            Err("captured".into())
        }
    }

    #[tokio::test]
    async fn endpoint_override_switches_s3_to_path_style_and_encodes_the_key() {
        let capture = Capture::default();
        let conf = conf(Some("http://localhost:4566")).await;
        let clients = AwsClients::new(&conf, &[SharedInterceptor::new(capture.clone())]);
        assert!(clients.s3_path_style);

        let sent = clients
            .s3
            .get_object()
            .bucket("mail")
            .key("inbound/a b+c%d é.eml")
            .send()
            .await;
        assert!(sent.is_err());
        let uri = capture.0.lock().unwrap().clone().unwrap();
        assert!(
            uri.starts_with("http://localhost:4566/mail/inbound/a%20b%2Bc%25d%20%C3%A9.eml"),
            "{uri}"
        );
    }
}

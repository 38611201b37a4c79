//! The mailroom command line: replay stored messages through the pipeline on this machine,
//! with an embedded ledger and an outbox folder instead of DynamoDB and SES.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use mailroom::config::Config;
use mailroom::ledger::local::FileLedger;
use mailroom::mailer::outbox::Outbox;
use mailroom::message;
use mailroom::pipeline::{Outcome, Pipeline, Verdict, now};
use mailroom::policy::{self, Decision, Facts, Reason};
use mailroom::replay::{self, Entry};
use mailroom::reply;

#[derive(Parser)]
#[command(
    name = "mailroom",
    version,
    about = "Courteous, loop-safe automatic replies to inbound mail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run stored messages (.eml files, folders, mbox files) through the pipeline.
    Replay {
        /// A TOML configuration file (see mailroom.example.toml); defaults apply without one.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where the ledger database and the outbox folder live.
        #[arg(long, value_name = "DIR", default_value = ".mailroom")]
        state: PathBuf,
        /// Decide only: record nothing and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON object per message on stdout and nothing else.
        #[arg(long)]
        json: bool,
        /// Message files, folders (walked in name order) or mbox files.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Show what is parsed from one message and how every rule judges it.
    Explain {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Exit status 2: the user has something to fix before anything can run.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("mailroom: {message}");
    ExitCode::from(2)
}

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(path) => Config::from_file(path),
        None => Ok(Config::default()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage_error(format!("starting the runtime: {e}")),
    };

    match cli.command {
        Command::Replay {
            config,
            state,
            dry_run,
            json,
            paths,
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(config) => config,
                Err(e) => return usage_error(format!("config: {e}")),
            };
            runtime.block_on(run_replay(config, &state, dry_run, json, &paths))
        }
        Command::Explain { config, file } => {
            let config = match load_config(config.as_deref()) {
                Ok(config) => config,
                Err(e) => return usage_error(format!("config: {e}")),
            };
            explain(&config, &file)
        }
    }
}

async fn run_replay(
    config: Config,
    state: &Path,
    dry_run: bool,
    json: bool,
    paths: &[PathBuf],
) -> ExitCode {
    let files = match replay::files(paths) {
        Ok(files) => files,
        Err(e) => return usage_error(e),
    };
    let ledger = match FileLedger::open(&state.join("ledger.redb")) {
        Ok(ledger) => ledger,
        Err(e) => return usage_error(e),
    };
    let outbox = state.join("outbox");
    let max_bytes = config.max_message_bytes;
    let pipeline = Pipeline::new(config, ledger, Outbox::new(&outbox), dry_run);

    let progress = std::io::stderr().is_terminal() && files.len() > 20;
    let mut outcomes = Vec::new();
    let mut stdout = std::io::stdout().lock();
    if !json {
        let _ = writeln!(
            stdout,
            "{:<6} {:<18} {:<40} DETAIL",
            "RESULT", "REASON", "SOURCE"
        );
    }

    for (i, file) in files.iter().enumerate() {
        if progress {
            eprint!("\r[{}/{}] ", i + 1, files.len());
        }
        let entries = match replay::read(file, max_bytes) {
            Ok(entries) => entries,
            Err(e) => {
                let outcome = Outcome::failed(&file.display().to_string(), None, &e);
                outcome.log();
                print_outcome(&mut stdout, &outcome, json);
                outcomes.push(outcome.decision);
                continue;
            }
        };
        for entry in entries {
            let outcome = match entry {
                Entry::Message(stored) => {
                    match pipeline.process(&stored.source, &stored.raw, now()).await {
                        Ok(outcome) => outcome,
                        Err(e) => {
                            let id = message::parse(&stored.raw).ok().and_then(|m| m.message_id);
                            Outcome::failed(&stored.source, id, &e)
                        }
                    }
                }
                Entry::TooLarge { source, size } => {
                    let why = format!("{size} bytes is over max_message_bytes ({max_bytes})");
                    pipeline
                        .skip_unread(&source, Reason::TooLarge, why, now())
                        .await
                        .unwrap_or_else(|e| Outcome::failed(&source, None, &e))
                }
            };
            outcome.log();
            print_outcome(&mut stdout, &outcome, json);
            outcomes.push(outcome.decision);
        }
    }
    if progress {
        eprint!("\r");
    }

    let count = |v: Verdict| outcomes.iter().filter(|d| **d == v).count();
    let (replied, skipped, failed) = (
        count(Verdict::Reply),
        count(Verdict::Skip),
        count(Verdict::Error),
    );
    if !json {
        let verb = if dry_run { "would reply" } else { "replied" };
        let _ = writeln!(
            stdout,
            "\n{} messages: {replied} {verb}, {skipped} skipped, {failed} failed{}",
            outcomes.len(),
            if dry_run {
                String::new()
            } else {
                format!("; replies in {}", outbox.display())
            }
        );
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_outcome(out: &mut impl Write, outcome: &Outcome, json: bool) {
    let decision = match outcome.decision {
        Verdict::Reply => "reply",
        Verdict::Skip => "skip",
        Verdict::Error => "error",
    };
    let reason = outcome.reason.map(Reason::code);
    if json {
        let line = json!({
            "source": outcome.source,
            "message_id": outcome.message_id,
            "decision": decision,
            "reason": reason,
            "to": outcome.to,
            "subject": outcome.subject,
        });
        let _ = writeln!(out, "{line}");
        return;
    }
    let detail = match (&outcome.to, &outcome.subject) {
        (Some(to), Some(subject)) => format!("to {to}: {subject}"),
        _ => outcome.detail.clone(),
    };
    let _ = writeln!(
        out,
        "{decision:<6} {:<18} {:<40} {detail}",
        reason.unwrap_or("-"),
        outcome.source
    );
}

fn explain(config: &Config, file: &Path) -> ExitCode {
    let entries = match replay::read(file, config.max_message_bytes) {
        Ok(entries) => entries,
        Err(e) => return usage_error(e),
    };
    let Some(first) = entries.into_iter().next() else {
        return usage_error(format!("{}: no message in the file", file.display()));
    };
    let raw = match first {
        Entry::Message(stored) => stored.raw,
        Entry::TooLarge { size, .. } => {
            println!("decision: skip (too-large): {size} bytes is over max_message_bytes");
            return ExitCode::SUCCESS;
        }
    };

    let inbound = match message::parse(&raw) {
        Ok(inbound) => inbound,
        Err(message::Unparseable(why)) => {
            println!("decision: skip (unparseable): {why}");
            return ExitCode::SUCCESS;
        }
    };
    let key = message::identity(&inbound, &raw);
    let parsed = serde_json::to_string_pretty(&inbound).unwrap_or_default();
    println!("identity: {key}\nparsed: {parsed}\n");

    let facts = Facts {
        now: now(),
        ..Facts::default()
    };
    println!(
        "rules (the ledger is not consulted: duplicate, reply-window and hourly-ceiling \
         see no history):"
    );
    for result in policy::explain(&inbound, config, &facts) {
        let state = match (&result.fired, result.enabled) {
            (None, _) => "pass".to_string(),
            (Some(why), true) => format!("FIRES [{}]: {why}", result.reason),
            (Some(why), false) => format!("would fire [{}], disabled: {why}", result.reason),
        };
        println!("  {:<20} {state}", result.rule);
    }

    match policy::decide(&inbound, config, &facts) {
        Decision::Reply { to } => {
            let when = i64::try_from(facts.now).unwrap_or_default();
            let subject = reply::subject_for(&inbound, &to, config, when);
            println!("\ndecision: reply to {to} with subject {subject:?}");
        }
        Decision::Skip {
            reason,
            rule,
            detail,
        } => {
            println!("\ndecision: skip ({reason}), decided by rule {rule}: {detail}");
        }
    }
    ExitCode::SUCCESS
}

//! Settings, from a TOML file (the CLI) or `MAILROOM_*` environment variables (Lambda).
//!
//! Both sources fill the same [`Config`] and pass the same [`Config::validate`], so a bad
//! value fails at start-up with its key named, never halfway through a batch of mail.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::address::{parse_reply_address, split_display};

/// RFC 5230 section 4.6 lets a site cap the vacation period; a year is ours.
pub const MAX_REPLY_WINDOW_DAYS: u32 = 365;

/// SES accepts inbound messages up to 40 MB; anything bigger was not stored by SES.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 40 * 1024 * 1024;

const DEFAULT_TEXT: &str = "Hello,\n\n\
Thank you for your message. It has reached us, and a person will read it soon.\n\n\
This is an automatic reply; there is no need to answer it.\n";

/// Everything the pipeline needs to know about the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The addresses mail is received at; mail from these is never answered.
    pub inbound_addresses: Vec<String>,
    /// The reply's From, `local@domain` or `Name <local@domain>`.
    pub from: String,
    /// The reply subject template; `{subject}` is the original subject.
    pub subject: String,
    /// The reply's plain-text body template; see [`crate::reply`] for the placeholders.
    pub text: String,
    /// An optional HTML body template; with it, replies are multipart/alternative.
    pub html: Option<String>,
    /// Templates for mail addressed to one inbound address, keyed by that address; what a
    /// template leaves out comes from the keys above.
    pub templates: BTreeMap<String, Template>,
    /// A sender answered within this many days is not answered again.
    pub reply_window_days: u32,
    /// When set, a message without the SES spam and virus verdicts is not answered.
    pub require_verdicts: bool,
    /// The S3 key prefix SES writes under; objects outside it are ignored.
    pub prefix: String,
    /// The DynamoDB ledger table (AWS backend only).
    pub table: Option<String>,
    /// The SES configuration set replies are sent with (AWS backend only).
    pub configuration_set: Option<String>,
    /// Messages larger than this are skipped unread.
    pub max_message_bytes: u64,
    /// At most this many replies in one clock hour, whoever the senders: a flood or a
    /// forged-sender campaign cannot burn the sending reputation.
    pub max_replies_per_hour: u64,
    /// Rules (by name, see `mailroom explain`) that never fire.
    pub disabled_rules: Vec<String>,
    /// Sender local parts never answered; a leading or trailing `*` is a wildcard.
    pub system_senders: Vec<String>,
}

/// A reply template for one inbound address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Template {
    pub from: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// The template that applies to one message, with every part filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub from_name: Option<&'a str>,
    pub from_address: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
}

/// Local parts of robots and no-reply addresses, after the classic vacation program and
/// the no-reply conventions of bulk senders.
pub const DEFAULT_SYSTEM_SENDERS: &[&str] = &[
    "mailer-daemon",
    "listserv",
    "majordomo",
    "owner-*",
    "*-owner",
    "*-request",
    "noreply",
    "no-reply",
    "do-not-reply",
    "donotreply",
    "do_not_reply",
    "bounce",
    "bounces",
    "*-bounces",
];

impl Default for Config {
    fn default() -> Config {
        Config {
            inbound_addresses: vec!["hello@example.com".to_string()],
            from: "hello@example.com".to_string(),
            subject: "Auto: {subject}".to_string(),
            text: DEFAULT_TEXT.to_string(),
            html: None,
            templates: BTreeMap::new(),
            reply_window_days: 7,
            require_verdicts: false,
            prefix: "inbound/".to_string(),
            table: None,
            configuration_set: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_replies_per_hour: 1000,
            disabled_rules: Vec::new(),
            system_senders: DEFAULT_SYSTEM_SENDERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// The kind of value a key holds, for decoding environment variables.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    List,
    Number,
    Flag,
    /// A JSON object, for the nested `templates` table.
    Json,
}

const KEYS: &[(&str, Kind)] = &[
    ("inbound_addresses", Kind::List),
    ("from", Kind::Text),
    ("subject", Kind::Text),
    ("text", Kind::Text),
    ("html", Kind::Text),
    ("templates", Kind::Json),
    ("reply_window_days", Kind::Number),
    ("require_verdicts", Kind::Flag),
    ("prefix", Kind::Text),
    ("table", Kind::Text),
    ("configuration_set", Kind::Text),
    ("max_message_bytes", Kind::Number),
    ("max_replies_per_hour", Kind::Number),
    ("disabled_rules", Kind::List),
    ("system_senders", Kind::List),
];

/// Keys the function cannot run without: a default would answer from example.com.
const REQUIRED_IN_ENV: &[&str] = &["from", "inbound_addresses"];

impl Config {
    /// Reads and validates a TOML file; keys it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        config.validate()?;
        Ok(config.normalized())
    }

    /// Reads `MAILROOM_<KEY>` variables through `lookup` (lists are comma-separated).
    ///
    /// `from` and `inbound_addresses` are required here: a deployed function must never
    /// fall back to the example addresses. `require_verdicts` defaults to true.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut table = toml::Table::new();

        for (key, kind) in KEYS {
            let var = format!("MAILROOM_{}", key.to_ascii_uppercase());
            let Some(raw) = lookup(&var) else {
                if REQUIRED_IN_ENV.contains(key) {
                    return Err(format!("{var} is not set; it is required"));
                }
                continue;
            };
            // An empty value is a half-done setting, not a choice: `MAILROOM_TABLE=` or
            // `MAILROOM_REQUIRE_VERDICTS=` must not quietly mean "none" or "off".
            if raw.trim().is_empty() {
                return Err(format!("{var} is set but empty; give a value or unset it"));
            }
            let value = match kind {
                Kind::Text => toml::Value::String(raw),
                Kind::List => toml::Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_string()))
                        .collect(),
                ),
                Kind::Number => raw
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| format!("{var}: expected a whole number, got {raw:?}"))?,
                Kind::Json => {
                    let json: serde_json::Value = serde_json::from_str(&raw)
                        .map_err(|e| format!("{var}: not a JSON object: {e}"))?;
                    toml::Value::try_from(json)
                        .map_err(|e| format!("{var}: not a table of templates: {e}"))?
                }
                Kind::Flag => match raw.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
                    "0" | "false" | "no" | "off" | "" => toml::Value::Boolean(false),
                    _ => return Err(format!("{var}: expected true or false, got {raw:?}")),
                },
            };
            table.insert(key.to_string(), value);
        }

        // Deployed, a reply to a message SES did not judge risks backscatter: strict
        // unless the operator says otherwise.
        table
            .entry("require_verdicts")
            .or_insert(toml::Value::Boolean(true));

        let config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| format!("MAILROOM_*: {}", e.message()))?;
        config.validate().map_err(|e| {
            let (key, rest) = e.split_once(':').unwrap_or((&e, ""));
            format!("MAILROOM_{}:{rest}", key.to_ascii_uppercase())
        })?;
        Ok(config.normalized())
    }

    /// The `MAILROOM_*` names among `names` that are neither a setting nor one of
    /// `others`: most likely misspelt settings, which would otherwise be ignored.
    pub fn unknown_env_names(names: impl Iterator<Item = String>, others: &[&str]) -> Vec<String> {
        names
            .filter(|name| name.starts_with("MAILROOM_") && !others.contains(&name.as_str()))
            .filter(|name| {
                !KEYS
                    .iter()
                    .any(|(key, _)| name.eq_ignore_ascii_case(&format!("MAILROOM_{key}")))
            })
            .collect()
    }

    /// Puts every configured address in the form mail is compared in: domains lowercased
    /// and internationalized ones in punycode, so `hello@bücher.example` matches mail to
    /// `hello@xn--bcher-kva.example` and no raw UTF-8 reaches a header we write.
    /// Call only after [`Config::validate`] passed.
    fn normalized(mut self) -> Config {
        let address = |a: &str| parse_reply_address(a).unwrap_or_else(|_| a.trim().to_string());
        let display = |from: &str| match split_display(from) {
            (Some(name), a) => format!("{name} <{}>", address(a)),
            (None, a) => address(a),
        };
        self.inbound_addresses = self.inbound_addresses.iter().map(|a| address(a)).collect();
        self.from = display(&self.from);
        self.templates = std::mem::take(&mut self.templates)
            .into_iter()
            .map(|(key, mut template)| {
                template.from = template.from.as_deref().map(display);
                (address(&key), template)
            })
            .collect();
        self
    }

    /// Checks every value; the error starts with the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.inbound_addresses.is_empty() {
            return Err("inbound_addresses: list at least one address".to_string());
        }
        for address in &self.inbound_addresses {
            parse_reply_address(address)
                .map_err(|e| format!("inbound_addresses: {address:?}: {e}"))?;
        }

        check_template("", Some(&self.from), Some(&self.subject), Some(&self.text))?;
        for (address, template) in &self.templates {
            let key = format!("templates.{address:?}.");
            if !self
                .inbound_addresses
                .iter()
                .any(|own| own.trim().eq_ignore_ascii_case(address.trim()))
            {
                return Err(format!(
                    "templates: {address:?} is not one of inbound_addresses"
                ));
            }
            let t = template;
            check_template(&key, t.from.as_ref(), t.subject.as_ref(), t.text.as_ref())?;
        }

        if !(1..=MAX_REPLY_WINDOW_DAYS).contains(&self.reply_window_days) {
            return Err(format!(
                "reply_window_days: {} is outside 1..={MAX_REPLY_WINDOW_DAYS} (RFC 5230 4.6)",
                self.reply_window_days
            ));
        }

        if self.prefix.starts_with('/') {
            return Err(format!("prefix: {:?} must not start with /", self.prefix));
        }
        if !(1024..=DEFAULT_MAX_MESSAGE_BYTES * 2).contains(&self.max_message_bytes) {
            return Err(format!(
                "max_message_bytes: {} is outside 1024..={}",
                self.max_message_bytes,
                DEFAULT_MAX_MESSAGE_BYTES * 2
            ));
        }
        for (key, value) in [
            ("table", &self.table),
            ("configuration_set", &self.configuration_set),
            ("html", &self.html),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(format!(
                    "{key}: must not be empty; leave the key out instead"
                ));
            }
        }
        if !(1..=1_000_000).contains(&self.max_replies_per_hour) {
            return Err(format!(
                "max_replies_per_hour: {} is outside 1..=1000000",
                self.max_replies_per_hour
            ));
        }
        for name in &self.disabled_rules {
            if crate::policy::ALWAYS_ON.contains(&name.as_str()) {
                return Err(format!(
                    "disabled_rules: {name:?} cannot be switched off; it is what keeps a \
                     redelivered message from being answered twice"
                ));
            }
            if !crate::policy::rule_names().any(|known| known == name) {
                let known: Vec<_> = crate::policy::rule_names().collect();
                return Err(format!(
                    "disabled_rules: {name:?} is not a rule; the rules are {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The reply From address without its display name.
    pub fn from_address(&self) -> &str {
        split_display(&self.from).1
    }

    /// Every address we send from: the global `from` and each template's.
    pub fn from_addresses(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.from.as_str())
            .chain(self.templates.values().filter_map(|t| t.from.as_deref()))
            .map(|from| split_display(from).1)
    }

    /// The template for mail addressed to `inbound` (one of `inbound_addresses`), or the
    /// global one.
    pub fn template_for(&self, inbound: Option<&str>) -> Resolved<'_> {
        let template = inbound.and_then(|address| {
            self.templates
                .iter()
                .find(|(key, _)| key.trim().eq_ignore_ascii_case(address.trim()))
                .map(|(_, template)| template)
        });
        let from = template
            .and_then(|t| t.from.as_deref())
            .unwrap_or(&self.from);
        let (from_name, from_address) = split_display(from);
        Resolved {
            from_name,
            from_address,
            subject: template
                .and_then(|t| t.subject.as_deref())
                .unwrap_or(&self.subject),
            text: template
                .and_then(|t| t.text.as_deref())
                .unwrap_or(&self.text),
            html: template
                .and_then(|t| t.html.as_deref())
                .or(self.html.as_deref()),
        }
    }

    /// The reply From display name, if one is configured.
    pub fn from_name(&self) -> Option<&str> {
        split_display(&self.from).0
    }

    /// The reply window in seconds.
    pub fn reply_window_secs(&self) -> u64 {
        u64::from(self.reply_window_days) * 86_400
    }

    /// Returns true if and only if `address` is one of ours (inbound or from).
    pub fn is_own_address(&self, address: &str) -> bool {
        let address = crate::address::canonical(address);
        let address = address.as_str();
        self.from_addresses()
            .any(|own| own.eq_ignore_ascii_case(address))
            || self
                .inbound_addresses
                .iter()
                .any(|own| own.trim().eq_ignore_ascii_case(address))
    }
}

/// Names where a TOML file went wrong: the line and its text, which holds the key.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return error.message().to_string();
    };
    let line = text[..span.start.min(text.len())].matches('\n').count();
    let source = text.lines().nth(line).unwrap_or_default().trim();
    format!("line {} ({source}): {}", line + 1, error.message())
}

/// Checks the parts of a template that are set; `key` prefixes the key in the error.
fn check_template(
    key: &str,
    from: Option<&String>,
    subject: Option<&String>,
    text: Option<&String>,
) -> Result<(), String> {
    if let Some(from) = from {
        let (name, address) = split_display(from);
        parse_reply_address(address).map_err(|e| format!("{key}from: {from:?}: {e}"))?;
        if name.is_some_and(|n| n.chars().any(char::is_control)) {
            return Err(format!(
                "{key}from: the display name has control characters"
            ));
        }
    }
    if subject.is_some_and(|s| s.trim().is_empty() || s.chars().any(char::is_control)) {
        return Err(format!("{key}subject: must be one non-empty line"));
    }
    if text.is_some_and(|t| t.trim().is_empty()) {
        return Err(format!("{key}text: the reply body must not be empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn example_file_parses_and_documents_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mailroom.example.toml");
        let example = Config::from_file(&path).unwrap();
        let defaults = Config::default();
        assert_eq!(example.subject, defaults.subject);
        assert_eq!(example.text.trim(), defaults.text.trim());
        assert_eq!(example.reply_window_days, defaults.reply_window_days);
        assert_eq!(example.require_verdicts, defaults.require_verdicts);
        assert_eq!(example.prefix, defaults.prefix);
        assert_eq!(example.max_message_bytes, defaults.max_message_bytes);
        assert_eq!(example.system_senders, defaults.system_senders);
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn toml_keys_override_defaults() {
        let c = Config::from_toml("from = \"Desk <desk@example.net>\"\nreply_window_days = 3\n")
            .unwrap();
        assert_eq!(c.from_address(), "desk@example.net");
        assert_eq!(c.from_name(), Some("Desk"));
        assert_eq!(c.reply_window_days, 3);
        assert_eq!(c.subject, "Auto: {subject}");
    }

    #[test]
    fn unknown_toml_key_is_named() {
        let err = Config::from_toml("reply_window = 3\n").unwrap_err();
        assert!(err.contains("reply_window"), "{err}");
    }

    #[test]
    fn wrong_type_is_reported_with_its_line_and_key() {
        let err =
            Config::from_toml("subject = \"x\"\nreply_window_days = \"seven\"\n").unwrap_err();
        assert!(
            err.starts_with("line 2 (reply_window_days = \"seven\")"),
            "{err}"
        );
    }

    #[test]
    fn internationalized_addresses_are_kept_in_punycode() {
        let c = Config::from_toml(
            "inbound_addresses = [\"hello@bücher.example\"]\n\
             from = \"Shop <hello@bücher.example>\"\n",
        )
        .unwrap();
        assert_eq!(c.inbound_addresses, ["hello@xn--bcher-kva.example"]);
        assert_eq!(c.from_address(), "hello@xn--bcher-kva.example");
        assert!(c.is_own_address("hello@bücher.example"));
        assert!(c.is_own_address("HELLO@xn--bcher-kva.example"));
    }

    #[test]
    fn zero_window_is_rejected_naming_the_key() {
        let err = Config::from_toml("reply_window_days = 0\n").unwrap_err();
        assert!(err.starts_with("reply_window_days"), "{err}");
    }

    #[test]
    fn bad_from_is_rejected_naming_the_key() {
        let err = Config::from_toml("from = \"not an address\"\n").unwrap_err();
        assert!(err.starts_with("from"), "{err}");
    }

    #[test]
    fn template_for_an_inbound_address_overrides_only_what_it_sets() {
        let c = Config::from_toml(
            "inbound_addresses = [\"hello@example.com\", \"support@example.com\"]\n\
             [templates.\"support@example.com\"]\n\
             from = \"Support <support@example.com>\"\nsubject = \"Ticket: {subject}\"\n",
        )
        .unwrap();
        let support = c.template_for(Some("Support@Example.com"));
        assert_eq!(support.from_address, "support@example.com");
        assert_eq!(support.subject, "Ticket: {subject}");
        assert_eq!(support.text, c.text);
        assert_eq!(
            c.template_for(Some("hello@example.com")).subject,
            "Auto: {subject}"
        );
        assert!(c.is_own_address("support@example.com"));
    }

    #[test]
    fn template_for_an_unknown_address_is_rejected() {
        let err =
            Config::from_toml("[templates.\"x@example.com\"]\nsubject = \"Hi\"\n").unwrap_err();
        assert!(err.starts_with("templates"), "{err}");
    }

    #[test]
    fn env_reads_templates_as_json() {
        let c = Config::from_env(env(&[
            ("MAILROOM_FROM", "bot@example.org"),
            ("MAILROOM_INBOUND_ADDRESSES", "a@example.org"),
            (
                "MAILROOM_TEMPLATES",
                r#"{"a@example.org": {"subject": "A: {subject}"}}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(
            c.template_for(Some("a@example.org")).subject,
            "A: {subject}"
        );
    }

    #[test]
    fn unknown_disabled_rule_is_named() {
        let err = Config::from_toml("disabled_rules = [\"lists\"]\n").unwrap_err();
        assert!(
            err.starts_with("disabled_rules") && err.contains("\"lists\""),
            "{err}"
        );
    }

    #[test]
    fn duplicate_rule_cannot_be_disabled() {
        let err = Config::from_toml("disabled_rules = [\"duplicate\"]\n").unwrap_err();
        assert!(err.contains("cannot be switched off"), "{err}");
    }

    #[test]
    fn env_reads_lists_numbers_and_flags() {
        let c = Config::from_env(env(&[
            ("MAILROOM_FROM", "bot@example.org"),
            ("MAILROOM_INBOUND_ADDRESSES", "a@example.org, b@example.org"),
            ("MAILROOM_REPLY_WINDOW_DAYS", "14"),
            ("MAILROOM_REQUIRE_VERDICTS", "true"),
            ("MAILROOM_TABLE", "ledger"),
        ]))
        .unwrap();
        assert_eq!(c.inbound_addresses, ["a@example.org", "b@example.org"]);
        assert_eq!(c.reply_window_days, 14);
        assert!(c.require_verdicts);
        assert_eq!(c.table.as_deref(), Some("ledger"));
    }

    #[test]
    fn env_requires_verdicts_unless_told_otherwise() {
        let base = [
            ("MAILROOM_FROM", "bot@example.org"),
            ("MAILROOM_INBOUND_ADDRESSES", "a@example.org"),
        ];
        assert!(Config::from_env(env(&base)).unwrap().require_verdicts);
        let mut off = base.to_vec();
        off.push(("MAILROOM_REQUIRE_VERDICTS", "false"));
        assert!(!Config::from_env(env(&off)).unwrap().require_verdicts);
    }

    #[test]
    fn env_empty_value_is_an_error_naming_the_variable() {
        let err = Config::from_env(env(&[
            ("MAILROOM_FROM", "bot@example.org"),
            ("MAILROOM_INBOUND_ADDRESSES", "a@example.org"),
            ("MAILROOM_REQUIRE_VERDICTS", ""),
        ]))
        .unwrap_err();
        assert!(
            err.starts_with("MAILROOM_REQUIRE_VERDICTS is set but empty"),
            "{err}"
        );
    }

    #[test]
    fn misspelt_env_names_are_found() {
        let names = [
            "MAILROOM_MAX_REPLIES_PER_HOURS",
            "MAILROOM_TABLE",
            "MAILROOM_BACKEND",
            "PATH",
        ];
        let unknown =
            Config::unknown_env_names(names.iter().map(|s| s.to_string()), &["MAILROOM_BACKEND"]);
        assert_eq!(unknown, ["MAILROOM_MAX_REPLIES_PER_HOURS"]);
    }

    #[test]
    fn env_requires_from() {
        let err =
            Config::from_env(env(&[("MAILROOM_INBOUND_ADDRESSES", "a@example.org")])).unwrap_err();
        assert!(err.contains("MAILROOM_FROM"), "{err}");
    }

    #[test]
    fn env_bad_number_names_the_variable() {
        let err = Config::from_env(env(&[
            ("MAILROOM_FROM", "bot@example.org"),
            ("MAILROOM_INBOUND_ADDRESSES", "a@example.org"),
            ("MAILROOM_REPLY_WINDOW_DAYS", "a week"),
        ]))
        .unwrap_err();
        assert!(err.contains("MAILROOM_REPLY_WINDOW_DAYS"), "{err}");
    }

    #[test]
    fn env_validation_error_names_the_variable() {
        let err = Config::from_env(env(&[
            ("MAILROOM_FROM", "bot@example.org"),
            ("MAILROOM_INBOUND_ADDRESSES", "a@example.org"),
            ("MAILROOM_REPLY_WINDOW_DAYS", "9999"),
        ]))
        .unwrap_err();
        assert!(err.starts_with("MAILROOM_REPLY_WINDOW_DAYS:"), "{err}");
    }
}

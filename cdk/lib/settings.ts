import * as fs from "node:fs";
import * as path from "node:path";

/** The default config file, next to `cdk.json`. */
export const DEFAULT_CONFIG_FILE = path.join(
  __dirname,
  "..",
  "mailroom.config.json",
);

/**
 * The user's deployment settings, validated and normalised.
 *
 * Every field can come from CDK context (`-c key=value`) or from the JSON
 * config file; context wins.
 */
export interface MailroomSettings {
  /** CloudFormation stack name. */
  readonly stackName: string;
  /** Domain that receives the mail and sends the replies, lowercase. */
  readonly domain: string;
  /** Exact recipient addresses of the receipt rule, lowercase, no duplicates. */
  readonly recipients: string[];
  /** The address replies are sent from. */
  readonly fromAddress: string;
  /** Route 53 hosted zone to write MX, DKIM and MAIL FROM records into. */
  readonly hostedZoneId?: string;
  /** Name of that hosted zone (the domain itself or a parent of it). */
  readonly hostedZoneName?: string;
  /** Label of the custom MAIL FROM subdomain under `domain`. */
  readonly mailFromSubdomain: string;
  /** Days during which one sender gets at most one reply. */
  readonly replyWindowDays: number;
  /** Days after which raw mail is deleted from the bucket. */
  readonly rawMailRetentionDays: number;
  /** Reserved concurrency of the function. */
  readonly reservedConcurrency: number;
  /** Whether a custom resource makes the new rule set the active one. */
  readonly activateRuleSet: boolean;
  /** An existing (usually already active) rule set to add the rule to. */
  readonly existingRuleSetName?: string;
  /** SNS topic that the alarms notify. */
  readonly alarmTopicArn?: string;
  /** Verified addresses that may receive replies while SES is in the sandbox. */
  readonly sandboxRecipients: string[];
}

/** A configuration problem that stops synthesis, with every fault listed. */
export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `invalid mailroom settings:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
        "set them with `-c key=value` or in mailroom.config.json (see cdk/README.md)",
    );
    this.name = "SettingsError";
  }
}

/** Where settings are read from; `context` takes precedence over `file`. */
export interface SettingsSources {
  /** Reads one CDK context key, e.g. `app.node.tryGetContext`. */
  readonly context: (key: string) => unknown;
  /** The parsed config file, if there is one. */
  readonly file?: Record<string, unknown>;
}

const KNOWN_KEYS = [
  "stackName",
  "domain",
  "recipients",
  "from",
  "hostedZoneId",
  "hostedZoneName",
  "mailFromSubdomain",
  "replyWindowDays",
  "rawMailRetentionDays",
  "reservedConcurrency",
  "activateRuleSet",
  "ruleSetName",
  "alarmTopicArn",
  "sandboxRecipients",
];

const DOMAIN_RE =
  /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL_PART_RE = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/;
const RULE_SET_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$/;
const STACK_NAME_RE = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const TOPIC_ARN_RE =
  /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const ZONE_ID_RE = /^Z[A-Z0-9]{1,31}$/;

/**
 * Reads the config file at `configPath`.
 *
 * Returns `undefined` when `required` is false and the file does not exist;
 * throws a `SettingsError` when the file is unreadable or not a JSON object.
 */
export function readConfigFile(
  configPath: string,
  required: boolean,
): Record<string, unknown> | undefined {
  if (!fs.existsSync(configPath)) {
    if (required) {
      throw new SettingsError([`config file '${configPath}' does not exist`]);
    }
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(configPath, "utf8"));
  } catch (err) {
    throw new SettingsError([
      `config file '${configPath}' is not valid JSON: ${(err as Error).message}`,
    ]);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SettingsError([
      `config file '${configPath}' must hold a JSON object`,
    ]);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Loads the settings for an app: the config file named by the `config`
 * context key (or `mailroom.config.json` when it exists), overlaid by
 * context.
 */
export function loadSettings(
  context: (key: string) => unknown,
): MailroomSettings {
  const explicit = context("config");
  const file =
    typeof explicit === "string" && explicit !== ""
      ? readConfigFile(path.resolve(explicit), true)
      : readConfigFile(DEFAULT_CONFIG_FILE, false);
  return resolveSettings({ context, file });
}

/**
 * Merges and validates settings from their sources.
 *
 * Throws one `SettingsError` naming every missing or malformed setting.
 */
export function resolveSettings(sources: SettingsSources): MailroomSettings {
  const problems: string[] = [];
  const raw = (key: string): unknown => {
    const fromContext = sources.context(key);
    const value = fromContext !== undefined ? fromContext : sources.file?.[key];
    return value === "" || value === null ? undefined : value;
  };

  if (sources.file) {
    for (const key of Object.keys(sources.file)) {
      if (!KNOWN_KEYS.includes(key)) {
        problems.push(
          `unknown setting '${key}' in the config file (known: ${KNOWN_KEYS.join(", ")})`,
        );
      }
    }
  }

  const text = (key: string): string | undefined => {
    const value = raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      problems.push(
        `setting '${key}' must be a string, got ${JSON.stringify(value)}`,
      );
      return undefined;
    }
    return value.trim();
  };
  const required = (key: string, example: string): string | undefined => {
    const value = text(key);
    if (value === undefined) {
      problems.push(
        `missing required setting '${key}': pass -c ${key}=${example} or set "${key}" in mailroom.config.json`,
      );
    }
    return value;
  };
  const list = (key: string): string[] | undefined => {
    const value = raw(key);
    if (value === undefined) return undefined;
    const items = Array.isArray(value)
      ? value
      : typeof value === "string"
        ? value.split(",")
        : undefined;
    if (items === undefined || items.some((i) => typeof i !== "string")) {
      problems.push(
        `setting '${key}' must be a list of strings or a comma-separated string, got ${JSON.stringify(value)}`,
      );
      return undefined;
    }
    return items
      .map((i: string) => i.trim().toLowerCase())
      .filter((i) => i !== "");
  };
  const integer = (
    key: string,
    fallback: number,
    min: number,
    max: number,
  ): number => {
    const value = raw(key);
    if (value === undefined) return fallback;
    const n =
      typeof value === "number"
        ? value
        : typeof value === "string"
          ? Number(value)
          : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(
        `setting '${key}' must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
      return fallback;
    }
    return n;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const value = raw(key);
    if (value === undefined) return fallback;
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    problems.push(
      `setting '${key}' must be true or false, got ${JSON.stringify(value)}`,
    );
    return fallback;
  };
  const matching = (
    key: string,
    re: RegExp,
    form: string,
  ): string | undefined => {
    const value = text(key);
    if (value !== undefined && !re.test(value)) {
      problems.push(`setting '${key}' must be ${form}, got '${value}'`);
      return undefined;
    }
    return value;
  };

  const domain = required("domain", "example.com")?.toLowerCase();
  if (domain !== undefined && !DOMAIN_RE.test(domain)) {
    problems.push(
      `setting 'domain' must be a domain name such as mail.example.com, got '${domain}'`,
    );
  }

  const inDomain = (key: string, address: string): void => {
    const at = address.lastIndexOf("@");
    const local = address.slice(0, at);
    const host = address.slice(at + 1);
    if (at <= 0 || !LOCAL_PART_RE.test(local)) {
      problems.push(
        `setting '${key}' must hold full addresses such as hello@${domain ?? "example.com"} ` +
          `(a bare domain would make a catch-all rule), got '${address}'`,
      );
    } else if (domain !== undefined && host !== domain) {
      problems.push(
        `setting '${key}': address '${address}' is not in the domain '${domain}'`,
      );
    }
  };

  const recipients = list("recipients");
  if (raw("recipients") === undefined) {
    problems.push(
      "missing required setting 'recipients': pass -c recipients=hello@example.com,help@example.com " +
        'or set "recipients" in mailroom.config.json',
    );
  } else if (recipients !== undefined && recipients.length === 0) {
    problems.push("setting 'recipients' must name at least one address");
  } else {
    recipients?.forEach((r) => inDomain("recipients", r));
  }

  const fromAddress = required("from", "hello@example.com")?.toLowerCase();
  if (fromAddress !== undefined) inDomain("from", fromAddress);

  const hostedZoneId = matching(
    "hostedZoneId",
    ZONE_ID_RE,
    "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ",
  );
  let hostedZoneName = text("hostedZoneName")?.toLowerCase().replace(/\.$/, "");
  if (hostedZoneName !== undefined && hostedZoneId === undefined) {
    problems.push("setting 'hostedZoneName' needs 'hostedZoneId' as well");
  }
  if (hostedZoneId !== undefined && domain !== undefined) {
    hostedZoneName = hostedZoneName ?? domain;
    if (domain !== hostedZoneName && !domain.endsWith(`.${hostedZoneName}`)) {
      problems.push(
        `setting 'domain' ('${domain}') must be the hosted zone '${hostedZoneName}' or a subdomain of it`,
      );
    }
  }

  const mailFromSubdomain =
    matching(
      "mailFromSubdomain",
      LABEL_RE,
      "one DNS label such as bounce",
    )?.toLowerCase() ?? "bounce";

  const sandboxRecipients = list("sandboxRecipients") ?? [];
  for (const address of sandboxRecipients) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address)) {
      problems.push(
        `setting 'sandboxRecipients' must hold addresses, got '${address}'`,
      );
    }
  }

  const settings = {
    stackName:
      matching("stackName", STACK_NAME_RE, "a CloudFormation stack name") ??
      "Mailroom",
    domain: domain ?? "",
    recipients: [...new Set(recipients ?? [])],
    fromAddress: fromAddress ?? "",
    hostedZoneId,
    hostedZoneName: hostedZoneId !== undefined ? hostedZoneName : undefined,
    mailFromSubdomain,
    replyWindowDays: integer("replyWindowDays", 7, 1, 365),
    rawMailRetentionDays: integer("rawMailRetentionDays", 30, 1, 3650),
    reservedConcurrency: integer("reservedConcurrency", 5, 1, 1000),
    activateRuleSet: flag("activateRuleSet", false),
    existingRuleSetName: matching(
      "ruleSetName",
      RULE_SET_NAME_RE,
      "an SES rule set name",
    ),
    alarmTopicArn: matching("alarmTopicArn", TOPIC_ARN_RE, "an SNS topic ARN"),
    sandboxRecipients: [...new Set(sandboxRecipients)],
  };
  if (settings.activateRuleSet && settings.existingRuleSetName !== undefined) {
    problems.push(
      "settings 'activateRuleSet' and 'ruleSetName' exclude each other: an existing rule set is activated by its owner",
    );
  }

  if (problems.length > 0) throw new SettingsError(problems);
  return settings;
}

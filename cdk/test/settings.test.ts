import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  DEFAULT_CONFIG_FILE,
  SettingsError,
  loadSettings,
  readConfigFile,
  resolveSettings,
} from "../lib/settings";

const fromContext = (values: Record<string, unknown>) =>
  resolveSettings({ context: (key) => values[key] });

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SettingsError) return err.problems;
    throw err;
  }
  throw new Error("expected a SettingsError");
};

const VALID = {
  domain: "example.com",
  recipients: "hello@example.com",
  from: "hello@example.com",
};

function tempFile(content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailroom-settings-"));
  const file = path.join(dir, "config.json");
  fs.writeFileSync(file, content);
  return file;
}

describe("given no settings at all", () => {
  test("when resolved, then one error names each required setting and how to set it", () => {
    const problems = problemsOf(() => fromContext({}));
    expect(problems).toEqual([
      "missing required setting 'domain': pass -c domain=example.com or set \"domain\" in mailroom.config.json",
      "missing required setting 'recipients': pass -c recipients=hello@example.com,help@example.com or set \"recipients\" in mailroom.config.json",
      "missing required setting 'from': pass -c from=hello@example.com or set \"from\" in mailroom.config.json",
    ]);
  });

  test("when resolved, then the error message points at the README", () => {
    expect(() => fromContext({})).toThrow(
      /invalid mailroom settings:[^]*cdk\/README\.md/,
    );
  });
});

describe("given context values as the CLI passes them (strings)", () => {
  test("when resolved, then lists are split, trimmed, lowercased and deduplicated", () => {
    const s = fromContext({
      ...VALID,
      recipients: " Hello@Example.com, help@example.com,hello@example.com ",
    });
    expect(s.recipients).toEqual(["hello@example.com", "help@example.com"]);
  });

  test("when resolved, then numbers and booleans are parsed", () => {
    const s = fromContext({
      ...VALID,
      replyWindowDays: "3",
      rawMailRetentionDays: "14",
      reservedConcurrency: "2",
      activateRuleSet: "true",
    });
    expect(s).toMatchObject({
      replyWindowDays: 3,
      rawMailRetentionDays: 14,
      reservedConcurrency: 2,
      activateRuleSet: true,
    });
  });

  test("when optional settings are absent, then the documented defaults apply", () => {
    expect(fromContext(VALID)).toEqual({
      stackName: "Mailroom",
      domain: "example.com",
      recipients: ["hello@example.com"],
      fromAddress: "hello@example.com",
      hostedZoneId: undefined,
      hostedZoneName: undefined,
      mailFromSubdomain: "bounce",
      replyWindowDays: 7,
      rawMailRetentionDays: 30,
      reservedConcurrency: 5,
      activateRuleSet: false,
      existingRuleSetName: undefined,
      alarmTopicArn: undefined,
      sandboxRecipients: [],
    });
  });
});

describe("given recipients that would widen the rule", () => {
  test("when a bare domain is listed, then it is refused as a catch-all", () => {
    expect(
      problemsOf(() => fromContext({ ...VALID, recipients: "example.com" })),
    ).toEqual([
      "setting 'recipients' must hold full addresses such as hello@example.com (a bare domain would make a catch-all rule), got 'example.com'",
    ]);
  });

  test("when an address of another domain is listed, then it is refused", () => {
    expect(
      problemsOf(() =>
        fromContext({ ...VALID, recipients: "hello@example.org" }),
      ),
    ).toEqual([
      "setting 'recipients': address 'hello@example.org' is not in the domain 'example.com'",
    ]);
  });

  test("when the list is empty, then it is refused", () => {
    expect(
      problemsOf(() => fromContext({ ...VALID, recipients: " , " })),
    ).toEqual(["setting 'recipients' must name at least one address"]);
  });
});

describe("given malformed optional settings", () => {
  test.each([
    [
      { from: "noreply@elsewhere.example" },
      "setting 'from': address 'noreply@elsewhere.example' is not in the domain 'example.com'",
    ],
    [
      { domain: "localhost" },
      "setting 'domain' must be a domain name such as mail.example.com, got 'localhost'",
    ],
    [
      { replyWindowDays: "0" },
      "setting 'replyWindowDays' must be a whole number from 1 to 365, got \"0\"",
    ],
    [
      { reservedConcurrency: "2.5" },
      "setting 'reservedConcurrency' must be a whole number from 1 to 1000, got \"2.5\"",
    ],
    [
      { activateRuleSet: "yes" },
      "setting 'activateRuleSet' must be true or false, got \"yes\"",
    ],
    [
      { hostedZoneName: "example.com" },
      "setting 'hostedZoneName' needs 'hostedZoneId' as well",
    ],
    [
      { hostedZoneId: "Z0123ABC", hostedZoneName: "example.org" },
      "setting 'domain' ('example.com') must be the hosted zone 'example.org' or a subdomain of it",
    ],
    [
      { hostedZoneId: "not-a-zone" },
      "setting 'hostedZoneId' must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ, got 'not-a-zone'",
    ],
    [
      { mailFromSubdomain: "a.b" },
      "setting 'mailFromSubdomain' must be one DNS label such as bounce, got 'a.b'",
    ],
    [
      { alarmTopicArn: "ops" },
      "setting 'alarmTopicArn' must be an SNS topic ARN, got 'ops'",
    ],
    [
      { ruleSetName: "x", activateRuleSet: "true" },
      "settings 'activateRuleSet' and 'ruleSetName' exclude each other: an existing rule set is activated by its owner",
    ],
  ])("when given %j, then the problem is named", (extra, problem) => {
    expect(problemsOf(() => fromContext({ ...VALID, ...extra }))).toContain(
      problem,
    );
  });

  test("when the zone is a parent of the domain, then it is accepted", () => {
    const s = fromContext({
      domain: "mail.example.com",
      recipients: "hello@mail.example.com",
      from: "hello@mail.example.com",
      hostedZoneId: "Z0123ABC",
      hostedZoneName: "example.com.",
    });
    expect(s.hostedZoneName).toBe("example.com");
  });

  test("when only the zone id is given, then the zone name defaults to the domain", () => {
    expect(
      fromContext({ ...VALID, hostedZoneId: "Z0123ABC" }).hostedZoneName,
    ).toBe("example.com");
  });
});

describe("given a config file", () => {
  test("when context also sets a key, then context wins", () => {
    const s = resolveSettings({
      context: (key) => ({ from: "help@example.com" })[key],
      file: {
        ...VALID,
        recipients: ["hello@example.com"],
        from: "hello@example.com",
      },
    });
    expect(s.fromAddress).toBe("help@example.com");
    expect(s.recipients).toEqual(["hello@example.com"]);
  });

  test("when it holds JSON types, then arrays, numbers and booleans are accepted", () => {
    const s = resolveSettings({
      context: () => undefined,
      file: {
        ...VALID,
        recipients: ["a@example.com", "b@example.com"],
        replyWindowDays: 2,
        activateRuleSet: true,
      },
    });
    expect(s).toMatchObject({
      recipients: ["a@example.com", "b@example.com"],
      replyWindowDays: 2,
      activateRuleSet: true,
    });
  });

  test("when it holds an unknown key, then the typo is reported", () => {
    const problems = problemsOf(() =>
      resolveSettings({
        context: () => undefined,
        file: { ...VALID, recipient: "x" },
      }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^unknown setting 'recipient' in the config file/,
    );
  });

  test("when an explicit config path does not exist, then loading fails with its path", () => {
    const missing = path.join(os.tmpdir(), "no-such-mailroom-config.json");
    expect(() => loadSettings((key) => ({ config: missing })[key])).toThrow(
      `config file '${missing}' does not exist`,
    );
  });

  test("when it is not JSON, then loading fails with the parser's reason", () => {
    const file = tempFile("{ domain: ");
    expect(() => readConfigFile(file, true)).toThrow(/is not valid JSON/);
  });

  test("when it is a JSON array, then loading fails", () => {
    expect(() => readConfigFile(tempFile("[]"), true)).toThrow(
      /must hold a JSON object/,
    );
  });

  test("when an explicit config file is valid, then its settings are loaded", () => {
    const file = tempFile(
      JSON.stringify({
        domain: "reply.example.net",
        recipients: ["info@reply.example.net"],
        from: "info@reply.example.net",
      }),
    );
    const s = loadSettings((key) => ({ config: file })[key]);
    expect(s.domain).toBe("reply.example.net");
  });

  test("when the shipped mailroom.config.json is loaded, then it is valid placeholder data", () => {
    const s = loadSettings(() => undefined);
    expect(fs.existsSync(DEFAULT_CONFIG_FILE)).toBe(true);
    expect(s).toMatchObject({
      domain: "example.com",
      recipients: ["hello@example.com"],
      fromAddress: "hello@example.com",
    });
  });
});

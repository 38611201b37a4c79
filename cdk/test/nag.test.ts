import * as fs from "node:fs";
import * as path from "node:path";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { MailroomStack } from "../lib/mailroom-stack";
import { ENV, newApp, settingsFrom } from "./helpers";

/** Settings that switch on every optional resource of the stack. */
const EVERYTHING = {
  hostedZoneId: "Z0123456789ABCDEFGHIJ",
  activateRuleSet: "true",
  alarmTopicArn: "arn:aws:sns:eu-west-1:123456789012:ops",
  sandboxRecipients: "me@personal.example.org",
};

interface Finding {
  readonly rule: string;
  readonly path: string;
}

function checkedApp(): App {
  const app = newApp();
  new MailroomStack(app, "Mailroom", {
    settings: settingsFrom(EVERYTHING),
    env: ENV,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

/** Synthesizes and returns the findings of the validation report. */
function findingsOf(app: App): Finding[] {
  try {
    app.synth();
  } catch {
    // Findings make synth throw; the report is written all the same.
  }
  const report = JSON.parse(
    fs.readFileSync(path.join(app.outdir, "validation-report.json"), "utf8"),
  );
  return report.pluginReports.flatMap((r: any) =>
    r.violations.flatMap((v: any) =>
      v.violatingConstructs.map((c: any) => ({
        rule: v.ruleName,
        path: c.constructPath,
      })),
    ),
  );
}

/** Every acknowledgement recorded in the construct tree. */
function acknowledgementsOf(
  app: App,
): { id: string; path: string; reason: string }[] {
  return app.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(
          ([id, reason]) => ({
            id: id.replace(/^annotation::/i, ""),
            path: c.node.path,
            reason,
          }),
        ),
      ),
  );
}

describe("given the stack with every option switched on", () => {
  test("when checked with cdk-nag AwsSolutions, then no finding is left", () => {
    expect(findingsOf(checkedApp())).toEqual([]);
  });

  test("when the acknowledgements are withheld, then exactly the acknowledged findings appear", () => {
    // given: the acknowledgements the app records
    const acknowledged = acknowledgementsOf(checkedApp())
      .map((a) => a.id)
      .sort();

    // when: the same app is built with acknowledge() switched off
    const spy = jest
      .spyOn(Validations.prototype, "acknowledge")
      .mockImplementation(() => undefined);
    let raw: Finding[];
    try {
      raw = findingsOf(checkedApp());
    } finally {
      spy.mockRestore();
    }

    // then: each acknowledgement answers a real finding, and nothing else shows
    expect(
      raw.map((f) => f.rule.replace(/^AwsSolutions::/, "")).sort(),
    ).toEqual(acknowledged);
    const normalised = acknowledged.map((id) =>
      id.replace(/MailBucket[0-9A-F]{8}/, "MailBucket<hash>"),
    );
    expect(normalised).toEqual(
      [
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::<PipelineMailBucket<hash>.Arn>/inbound/*]",
        "AwsSolutions-SQS3",
      ].sort(),
    );
  });

  test("when its acknowledgements are read, then each names one rule and gives a specific reason", () => {
    const acknowledgements = acknowledgementsOf(checkedApp());
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const a of acknowledgements) {
      expect(a.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(a.reason.length).toBeGreaterThan(60);
      expect(a.path).not.toBe("Mailroom");
    }
    const reasons = acknowledgements.map((a) => a.reason);
    expect(new Set(reasons).size).toBe(reasons.length);
  });
});

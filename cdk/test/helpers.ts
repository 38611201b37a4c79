import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { InboundMailPipelineProps } from "../lib/inbound-mail-pipeline";
import { MailroomStack } from "../lib/mailroom-stack";
import { MailroomSettings, resolveSettings } from "../lib/settings";

export const ENV = { account: "123456789012", region: "eu-west-1" };

export const BASE_CONTEXT: Record<string, unknown> = {
  domain: "example.com",
  recipients: "hello@example.com,help@example.com",
  from: "hello@example.com",
};

/** The feature flags of cdk.json, so tests build what the CLI builds. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(
    fs.readFileSync(path.join(__dirname, "..", "cdk.json"), "utf8"),
  );
  return cdkJson.context;
}

/** An app that skips Rust bundling, writing into a fresh temp dir. */
export function newApp(): App {
  return new App({
    outdir: fs.mkdtempSync(path.join(os.tmpdir(), "mailroom-cdk-")),
    context: { ...cdkJsonContext(), "aws:cdk:bundling-stacks": [] },
  });
}

export function settingsFrom(
  context: Record<string, unknown> = {},
): MailroomSettings {
  const merged = { ...BASE_CONTEXT, ...context };
  return resolveSettings({ context: (key) => merged[key] });
}

export interface Synthesized {
  readonly app: App;
  readonly stack: MailroomStack;
  readonly template: Template;
}

/** Builds the stack from settings given as context values. */
export function synth(
  context: Record<string, unknown> = {},
  pipelineOverrides?: Partial<InboundMailPipelineProps>,
): Synthesized {
  const app = newApp();
  const stack = new MailroomStack(app, "Mailroom", {
    settings: settingsFrom(context),
    env: ENV,
    pipelineOverrides,
  });
  return { app, stack, template: Template.fromStack(stack) };
}

/** The one resource of a type, failing when there are none or several. */
export function only(
  template: Template,
  type: string,
  props?: Record<string, unknown>,
): { id: string; resource: any } {
  const found = Object.entries(template.findResources(type, props));
  if (found.length !== 1) {
    throw new Error(`expected one ${type}, found ${found.length}`);
  }
  const [id, resource] = found[0];
  return { id, resource };
}

/** The logical id of the mailroom function. */
export function responderId(template: Template): string {
  return only(template, "AWS::Lambda::Function", {
    Properties: { Runtime: "provided.al2023" },
  }).id;
}

/** Every IAM statement in policies attached to the given role. */
export function statementsOfRole(template: Template, roleId: string): any[] {
  const policies = Object.values(
    template.findResources("AWS::IAM::Policy"),
  ).filter((p: any) =>
    (p.Properties.Roles ?? []).some((r: any) => r.Ref === roleId),
  );
  return policies.flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

export function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

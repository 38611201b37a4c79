#!/usr/bin/env node
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { MailroomStack } from "../lib/mailroom-stack";
import { loadSettings, SettingsError } from "../lib/settings";

const app = new App();

// SKIP_BUNDLING=1 synthesizes without building the Rust function (no
// cargo-lambda, no Docker). Such output is for tests and linting only: its
// asset is the source tree, so never deploy it.
if (process.env.SKIP_BUNDLING) {
  app.node.setContext("aws:cdk:bundling-stacks", []);
}

let settings;
try {
  settings = loadSettings((key) => app.node.tryGetContext(key));
} catch (err) {
  if (err instanceof SettingsError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

// The CLI sets these from your credentials. The fallbacks only let an
// offline synth run; a deploy with them fails on the account check.
new MailroomStack(app, settings.stackName, {
  settings,
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT ?? "123456789012",
    region: process.env.CDK_DEFAULT_REGION ?? "us-east-1",
  },
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const CDK_DIR = path.join(__dirname, "..");
const CDK_JSON = JSON.parse(
  fs.readFileSync(path.join(CDK_DIR, "cdk.json"), "utf8"),
);

/**
 * Runs bin/app.ts the way the CDK CLI does: cdk.json context merged with
 * the given context, and the output directory, passed in the environment.
 */
function runApp(context: Record<string, unknown>) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "mailroom-app-"));
  const result = spawnSync(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", "bin/app.ts"],
    {
      cwd: CDK_DIR,
      encoding: "utf8",
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        SKIP_BUNDLING: "1",
        CDK_OUTDIR: outdir,
        CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_JSON.context, ...context }),
      },
    },
  );
  return { ...result, outdir };
}

function emptyConfig(): string {
  const file = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), "mailroom-cfg-")),
    "mailroom.config.json",
  );
  fs.writeFileSync(file, "{}");
  return file;
}

describe("given the app entry point", () => {
  test("when a config file lacks the required settings, then it exits 1 naming each of them", () => {
    const run = runApp({ config: emptyConfig() });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("invalid mailroom settings:");
    for (const key of ["domain", "recipients", "from"]) {
      expect(run.stderr).toContain(`missing required setting '${key}'`);
    }
  }, 60_000);

  test("when run with no arguments, then it synthesizes the placeholder stack with the nag checks passing", () => {
    const run = runApp({});
    expect(run.stderr).not.toContain("ERROR");
    expect(run.status).toBe(0);
    const template = JSON.parse(
      fs.readFileSync(path.join(run.outdir, "Mailroom.template.json"), "utf8"),
    );
    const rule = Object.values(template.Resources).find(
      (r: any) => r.Type === "AWS::SES::ReceiptRule",
    ) as any;
    expect(rule.Properties.Rule.Recipients).toEqual(["hello@example.com"]);
  }, 60_000);

  test("when context overrides the file, then the stack uses the context values", () => {
    const run = runApp({
      domain: "reply.example.net",
      recipients: "info@reply.example.net",
      from: "info@reply.example.net",
      stackName: "MailroomReply",
    });
    expect(run.status).toBe(0);
    const template = fs.readFileSync(
      path.join(run.outdir, "MailroomReply.template.json"),
      "utf8",
    );
    expect(template).toContain('"EmailIdentity": "reply.example.net"');
  }, 60_000);
});

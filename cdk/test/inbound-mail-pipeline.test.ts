import { App, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { InboundMailPipeline } from "../lib/inbound-mail-pipeline";
import {
  ENV,
  asList,
  newApp,
  only,
  responderId,
  statementsOfRole,
  synth,
} from "./helpers";

const RECIPIENTS = ["hello@example.com", "help@example.com"];

describe("given the default settings", () => {
  const { template } = synth();
  const mailBucket = Object.entries(
    template.findResources("AWS::S3::Bucket"),
  ).find(([, r]: [string, any]) =>
    JSON.stringify(r.Properties.LifecycleConfiguration).includes(
      "expire-raw-mail",
    ),
  )!;
  const mailBucketId = mailBucket[0];

  describe("when the receipt rule is synthesized", () => {
    const rule = only(template, "AWS::SES::ReceiptRule").resource;

    test("then it matches exactly the configured recipients, never a domain", () => {
      expect(rule.Properties.Rule.Recipients).toEqual(RECIPIENTS);
      for (const r of rule.Properties.Rule.Recipients) {
        expect(r).toMatch(/^[^@]+@example\.com$/);
      }
    });

    test("then TLS is required and spam and virus scanning is on", () => {
      expect(rule.Properties.Rule).toMatchObject({
        Enabled: true,
        ScanEnabled: true,
        TlsPolicy: "Require",
      });
    });

    test("then it stores the mail under inbound/ and then stops", () => {
      expect(rule.Properties.Rule.Actions).toEqual([
        {
          S3Action: {
            BucketName: { Ref: mailBucketId },
            ObjectKeyPrefix: "inbound/",
          },
        },
        { StopAction: { Scope: "RuleSet" } },
      ]);
    });

    test("then it belongs to a new rule set and waits for the bucket policy", () => {
      const ruleSet = only(template, "AWS::SES::ReceiptRuleSet");
      expect(rule.Properties.RuleSetName).toEqual({ Ref: ruleSet.id });
      expect(ruleSet.resource.Properties.RuleSetName).toMatch(
        /^Mailroom-Pipeline-[A-Za-z0-9]+-rules$/,
      );
      const policyId = only(template, "AWS::S3::BucketPolicy", {
        Properties: { Bucket: { Ref: mailBucketId } },
      }).id;
      expect(rule.DependsOn).toContain(policyId);
    });

    test("then nothing activates the rule set unless asked", () => {
      template.resourceCountIs("Custom::SesActiveReceiptRuleSet", 0);
      template.resourceCountIs("AWS::SES::ReceiptFilter", 0);
    });
  });

  describe("when the mail bucket is synthesized", () => {
    const bucket = mailBucket[1] as any;

    test("then public access is blocked, encryption is on and versioning is off", () => {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } },
        ],
      });
      expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
      expect(bucket.DeletionPolicy).toBe("Retain");
    });

    test("then raw mail expires after 30 days", () => {
      expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual([
        expect.objectContaining({
          Id: "expire-raw-mail",
          Prefix: "inbound/",
          ExpirationInDays: 30,
          Status: "Enabled",
        }),
      ]);
    });

    test("then server access logs go to a separate, expiring bucket", () => {
      const logBucketId = bucket.Properties.LoggingConfiguration
        .DestinationBucketName.Ref as string;
      expect(logBucketId).not.toBe(mailBucketId);
      expect(bucket.Properties.LoggingConfiguration.LogFilePrefix).toBe(
        "mail-bucket/",
      );
      const logBucket = template.toJSON().Resources[logBucketId];
      expect(
        logBucket.Properties.LifecycleConfiguration.Rules[0],
      ).toMatchObject({ ExpirationInDays: 90 });
      expect(logBucket.Properties.PublicAccessBlockConfiguration).toMatchObject(
        { BlockPublicAcls: true, RestrictPublicBuckets: true },
      );
    });

    test("then only SES, from this account and this rule, may write, and only over TLS", () => {
      const policy = only(template, "AWS::S3::BucketPolicy", {
        Properties: { Bucket: { Ref: mailBucketId } },
      }).resource;
      const statements: any[] = policy.Properties.PolicyDocument.Statement;
      const allows = statements.filter((s) => s.Effect === "Allow");
      expect(allows).toHaveLength(1);
      const ses = allows[0];
      expect(ses.Principal).toEqual({ Service: "ses.amazonaws.com" });
      expect(ses.Action).toBe("s3:PutObject");
      expect(ses.Resource).toEqual({
        "Fn::Join": [
          "",
          [{ "Fn::GetAtt": [mailBucketId, "Arn"] }, "/inbound/*"],
        ],
      });
      expect(ses.Condition.StringEquals["aws:SourceAccount"]).toEqual({
        Ref: "AWS::AccountId",
      });
      const sourceArn = JSON.stringify(
        ses.Condition.StringEquals["aws:SourceArn"],
      );
      const ruleSetName = only(template, "AWS::SES::ReceiptRuleSet").resource
        .Properties.RuleSetName;
      const ruleName = only(template, "AWS::SES::ReceiptRule").resource
        .Properties.Rule.Name;
      expect(sourceArn).toContain(
        `:ses:eu-west-1:123456789012:receipt-rule-set/${ruleSetName}:receipt-rule/${ruleName}`,
      );
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: "Deny",
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        }),
      );
    });
  });

  describe("when the ledger table is synthesized", () => {
    const table = only(template, "AWS::DynamoDB::Table").resource;

    test("then it has the key pk only, on demand, with TTL on expires_at", () => {
      expect(table.Properties.KeySchema).toEqual([
        { AttributeName: "pk", KeyType: "HASH" },
      ]);
      expect(table.Properties.AttributeDefinitions).toEqual([
        { AttributeName: "pk", AttributeType: "S" },
      ]);
      expect(table.Properties.BillingMode).toBe("PAY_PER_REQUEST");
      expect(table.Properties.TimeToLiveSpecification).toEqual({
        AttributeName: "expires_at",
        Enabled: true,
      });
    });

    test("then it has point-in-time recovery, deletion protection and is retained", () => {
      expect(table.Properties.PointInTimeRecoverySpecification).toEqual({
        PointInTimeRecoveryEnabled: true,
      });
      expect(table.Properties.DeletionProtectionEnabled).toBe(true);
      expect(table.DeletionPolicy).toBe("Retain");
    });
  });

  describe("when the function is synthesized", () => {
    const fnId = responderId(template);
    const fn = template.toJSON().Resources[fnId];

    test("then it is the arm64 provided.al2023 bootstrap with 128 MB and 30 s", () => {
      expect(fn.Properties).toMatchObject({
        Architectures: ["arm64"],
        Runtime: "provided.al2023",
        Handler: "bootstrap",
        MemorySize: 128,
        Timeout: 30,
        ReservedConcurrentExecutions: 5,
      });
    });

    test("then its environment is exactly the contract with the Rust side", () => {
      const table = only(template, "AWS::DynamoDB::Table").id;
      const configSet = only(template, "AWS::SES::ConfigurationSet").id;
      expect(fn.Properties.Environment.Variables).toEqual({
        MAILROOM_BACKEND: "aws",
        MAILROOM_FROM: "hello@example.com",
        MAILROOM_INBOUND_ADDRESSES: "hello@example.com,help@example.com",
        MAILROOM_PREFIX: "inbound/",
        MAILROOM_TABLE: { Ref: table },
        MAILROOM_CONFIGURATION_SET: { Ref: configSet },
        MAILROOM_REPLY_WINDOW_DAYS: "7",
        MAILROOM_REQUIRE_VERDICTS: "true",
        RUST_LOG: "info",
      });
    });

    test("then it logs into its own log group kept for one month", () => {
      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
      expect(template.toJSON().Resources[logGroupId]).toMatchObject({
        Type: "AWS::Logs::LogGroup",
        Properties: { RetentionInDays: 30 },
      });
    });

    test("then asynchronous invocations retry twice, age out explicitly and fail into the queue", () => {
      const queueId = only(template, "AWS::SQS::Queue").id;
      template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
        FunctionName: { Ref: fnId },
        Qualifier: "$LATEST",
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 21600,
        DestinationConfig: {
          OnFailure: { Destination: { "Fn::GetAtt": [queueId, "Arn"] } },
        },
      });
    });

    test("then the failure queue is encrypted, TLS-only and keeps messages 14 days", () => {
      const queue = only(template, "AWS::SQS::Queue");
      expect(queue.resource.Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1209600,
      });
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [{ Ref: queue.id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: "Deny",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ]),
        },
      });
    });
  });

  describe("when the function's permissions are synthesized", () => {
    const resources = template.toJSON().Resources;
    const fn = resources[responderId(template)];
    const roleId = fn.Properties.Role["Fn::GetAtt"][0];
    const statements = statementsOfRole(template, roleId);
    const byAction = (action: string) =>
      statements.filter((s) => asList(s.Action).includes(action));

    test("then the role has no managed policy", () => {
      expect(resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
    });

    test("then it grants exactly these actions", () => {
      const actions = statements.flatMap((s) => asList(s.Action)).sort();
      expect(actions).toEqual(
        [
          "dynamodb:DeleteItem",
          "dynamodb:GetItem",
          "dynamodb:PutItem",
          "dynamodb:UpdateItem",
          "logs:CreateLogStream",
          "logs:PutLogEvents",
          "s3:GetObject",
          "ses:SendEmail",
          "ses:SendRawEmail",
          "sqs:GetQueueAttributes",
          "sqs:GetQueueUrl",
          "sqs:SendMessage",
        ].sort(),
      );
      expect(statements.every((s) => s.Effect === "Allow")).toBe(true);
    });

    test("then S3 is read-only and limited to the inbound/ prefix", () => {
      const [s3] = byAction("s3:GetObject");
      expect(asList(s3.Action)).toEqual(["s3:GetObject"]);
      expect(s3.Resource).toEqual({
        "Fn::Join": [
          "",
          [{ "Fn::GetAtt": [mailBucketId, "Arn"] }, "/inbound/*"],
        ],
      });
      expect(JSON.stringify(statements)).not.toMatch(/s3:(Put|Delete|List)/);
    });

    test("then DynamoDB item actions are limited to the ledger table", () => {
      const table = only(template, "AWS::DynamoDB::Table").id;
      const [ddb] = byAction("dynamodb:GetItem");
      expect(ddb.Resource).toEqual({ "Fn::GetAtt": [table, "Arn"] });
    });

    test("then SES sending is limited to the identity, the configuration set and the from address", () => {
      const [ses] = byAction("ses:SendEmail");
      expect(asList(ses.Action).sort()).toEqual([
        "ses:SendEmail",
        "ses:SendRawEmail",
      ]);
      const identity = only(template, "AWS::SES::EmailIdentity").id;
      const configSet = only(template, "AWS::SES::ConfigurationSet").id;
      expect(ses.Resource).toEqual([
        {
          "Fn::Join": [
            "",
            [
              "arn:",
              { Ref: "AWS::Partition" },
              ":ses:eu-west-1:123456789012:identity/",
              { Ref: identity },
            ],
          ],
        },
        {
          "Fn::Join": [
            "",
            [
              "arn:",
              { Ref: "AWS::Partition" },
              ":ses:eu-west-1:123456789012:configuration-set/",
              { Ref: configSet },
            ],
          ],
        },
      ]);
      expect(ses.Condition).toEqual({
        StringEquals: { "ses:FromAddress": "hello@example.com" },
      });
    });

    test("then logs and the failure queue are the function's own", () => {
      const [logsStmt] = byAction("logs:PutLogEvents");
      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
      expect(logsStmt.Resource).toEqual({ "Fn::GetAtt": [logGroupId, "Arn"] });
      const [sqsStmt] = byAction("sqs:SendMessage");
      const queueId = only(template, "AWS::SQS::Queue").id;
      expect(sqsStmt.Resource).toEqual({ "Fn::GetAtt": [queueId, "Arn"] });
    });
  });

  describe("when the S3 notification is synthesized", () => {
    test("then only objects created under inbound/ invoke the function", () => {
      const notifications = only(template, "Custom::S3BucketNotifications")
        .resource.Properties;
      expect(notifications.BucketName).toEqual({ Ref: mailBucketId });
      expect(notifications.NotificationConfiguration).toEqual({
        LambdaFunctionConfigurations: [
          {
            Events: ["s3:ObjectCreated:*"],
            Filter: {
              Key: { FilterRules: [{ Name: "prefix", Value: "inbound/" }] },
            },
            LambdaFunctionArn: {
              "Fn::GetAtt": [responderId(template), "Arn"],
            },
          },
        ],
      });
    });

    test("then S3 may invoke the function only for this bucket and account", () => {
      template.hasResourceProperties("AWS::Lambda::Permission", {
        Action: "lambda:InvokeFunction",
        Principal: "s3.amazonaws.com",
        FunctionName: { "Fn::GetAtt": [responderId(template), "Arn"] },
        SourceAccount: "123456789012",
        SourceArn: { "Fn::GetAtt": [mailBucketId, "Arn"] },
      });
    });
  });

  describe("when the alarms are synthesized", () => {
    const alarms = Object.values(
      template.findResources("AWS::CloudWatch::Alarm"),
    ).map((a: any) => a.Properties);
    const alarm = (namespace: string, metric: string) =>
      alarms.find((a) => a.Namespace === namespace && a.MetricName === metric);

    test("then dead letters, errors, throttles and error log lines each raise an alarm at the first occurrence", () => {
      expect(alarms).toHaveLength(4);
      expect(alarm("mailroom", "FailedMessages")).toBeDefined();
      template.hasResourceProperties("AWS::Logs::MetricFilter", {
        FilterPattern: '{ $.level = "ERROR" }',
        MetricTransformations: [
          {
            MetricNamespace: "mailroom",
            MetricName: "FailedMessages",
            MetricValue: "1",
          },
        ],
      });
      const queueId = only(template, "AWS::SQS::Queue").id;
      expect(
        alarm("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
      ).toMatchObject({
        Dimensions: [
          {
            Name: "QueueName",
            Value: { "Fn::GetAtt": [queueId, "QueueName"] },
          },
        ],
      });
      for (const metric of ["Errors", "Throttles"]) {
        expect(alarm("AWS/Lambda", metric)).toMatchObject({
          Dimensions: [
            { Name: "FunctionName", Value: { Ref: responderId(template) } },
          ],
        });
      }
      for (const a of alarms) {
        expect(a).toMatchObject({
          Threshold: 1,
          ComparisonOperator: "GreaterThanOrEqualToThreshold",
          EvaluationPeriods: 1,
          TreatMissingData: "notBreaching",
        });
        expect(a.AlarmActions).toBeUndefined();
      }
    });
  });

  describe("when the sending identity is synthesized", () => {
    test("then the domain gets Easy DKIM, a MAIL FROM subdomain and the reply configuration set", () => {
      const configSet = only(template, "AWS::SES::ConfigurationSet");
      template.hasResourceProperties("AWS::SES::EmailIdentity", {
        EmailIdentity: "example.com",
        DkimAttributes: { SigningEnabled: true },
        DkimSigningAttributes: { NextSigningKeyLength: "RSA_2048_BIT" },
        MailFromAttributes: {
          MailFromDomain: "bounce.example.com",
          BehaviorOnMxFailure: "USE_DEFAULT_VALUE",
        },
        ConfigurationSetAttributes: {
          ConfigurationSetName: { Ref: configSet.id },
        },
      });
      expect(configSet.resource.Properties).toMatchObject({
        SendingOptions: { SendingEnabled: true },
        ReputationOptions: { ReputationMetricsEnabled: true },
        SuppressionOptions: { SuppressedReasons: ["BOUNCE", "COMPLAINT"] },
      });
    });

    test("then no DNS record is written without a hosted zone", () => {
      template.resourceCountIs("AWS::Route53::RecordSet", 0);
    });
  });

  describe("when the outputs are synthesized", () => {
    test("then the inbound address and the names of bucket, table, function and queue are output", () => {
      const outputs = template.toJSON().Outputs;
      expect(outputs.InboundAddresses.Value).toBe(
        "hello@example.com,help@example.com",
      );
      expect(outputs.BucketName.Value).toEqual({ Ref: mailBucketId });
      expect(outputs.AccessLogBucketName.Value).toEqual({
        Ref: (mailBucket[1] as any).Properties.LoggingConfiguration
          .DestinationBucketName.Ref,
      });
      expect(outputs.TableName.Value).toEqual({
        Ref: only(template, "AWS::DynamoDB::Table").id,
      });
      expect(outputs.FunctionName.Value).toEqual({
        Ref: responderId(template),
      });
      expect(outputs.FailureQueueName.Value).toEqual({
        "Fn::GetAtt": [only(template, "AWS::SQS::Queue").id, "QueueName"],
      });
      expect(outputs.InboundMxRecord.Value).toBe(
        "example.com MX 10 inbound-smtp.eu-west-1.amazonaws.com",
      );
      expect(Object.keys(outputs)).toEqual(
        expect.arrayContaining(["DkimRecord1", "DkimRecord2", "DkimRecord3"]),
      );
    });
  });
});

describe("given a hosted zone", () => {
  const { template } = synth({
    domain: "mail.example.com",
    recipients: "hello@mail.example.com",
    from: "hello@mail.example.com",
    hostedZoneId: "Z0123456789ABCDEFGHIJ",
    hostedZoneName: "example.com",
  });
  const records = Object.values(
    template.findResources("AWS::Route53::RecordSet"),
  ).map((r: any) => r.Properties);

  test("when synthesized, then the domain's MX points at the regional SES inbound endpoint", () => {
    expect(
      records.filter((r) => r.Type === "MX" && r.Name === "mail.example.com."),
    ).toEqual([
      {
        HostedZoneId: "Z0123456789ABCDEFGHIJ",
        Name: "mail.example.com.",
        Type: "MX",
        TTL: "3600",
        ResourceRecords: ["10 inbound-smtp.eu-west-1.amazonaws.com"],
      },
    ]);
  });

  test("when synthesized, then the three Easy DKIM CNAMEs come from the identity", () => {
    const identity = only(template, "AWS::SES::EmailIdentity").id;
    const cnames = records.filter((r) => r.Type === "CNAME");
    expect(cnames).toHaveLength(3);
    cnames.forEach((r, i) => {
      expect(r.Name).toEqual({
        "Fn::GetAtt": [identity, `DkimDNSTokenName${i + 1}`],
      });
      expect(r.ResourceRecords).toEqual([
        { "Fn::GetAtt": [identity, `DkimDNSTokenValue${i + 1}`] },
      ]);
    });
  });

  test("when synthesized, then the MAIL FROM domain gets the feedback MX and a strict SPF record", () => {
    expect(
      records.filter((r) => r.Name === "bounce.mail.example.com."),
    ).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Type: "MX",
          ResourceRecords: ["10 feedback-smtp.eu-west-1.amazonses.com"],
        }),
        expect.objectContaining({
          Type: "TXT",
          ResourceRecords: ['"v=spf1 include:amazonses.com -all"'],
        }),
      ]),
    );
    expect(records).toHaveLength(6);
  });
});

describe("given activateRuleSet", () => {
  const { template } = synth({ activateRuleSet: "true" });

  test("when synthesized, then a custom resource activates the new rule set and deactivates it on delete", () => {
    const ruleSetId = only(template, "AWS::SES::ReceiptRuleSet").id;
    const activation = only(
      template,
      "Custom::SesActiveReceiptRuleSet",
    ).resource;
    const create = JSON.stringify(activation.Properties.Create);
    expect(create).toContain('\\"action\\":\\"SetActiveReceiptRuleSet\\"');
    expect(create).toContain(`{"Ref":"${ruleSetId}"}`);
    expect(activation.Properties.Update).toEqual(activation.Properties.Create);
    expect(JSON.parse(activation.Properties.Delete)).toEqual({
      service: "SES",
      action: "SetActiveReceiptRuleSet",
      parameters: {},
    });
    expect(activation.DependsOn).toContain(
      only(template, "AWS::SES::ReceiptRule").id,
    );
  });

  test("when synthesized, then its provider may call only ses:SetActiveReceiptRuleSet", () => {
    template.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: [
          {
            Action: "ses:SetActiveReceiptRuleSet",
            Effect: "Allow",
            Resource: "*",
          },
        ],
      },
    });
  });
});

describe("given an existing rule set", () => {
  const { template } = synth({ ruleSetName: "default-rule-set" });

  test("when synthesized, then the rule joins it and no rule set is created", () => {
    template.resourceCountIs("AWS::SES::ReceiptRuleSet", 0);
    const rule = only(template, "AWS::SES::ReceiptRule").resource;
    expect(rule.Properties.RuleSetName).toBe("default-rule-set");
    expect(rule.Properties.After).toBeUndefined();
  });

  test("when synthesized, then the bucket policy names that rule set in its source ARN", () => {
    const policies = JSON.stringify(
      template.findResources("AWS::S3::BucketPolicy"),
    );
    expect(policies).toMatch(
      /receipt-rule-set\/default-rule-set:receipt-rule\/Mailroom-Pipeline-[A-Za-z0-9]+-inbound/,
    );
  });
});

describe("given an alarm topic", () => {
  const topic = "arn:aws:sns:eu-west-1:123456789012:ops";
  const { template } = synth({ alarmTopicArn: topic });

  test("when synthesized, then every alarm notifies it", () => {
    const alarms = Object.values(
      template.findResources("AWS::CloudWatch::Alarm"),
    );
    expect(alarms).toHaveLength(4);
    for (const a of alarms as any[]) {
      expect(a.Properties.AlarmActions).toEqual([topic]);
    }
  });
});

describe("given sandbox recipients", () => {
  const { template } = synth({ sandboxRecipients: "Me@Personal.example.org" });

  test("when synthesized, then their identities join the send permission, still bound to the from address", () => {
    const fn = template.toJSON().Resources[responderId(template)];
    const statements = statementsOfRole(
      template,
      fn.Properties.Role["Fn::GetAtt"][0],
    );
    const ses = statements.find((s) =>
      asList(s.Action).includes("ses:SendEmail"),
    );
    expect(ses.Resource).toHaveLength(3);
    expect(JSON.stringify(ses.Resource[2])).toContain(
      ":ses:eu-west-1:123456789012:identity/me@personal.example.org",
    );
    expect(ses.Condition).toEqual({
      StringEquals: { "ses:FromAddress": "hello@example.com" },
    });
  });
});

describe("given other numbers in the settings", () => {
  const { template } = synth({
    replyWindowDays: "3",
    rawMailRetentionDays: "10",
    reservedConcurrency: "2",
  });

  test("when synthesized, then the window, retention and concurrency follow them", () => {
    const fn = template.toJSON().Resources[responderId(template)];
    expect(fn.Properties.Environment.Variables.MAILROOM_REPLY_WINDOW_DAYS).toBe(
      "3",
    );
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(2);
    template.hasResourceProperties("AWS::S3::Bucket", {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({ Id: "expire-raw-mail", ExpirationInDays: 10 }),
        ],
      },
    });
  });
});

describe("given the construct on its own", () => {
  const build = (
    props: Partial<ConstructorParameters<typeof InboundMailPipeline>[2]>,
  ) => {
    const app = newApp();
    const stack = new Stack(app, "S", { env: ENV });
    new InboundMailPipeline(stack, "P", {
      domain: "example.com",
      recipients: ["hello@example.com"],
      fromAddress: "hello@example.com",
      ...props,
    });
    return Template.fromStack(stack);
  };

  test("when removalPolicy is DESTROY, then the table has no deletion protection", () => {
    const template = build({ removalPolicy: RemovalPolicy.DESTROY });
    const table = only(template, "AWS::DynamoDB::Table").resource;
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    expect(table.DeletionPolicy).toBe("Delete");
  });

  test("when server access logs are off, then there is one bucket only", () => {
    const template = build({ serverAccessLogs: false });
    template.resourceCountIs("AWS::S3::Bucket", 1);
  });

  test("when timeouts and retries are given, then they reach the function", () => {
    const template = build({
      timeout: Duration.seconds(25),
      retryAttempts: 1,
      maxEventAge: Duration.hours(1),
    });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "provided.al2023",
      Timeout: 25,
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      MaximumRetryAttempts: 1,
      MaximumEventAgeInSeconds: 3600,
    });
  });

  test.each([
    [{ recipients: ["example.com"] }, /full address.*catch-all/],
    [{ recipients: [] }, /at least one address.*catch-all/],
    [
      { recipients: ["hello@other.example"] },
      /not in the domain 'example.com'/,
    ],
    [
      { fromAddress: "noreply@other.example" },
      /fromAddress.*not in the domain/,
    ],
    [
      { objectKeyPrefix: "inbound" },
      /objectKeyPrefix must be one path segment/,
    ],
    [{ mailFromSubdomain: "bounce.mail" }, /one DNS label/],
  ])(
    "when given %j, then construction fails with a clear message",
    (props, message) => {
      expect(() => build(props)).toThrow(message);
    },
  );

  test("when asked to activate an imported rule set, then construction fails", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new Stack(app, "S", { env: ENV });
    const ruleSet = {
      receiptRuleSetName: "theirs",
    } as unknown as import("aws-cdk-lib").aws_ses.IReceiptRuleSet;
    expect(
      () =>
        new InboundMailPipeline(stack, "P", {
          domain: "example.com",
          recipients: ["hello@example.com"],
          fromAddress: "hello@example.com",
          ruleSet,
          activateRuleSet: true,
        }),
    ).toThrow(/activateRuleSet cannot be used with an existing ruleSet/);
  });
});

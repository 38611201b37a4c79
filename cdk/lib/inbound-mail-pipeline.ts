import * as path from "node:path";
import {
  Aws,
  CfnElement,
  Duration,
  Names,
  RemovalPolicy,
  Stack,
  Validations,
  aws_cloudwatch as cloudwatch,
  aws_dynamodb as dynamodb,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_lambda_destinations as destinations,
  aws_logs as logs,
  aws_route53 as route53,
  aws_s3 as s3,
  aws_s3_notifications as s3n,
  aws_ses as ses,
  aws_ses_actions as sesActions,
  aws_sqs as sqs,
  custom_resources as cr,
} from "aws-cdk-lib";
import { BundlingOptions, RustFunction } from "cargo-lambda-cdk";
import { Construct, IConstruct } from "constructs";

/** The Cargo manifest of the mailroom workspace, relative to this file. */
export const DEFAULT_MANIFEST_PATH = path.join(
  __dirname,
  "..",
  "..",
  "Cargo.toml",
);

/** Properties of an {@link InboundMailPipeline}. */
export interface InboundMailPipelineProps {
  /**
   * The domain that receives mail and sends the replies, e.g. `example.com`
   * or `mail.example.com`. It becomes an SES domain identity.
   */
  readonly domain: string;

  /**
   * The exact addresses the receipt rule accepts, all in `domain`. A bare
   * domain is refused: it would make a catch-all rule.
   */
  readonly recipients: string[];

  /** The address replies are sent from; it must be in `domain`. */
  readonly fromAddress: string;

  /**
   * A public hosted zone for `domain` (or a parent of it). When given, the
   * inbound MX record, the three Easy DKIM CNAMEs and the MAIL FROM MX and
   * SPF records are written into it.
   *
   * @default - no DNS records; the stack outputs list the ones to create
   */
  readonly hostedZone?: route53.IHostedZone;

  /**
   * The label of the custom MAIL FROM domain, placed under `domain`. Bounces
   * of the replies go there and are handled by SES, never by a mailbox that
   * could answer them.
   *
   * @default "bounce"
   */
  readonly mailFromSubdomain?: string;

  /**
   * The S3 key prefix SES writes raw mail under. The function may read only
   * below it.
   *
   * @default "inbound/"
   */
  readonly objectKeyPrefix?: string;

  /**
   * How long raw mail stays in the bucket before a lifecycle rule deletes it.
   *
   * @default Duration.days(30)
   */
  readonly rawMailRetention?: Duration;

  /**
   * The window in which one sender gets at most one reply, passed to the
   * function as `MAILROOM_REPLY_WINDOW_DAYS` (whole days).
   *
   * @default Duration.days(7)
   */
  readonly replyWindow?: Duration;

  /**
   * Memory of the function in MiB.
   *
   * @default 128
   */
  readonly memorySize?: number;

  /**
   * Timeout of the function. The function keeps its own SDK retries within
   * 23 seconds and claims each message for 45 seconds, so the default leaves
   * room to settle, and a retry a minute later finds the claim expired. Keep
   * it under 45 seconds.
   *
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;

  /**
   * Reserved concurrency: the most replies that can be in flight at once,
   * which caps the damage of a mail storm or a reply loop.
   *
   * @default 5
   */
  readonly reservedConcurrency?: number;

  /**
   * How often Lambda retries a failed asynchronous invocation before it goes
   * to the failure queue (0 to 2).
   *
   * @default 2
   */
  readonly retryAttempts?: number;

  /**
   * How long an S3 event may wait (throttled or retried) before it goes to
   * the failure queue unprocessed.
   *
   * @default Duration.hours(6)
   */
  readonly maxEventAge?: Duration;

  /**
   * Retention of the function's log group.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * An existing receipt rule set to add the rule to, typically the one that
   * is already active in the account and region. The rule is inserted first
   * and ends with a stop action, so it only affects `recipients`.
   *
   * @default - a new rule set owned by this construct
   */
  readonly ruleSet?: ses.IReceiptRuleSet;

  /**
   * Make the new rule set the active one with a custom resource. SES has one
   * active rule set per region, so this replaces whatever rule set is active
   * now; on deletion, receiving is switched off. Not allowed with `ruleSet`.
   *
   * @default false - activate by hand with
   *   `aws ses set-active-receipt-rule-set --rule-set-name <name>`
   */
  readonly activateRuleSet?: boolean;

  /**
   * Actions for the four alarms (dead letters, errors, throttles, error log
   * lines).
   *
   * @default - the alarms change state but notify nobody
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];

  /**
   * What happens to the bucket, the access-log bucket and the ledger table
   * when the stack is deleted. With `RETAIN`, the table also gets deletion
   * protection.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Write S3 server access logs of the mail bucket to a second bucket.
   *
   * @default true
   */
  readonly serverAccessLogs?: boolean;

  /**
   * Path to the `Cargo.toml` that builds the function.
   *
   * @default - the mailroom workspace manifest at the repository root
   */
  readonly manifestPath?: string;

  /**
   * The Cargo binary that is the Lambda handler.
   *
   * @default "mailroom-lambda"
   */
  readonly binaryName?: string;

  /**
   * Extra cargo-lambda bundling options, e.g. a Cargo profile. The
   * architecture is always arm64.
   *
   * @default - a release build for arm64
   */
  readonly bundling?: Omit<BundlingOptions, "architecture">;

  /**
   * Addresses (verified in SES) that may receive replies while the account
   * is in the SES sandbox. There SES also authorizes the send against the
   * recipient's identity, so these identity ARNs are added to the send
   * permission. Leave empty once the account has production access.
   *
   * @default - none
   */
  readonly sandboxRecipients?: string[];
}

const ADDRESS_RE = /^[^@\s]+@([^@\s]+)$/;

/**
 * The whole inbound path of mailroom: SES receives mail for a fixed list of
 * addresses, stores it in S3, and a Rust Lambda function answers it through
 * a configuration set, keeping a DynamoDB ledger so that nobody is answered
 * twice. Failures end in an encrypted SQS queue with alarms on it.
 */
export class InboundMailPipeline extends Construct {
  /** The bucket SES writes raw mail into. */
  public readonly bucket: s3.Bucket;
  /** The bucket receiving the mail bucket's access logs, if enabled. */
  public readonly accessLogBucket?: s3.Bucket;
  /** The reply ledger. */
  public readonly table: dynamodb.Table;
  /** The Rust responder. */
  public readonly function: lambda.Function;
  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;
  /** Where failed invocations end up. */
  public readonly failureQueue: sqs.Queue;
  /** The SES domain identity. */
  public readonly identity: ses.EmailIdentity;
  /** The configuration set replies are sent through. */
  public readonly configurationSet: ses.ConfigurationSet;
  /** The rule set holding the rule (created or imported). */
  public readonly ruleSet: ses.IReceiptRuleSet;
  /** The receipt rule for `recipients`. */
  public readonly rule: ses.ReceiptRule;
  /** Name of the receipt rule set. */
  public readonly ruleSetName: string;
  /** The custom MAIL FROM domain. */
  public readonly mailFromDomain: string;
  /** The MX host name that `domain` must point to. */
  public readonly inboundMxHost: string;
  /** Alarm on messages in the failure queue. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** Alarm on function errors. */
  public readonly errorAlarm: cloudwatch.Alarm;
  /** Alarm on function throttles. */
  public readonly throttleAlarm: cloudwatch.Alarm;
  /**
   * Raised by an error-level log line of the function: a message that failed
   * for a reason of its own (its object vanished), which Lambda does not retry.
   */
  public readonly failedMessageAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: InboundMailPipelineProps) {
    super(scope, id);
    // Grant S3 log delivery through a bucket policy rather than an ACL, which
    // BUCKET_OWNER_ENFORCED forbids, even in apps without this feature flag.
    this.node.setContext(
      "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",
      true,
    );

    const stack = Stack.of(this);
    const domain = props.domain.toLowerCase();
    const recipients = checkedRecipients(this, domain, props.recipients);
    const fromAddress = checkedAddress(
      this,
      "fromAddress",
      domain,
      props.fromAddress,
    );
    const prefix = props.objectKeyPrefix ?? "inbound/";
    if (!/^[A-Za-z0-9!_.*'()-]+\/$/.test(prefix)) {
      throw new Error(
        `objectKeyPrefix must be one path segment ending in '/', got '${prefix}'`,
      );
    }
    if (props.activateRuleSet && props.ruleSet) {
      throw new Error(
        "activateRuleSet cannot be used with an existing ruleSet: activate that rule set where it is owned",
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retain = removalPolicy === RemovalPolicy.RETAIN;
    const baseName = Names.uniqueResourceName(this, {
      maxLength: 50,
      separator: "-",
    });

    // Storage: raw mail, its access logs, and the reply ledger.
    if (props.serverAccessLogs ?? true) {
      this.accessLogBucket = new s3.Bucket(this, "AccessLogBucket", {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [
          { id: "expire-access-logs", expiration: Duration.days(90) },
        ],
        removalPolicy,
      });
    }

    this.bucket = new s3.Bucket(this, "MailBucket", {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // SES writes each message once under a fresh key and nothing rewrites
      // it, so versions would only keep expired mail alive for longer.
      versioned: false,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: this.accessLogBucket ? "mail-bucket/" : undefined,
      lifecycleRules: [
        {
          id: "expire-raw-mail",
          prefix,
          expiration: props.rawMailRetention ?? Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy,
    });

    this.table = new dynamodb.Table(this, "Ledger", {
      partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: "expires_at",
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: retain,
      removalPolicy,
    });

    // Sending: the domain identity with Easy DKIM and a MAIL FROM domain.
    const mailFromLabel = props.mailFromSubdomain ?? "bounce";
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(mailFromLabel)) {
      throw new Error(
        `mailFromSubdomain must be one DNS label such as 'bounce', got '${mailFromLabel}'`,
      );
    }
    this.mailFromDomain = `${mailFromLabel}.${domain}`;

    this.configurationSet = new ses.ConfigurationSet(this, "ReplySet", {
      sendingEnabled: true,
      reputationMetrics: true,
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
    });

    this.identity = new ses.EmailIdentity(this, "Identity", {
      identity: ses.Identity.domain(domain),
      dkimIdentity: ses.DkimIdentity.easyDkim(
        ses.EasyDkimSigningKeyLength.RSA_2048_BIT,
      ),
      dkimSigning: true,
      mailFromDomain: this.mailFromDomain,
      mailFromBehaviorOnMxFailure:
        ses.MailFromBehaviorOnMxFailure.USE_DEFAULT_VALUE,
      configurationSet: this.configurationSet,
    });

    this.inboundMxHost = `inbound-smtp.${stack.region}.amazonaws.com`;
    if (props.hostedZone) {
      this.addDnsRecords(props.hostedZone, domain);
    }

    // The function, its permissions and its failure path.
    this.failureQueue = new sqs.Queue(this, "FailureQueue", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failureQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself the dead-letter destination (Lambda on-failure destination) of the function; a dead-letter queue behind it would have no consumer either.",
    });

    this.logGroup = new logs.LogGroup(this, "FunctionLogs", {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const role = new iam.Role(this, "FunctionRole", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `mailroom responder for ${domain}: reads ${prefix}, keeps the ledger, sends replies`,
    });
    this.logGroup.grantWrite(role);

    const rawMailObjects = this.bucket.arnForObjects(`${prefix}*`);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: "ReadRawMail",
        actions: ["s3:GetObject"],
        resources: [rawMailObjects],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: "UseLedger",
        actions: [
          "dynamodb:GetItem",
          "dynamodb:PutItem",
          "dynamodb:UpdateItem",
          "dynamodb:DeleteItem",
        ],
        resources: [this.table.tableArn],
      }),
    );
    const sandboxIdentities = (props.sandboxRecipients ?? []).map((address) =>
      stack.formatArn({
        service: "ses",
        resource: "identity",
        resourceName: address.toLowerCase(),
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: "SendReplies",
        actions: ["ses:SendEmail", "ses:SendRawEmail"],
        resources: [
          this.identity.emailIdentityArn,
          stack.formatArn({
            service: "ses",
            resource: "configuration-set",
            resourceName: this.configurationSet.configurationSetName,
          }),
          ...sandboxIdentities,
        ],
        conditions: { StringEquals: { "ses:FromAddress": fromAddress } },
      }),
    );

    this.function = new RustFunction(this, "Responder", {
      manifestPath: props.manifestPath ?? DEFAULT_MANIFEST_PATH,
      binaryName: props.binaryName ?? "mailroom-lambda",
      runtime: "provided.al2023",
      architecture: lambda.Architecture.ARM_64,
      bundling: { ...props.bundling, architecture: lambda.Architecture.ARM_64 },
      description: `mailroom auto-responder for ${recipients.join(", ")}`,
      memorySize: props.memorySize ?? 128,
      timeout: props.timeout ?? Duration.seconds(30),
      reservedConcurrentExecutions: props.reservedConcurrency ?? 5,
      role,
      logGroup: this.logGroup,
      retryAttempts: props.retryAttempts ?? 2,
      maxEventAge: props.maxEventAge ?? Duration.hours(6),
      onFailure: new destinations.SqsDestination(this.failureQueue),
      environment: {
        MAILROOM_BACKEND: "aws",
        MAILROOM_FROM: fromAddress,
        MAILROOM_INBOUND_ADDRESSES: recipients.join(","),
        MAILROOM_PREFIX: prefix,
        MAILROOM_TABLE: this.table.tableName,
        MAILROOM_CONFIGURATION_SET: this.configurationSet.configurationSetName,
        MAILROOM_REPLY_WINDOW_DAYS: String(
          (props.replyWindow ?? Duration.days(7)).toDays(),
        ),
        MAILROOM_REQUIRE_VERDICTS: "true",
        RUST_LOG: "info",
      },
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.bucket)}.Arn>/${prefix}*]`,
      reason: `SES names each object after its message id, so reading mail needs a wildcard; it is limited to s3:GetObject below '${prefix}'.`,
    });

    this.bucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.LambdaDestination(this.function),
      { prefix },
    );
    acknowledgeNotificationHandler(stack);

    // Receiving: one rule for exactly the recipients, TLS and scanning on.
    let ruleSet: ses.IReceiptRuleSet;
    if (props.ruleSet) {
      ruleSet = props.ruleSet;
      this.ruleSetName = props.ruleSet.receiptRuleSetName;
    } else {
      this.ruleSetName = `${baseName}-rules`;
      ruleSet = new ses.ReceiptRuleSet(this, "RuleSet", {
        receiptRuleSetName: this.ruleSetName,
      });
    }
    this.ruleSet = ruleSet;
    const ruleName = `${baseName}-inbound`;

    const sesWrite = this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowSesReceiptRule",
        principals: [new iam.ServicePrincipal("ses.amazonaws.com")],
        actions: ["s3:PutObject"],
        resources: [rawMailObjects],
        conditions: {
          StringEquals: {
            "aws:SourceAccount": Aws.ACCOUNT_ID,
            "aws:SourceArn": stack.formatArn({
              service: "ses",
              resource: "receipt-rule-set",
              resourceName: `${this.ruleSetName}:receipt-rule/${ruleName}`,
            }),
          },
        },
      }),
    );

    this.rule = new ses.ReceiptRule(this, "Rule", {
      ruleSet,
      receiptRuleName: ruleName,
      recipients,
      enabled: true,
      scanEnabled: true,
      tlsPolicy: ses.TlsPolicy.REQUIRE,
      actions: [new StoreInBucket(this.bucket, prefix), new sesActions.Stop()],
    });
    // SES test-writes into the bucket when the rule is created.
    if (sesWrite.policyDependable) {
      this.rule.node.addDependency(sesWrite.policyDependable);
    }

    if (props.activateRuleSet) {
      this.activate(ruleSet.receiptRuleSetName);
    }

    // Alarms on the failure path.
    const alarm = (
      id: string,
      metric: cloudwatch.IMetric,
      description: string,
    ): cloudwatch.Alarm => {
      const a = new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator:
          cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      for (const action of props.alarmActions ?? []) a.addAlarmAction(action);
      return a;
    };
    const fiveMinutes = Duration.minutes(5);
    this.deadLetterAlarm = alarm(
      "DeadLetterAlarm",
      this.failureQueue.metricApproximateNumberOfMessagesVisible({
        period: fiveMinutes,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      "mailroom: a message failed all retries and waits in the failure queue",
    );
    this.errorAlarm = alarm(
      "ErrorAlarm",
      this.function.metricErrors({
        period: fiveMinutes,
        statistic: cloudwatch.Stats.SUM,
      }),
      "mailroom: the responder function returned an error",
    );
    this.throttleAlarm = alarm(
      "ThrottleAlarm",
      this.function.metricThrottles({
        period: fiveMinutes,
        statistic: cloudwatch.Stats.SUM,
      }),
      "mailroom: the responder hit its reserved concurrency",
    );
    // A message that fails for a reason of its own is recorded and the
    // invocation succeeds, so no Errors metric sees it: count its log line.
    const failedMessages = new logs.MetricFilter(this, "FailedMessages", {
      logGroup: this.logGroup,
      metricNamespace: "mailroom",
      metricName: "FailedMessages",
      filterPattern: logs.FilterPattern.stringValue("$.level", "=", "ERROR"),
      metricValue: "1",
    });
    this.failedMessageAlarm = alarm(
      "FailedMessageAlarm",
      failedMessages.metric({
        period: fiveMinutes,
        statistic: cloudwatch.Stats.SUM,
      }),
      "mailroom: the responder logged an error (a message failed or was not recorded)",
    );
  }

  private addDnsRecords(zone: route53.IHostedZone, domain: string): void {
    new route53.MxRecord(this, "InboundMx", {
      zone,
      recordName: `${domain}.`,
      values: [{ priority: 10, hostName: this.inboundMxHost }],
      ttl: Duration.hours(1),
    });
    const dkim: [string, string][] = [
      [this.identity.dkimDnsTokenName1, this.identity.dkimDnsTokenValue1],
      [this.identity.dkimDnsTokenName2, this.identity.dkimDnsTokenValue2],
      [this.identity.dkimDnsTokenName3, this.identity.dkimDnsTokenValue3],
    ];
    dkim.forEach(([name, value], i) => {
      new route53.CfnRecordSet(this, `Dkim${i + 1}`, {
        hostedZoneId: zone.hostedZoneId,
        name,
        type: "CNAME",
        ttl: "1800",
        resourceRecords: [value],
      });
    });
    new route53.MxRecord(this, "MailFromMx", {
      zone,
      recordName: `${this.mailFromDomain}.`,
      values: [
        {
          priority: 10,
          hostName: `feedback-smtp.${Stack.of(this).region}.amazonses.com`,
        },
      ],
      ttl: Duration.hours(1),
    });
    new route53.TxtRecord(this, "MailFromSpf", {
      zone,
      recordName: `${this.mailFromDomain}.`,
      values: ["v=spf1 include:amazonses.com -all"],
      ttl: Duration.hours(1),
    });
  }

  private activate(ruleSetName: string): void {
    const call: cr.AwsSdkCall = {
      service: "SES",
      action: "SetActiveReceiptRuleSet",
      parameters: { RuleSetName: ruleSetName },
      physicalResourceId: cr.PhysicalResourceId.of(`active:${ruleSetName}`),
    };
    const activation = new cr.AwsCustomResource(this, "ActivateRuleSet", {
      resourceType: "Custom::SesActiveReceiptRuleSet",
      onCreate: call,
      onUpdate: call,
      // Passing no name switches receiving off, which lets CloudFormation
      // delete the (otherwise active) rule set.
      onDelete: {
        service: "SES",
        action: "SetActiveReceiptRuleSet",
        parameters: {},
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ["ses:SetActiveReceiptRuleSet"],
          resources: ["*"],
        }),
      ]),
      installLatestAwsSdk: false,
      logGroup: new logs.LogGroup(this, "ActivateRuleSetLogs", {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    activation.node.addDependency(this.rule);
    Validations.of(activation).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "ses:SetActiveReceiptRuleSet supports no resource-level permission; the statement allows only that one action.",
    });
    acknowledgeCustomResourceProvider(Stack.of(this));
  }
}

/**
 * An SES S3 action that adds no bucket policy of its own: the pipeline
 * writes a narrower one (source account and source rule ARN) itself.
 */
class StoreInBucket implements ses.IReceiptRuleAction {
  constructor(
    private readonly bucket: s3.IBucket,
    private readonly prefix: string,
  ) {}

  bind(): ses.ReceiptRuleActionConfig {
    return {
      s3Action: {
        bucketName: this.bucket.bucketName,
        objectKeyPrefix: this.prefix,
      },
    };
  }
}

function checkedAddress(
  scope: IConstruct,
  what: string,
  domain: string,
  address: string,
): string {
  const lower = address.trim().toLowerCase();
  const match = ADDRESS_RE.exec(lower);
  if (!match) {
    throw new Error(
      `${what} must be a full address such as hello@${domain} (a bare domain would be a catch-all), got '${address}' at ${scope.node.path}`,
    );
  }
  if (match[1] !== domain) {
    throw new Error(
      `${what}: '${address}' is not in the domain '${domain}' at ${scope.node.path}`,
    );
  }
  return lower;
}

function checkedRecipients(
  scope: IConstruct,
  domain: string,
  recipients: string[],
): string[] {
  if (recipients.length === 0) {
    throw new Error(
      `recipients must name at least one address; an empty list would make a catch-all rule at ${scope.node.path}`,
    );
  }
  const checked = recipients.map((r) =>
    checkedAddress(scope, "recipients", domain, r),
  );
  return [...new Set(checked)];
}

function logicalIdOf(construct: IConstruct): string {
  const cfn = construct.node.defaultChild as CfnElement;
  return Stack.of(construct).resolve(cfn.logicalId) as string;
}

const BASIC_EXECUTION_ROLE =
  "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]";

/** Acknowledges the findings on CDK's singleton bucket-notification handler. */
function acknowledgeNotificationHandler(stack: Stack): void {
  const handler = stack.node.children.find((c) =>
    c.node.id.startsWith("BucketNotificationsHandler"),
  );
  if (!handler) return;
  Validations.of(handler).acknowledge({
    id: BASIC_EXECUTION_ROLE,
    reason:
      "CDK's bucket-notification handler runs only during deployment; the AWS managed basic execution role only lets it write its own logs.",
  });
}

/** Acknowledges the findings on CDK's singleton AwsCustomResource function. */
function acknowledgeCustomResourceProvider(stack: Stack): void {
  const provider = stack.node.tryFindChild(
    `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, "")}`,
  );
  if (!provider) return;
  Validations.of(provider).acknowledge({
    id: BASIC_EXECUTION_ROLE,
    reason:
      "CDK's AwsCustomResource provider runs only during deployment; the AWS managed basic execution role only lets it write its own logs.",
  });
}

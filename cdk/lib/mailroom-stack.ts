import {
  Annotations,
  CfnOutput,
  Duration,
  Stack,
  StackProps,
  aws_cloudwatch_actions as cwActions,
  aws_route53 as route53,
  aws_ses as ses,
  aws_sns as sns,
} from "aws-cdk-lib";
import { Construct } from "constructs";
import {
  InboundMailPipeline,
  InboundMailPipelineProps,
} from "./inbound-mail-pipeline";
import { MailroomSettings } from "./settings";

/** Properties of a {@link MailroomStack}. */
export interface MailroomStackProps extends StackProps {
  /** The validated user settings. */
  readonly settings: MailroomSettings;

  /**
   * Properties passed to the pipeline as they are, after those derived from
   * the settings; mostly for tests and the bundling options.
   *
   * @default - none
   */
  readonly pipelineOverrides?: Partial<InboundMailPipelineProps>;
}

const PLACEHOLDER_DOMAIN =
  /(^|\.)(example\.(com|net|org)|test|invalid|example)$/;

/** One mailroom deployment: the pipeline plus its stack outputs. */
export class MailroomStack extends Stack {
  /** The pipeline inside this stack. */
  public readonly pipeline: InboundMailPipeline;

  constructor(scope: Construct, id: string, props: MailroomStackProps) {
    super(scope, id, {
      description: `mailroom: SES auto-responder for ${props.settings.recipients.join(", ")}`,
      ...props,
    });
    const s = props.settings;

    if (PLACEHOLDER_DOMAIN.test(s.domain)) {
      Annotations.of(this).addWarningV2(
        "mailroom:placeholder-domain",
        `domain '${s.domain}' is a placeholder; set your own domain, recipients and from before deploying`,
      );
    }

    const hostedZone =
      s.hostedZoneId !== undefined
        ? route53.PublicHostedZone.fromPublicHostedZoneAttributes(
            this,
            "Zone",
            {
              hostedZoneId: s.hostedZoneId,
              zoneName: s.hostedZoneName ?? s.domain,
            },
          )
        : undefined;
    const ruleSet =
      s.existingRuleSetName !== undefined
        ? ses.ReceiptRuleSet.fromReceiptRuleSetName(
            this,
            "ExistingRuleSet",
            s.existingRuleSetName,
          )
        : undefined;
    const alarmActions =
      s.alarmTopicArn !== undefined
        ? [
            new cwActions.SnsAction(
              sns.Topic.fromTopicArn(this, "AlarmTopic", s.alarmTopicArn),
            ),
          ]
        : undefined;

    this.pipeline = new InboundMailPipeline(this, "Pipeline", {
      domain: s.domain,
      recipients: s.recipients,
      fromAddress: s.fromAddress,
      hostedZone,
      mailFromSubdomain: s.mailFromSubdomain,
      rawMailRetention: Duration.days(s.rawMailRetentionDays),
      replyWindow: Duration.days(s.replyWindowDays),
      reservedConcurrency: s.reservedConcurrency,
      ruleSet,
      activateRuleSet: s.activateRuleSet,
      alarmActions,
      sandboxRecipients: s.sandboxRecipients,
      ...props.pipelineOverrides,
    });
    const p = this.pipeline;

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output(
      "InboundAddresses",
      s.recipients.join(","),
      "Addresses that get an automatic reply",
    );
    output("FromAddress", s.fromAddress, "Address the replies come from");
    output("BucketName", p.bucket.bucketName, "Bucket holding raw mail");
    if (p.accessLogBucket) {
      output(
        "AccessLogBucketName",
        p.accessLogBucket.bucketName,
        "Bucket holding the mail bucket's server access logs",
      );
    }
    output("TableName", p.table.tableName, "Reply ledger table");
    output("FunctionName", p.function.functionName, "Responder function");
    output(
      "LogGroupName",
      p.logGroup.logGroupName,
      "Log group of the responder",
    );
    output(
      "FailureQueueName",
      p.failureQueue.queueName,
      "Queue of invocations that failed every retry",
    );
    output(
      "FailureQueueUrl",
      p.failureQueue.queueUrl,
      "URL of the failure queue",
    );
    output("RuleSetName", p.ruleSetName, "SES receipt rule set");
    output(
      "ConfigurationSetName",
      p.configurationSet.configurationSetName,
      "SES configuration set of the replies",
    );
    output(
      "InboundMxRecord",
      `${s.domain} MX 10 ${p.inboundMxHost}`,
      "MX record that routes the domain's mail to SES",
    );
    output(
      "MailFromRecords",
      `${p.mailFromDomain} MX 10 feedback-smtp.${this.region}.amazonses.com ; ${p.mailFromDomain} TXT "v=spf1 include:amazonses.com -all"`,
      "Records of the custom MAIL FROM domain",
    );
    p.identity.dkimRecords.forEach((r, i) =>
      output(
        `DkimRecord${i + 1}`,
        `${r.name} CNAME ${r.value}`,
        "Easy DKIM record of the domain identity",
      ),
    );
  }
}

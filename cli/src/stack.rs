//! `--stack NAME`: the CLI's configuration from a deployed stack's outputs, instead of a
//! dozen variables. The outputs are read with `sam list stack-outputs` (the SAM CLI that
//! deployed the stack; `TELEPAY_SAM` names another), and each becomes the variable the
//! CLI reads: an output whose description is a variable name (the tables, the DLQs, the
//! secrets' ARNs) by that name; the URLs and queues by their keys. A variable already set
//! wins over the stack.

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// Outputs whose description is prose, and the variable each one is.
const BY_KEY: [(&str, &str); 7] = [
    ("WebhookUrl", "TELEPAY_IPN_CALLBACK_URL"),
    ("BotWebhookUrl", "TELEPAY_BOT_WEBHOOK_URL"),
    ("ProcessorQueueUrl", "TELEPAY_PROCESSOR_QUEUE_URL"),
    ("InviteQueueUrl", "TELEPAY_INVITE_QUEUE_URL"),
    ("LifecycleQueueUrl", "TELEPAY_LIFECYCLE_QUEUE_URL"),
    ("AdmissionQueueUrl", "TELEPAY_ADMISSION_QUEUE_URL"),
    ("PayoutQueueUrl", "TELEPAY_PAYOUT_QUEUE_URL"),
];

/// The variables `stack`'s outputs give, as (name, value).
pub(crate) fn variables(stack: &str) -> anyhow::Result<Vec<(String, String)>> {
    let sam = std::env::var("TELEPAY_SAM").unwrap_or_else(|_| "sam".to_owned());
    let mut command = Command::new(&sam);
    command.args([
        "list",
        "stack-outputs",
        "--stack-name",
        stack,
        "--output",
        "json",
    ]);
    if let Ok(region) = std::env::var("AWS_REGION") {
        command.args(["--region", &region]);
    }
    let output = command.output().with_context(|| {
        format!("--stack needs the SAM CLI ({sam}) to read the stack's outputs: install it (make lint installs it in .venv-tools) or set the variables yourself")
    })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        bail!(
            "stack {stack}: sam list stack-outputs says {} (is it deployed in this region? AWS_REGION)",
            said.trim()
        );
    }
    from_outputs(&String::from_utf8_lossy(&output.stdout)).with_context(|| {
        format!("stack {stack}: the outputs are not what `sam list stack-outputs` prints")
    })
}

fn from_outputs(json: &str) -> anyhow::Result<Vec<(String, String)>> {
    let outputs: Vec<Value> = serde_json::from_str(json)?;
    let is_variable = |name: &str| {
        name.len() > 1
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let mut variables = Vec::new();
    for output in &outputs {
        let (Some(key), Some(value)) =
            (output["OutputKey"].as_str(), output["OutputValue"].as_str())
        else {
            continue;
        };
        let description = output["Description"].as_str().unwrap_or_default();
        let name = if is_variable(description) {
            Some(description)
        } else {
            BY_KEY.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        };
        if let Some(name) = name {
            variables.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(variables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_output_becomes_the_variable_the_cli_reads() {
        let outputs = r#"[
          {"OutputKey": "CatalogTable", "OutputValue": "s-Catalog-1", "Description": "TELEPAY_CATALOG_TABLE"},
          {"OutputKey": "WebhookUrl", "OutputValue": "https://x/np-webhook", "Description": "Set this as the IPN callback URL in NOWPayments."},
          {"OutputKey": "AlarmTopicArn", "OutputValue": "arn:topic"},
          {"OutputKey": "InviteQueueUrl", "OutputValue": "https://sqs/invite"}
        ]"#;
        assert_eq!(
            from_outputs(outputs).unwrap(),
            vec![
                ("TELEPAY_CATALOG_TABLE".to_owned(), "s-Catalog-1".to_owned()),
                (
                    "TELEPAY_IPN_CALLBACK_URL".to_owned(),
                    "https://x/np-webhook".to_owned()
                ),
                (
                    "TELEPAY_INVITE_QUEUE_URL".to_owned(),
                    "https://sqs/invite".to_owned()
                ),
            ]
        );
        assert!(from_outputs("not json").is_err());
    }
}

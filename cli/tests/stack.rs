//! `telepay --stack NAME` as an owner runs it after `make deploy`: the tables come from
//! the stack's outputs (as `sam list stack-outputs` prints them; `sam` is a stand-in that
//! records how it was called) and the commands work on DynamoDB (moto, which the test
//! script starts). A stack that is not there is named, with what to check.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "telepay-stack-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in `sam` that answers `list stack-outputs` for the stack `shop` only.
fn fake_sam(dir: &Path, suffix: &str) -> PathBuf {
    let outputs = format!(
        r#"[{{"OutputKey":"PaymentsTable","OutputValue":"payments-{suffix}","Description":"TELEPAY_PAYMENTS_TABLE"}},
{{"OutputKey":"ReviewsTable","OutputValue":"reviews-{suffix}","Description":"TELEPAY_REVIEWS_TABLE"}},
{{"OutputKey":"CatalogTable","OutputValue":"catalog-{suffix}","Description":"TELEPAY_CATALOG_TABLE"}},
{{"OutputKey":"WebhookUrl","OutputValue":"https://example.com/np-webhook","Description":"Set this as the IPN callback URL in NOWPayments."}}]"#
    );
    let sam = dir.join("sam");
    std::fs::write(
        &sam,
        format!(
            "#!/bin/sh\necho \"$@\" >> {log}\nif [ \"$4\" != shop ]; then echo \"Error: Stack with id $4 does not exist\" >&2; exit 1; fi\ncat <<'EOF'\n{outputs}\nEOF\n",
            log = dir.join("sam.log").display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&sam).status().unwrap();
    sam
}

fn telepay(sam: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
    command
        .args(args)
        .env("TELEPAY_SAM", sam)
        .env("TELEPAY_OUTPUT", "json");
    for variable in [
        "TELEPAY_PAYMENTS_TABLE",
        "TELEPAY_REVIEWS_TABLE",
        "TELEPAY_CATALOG_TABLE",
        "TELEPAY_STORE_BACKEND",
        "TELEPAY_CHANNEL_DIRECTORY",
    ] {
        command.env_remove(variable);
    }
    command.output().expect("run telepay")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_stacks_outputs_configure_the_cli_and_a_missing_stack_is_named() {
    let dir = scratch();
    let suffix = dir.file_name().unwrap().to_str().unwrap().replace('.', "-");
    let sam = fake_sam(&dir, &suffix);
    let migrated = telepay(&sam, &["--stack", "shop", "migrate"]);
    assert!(migrated.status.success(), "{}", said(&migrated));

    let catalog = dir.join("catalog.json");
    std::fs::write(
        &catalog,
        telepay_core::fixtures::SAMPLE_DIRECTORY
            .replace("\"subscription_days\": 30", "\"duration\": \"30 days\""),
    )
    .unwrap();
    let applied = telepay(
        &sam,
        &[
            "--stack",
            "shop",
            "catalog",
            "apply",
            catalog.to_str().unwrap(),
        ],
    );
    assert!(applied.status.success(), "{}", said(&applied));
    let history = telepay(&sam, &["--stack", "shop", "catalog", "history"]);
    assert!(history.status.success(), "{}", said(&history));
    let line: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&history.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["version"], 1, "{}", said(&history));
    let calls = std::fs::read_to_string(dir.join("sam.log")).unwrap();
    assert!(
        calls
            .lines()
            .all(|l| l.starts_with("list stack-outputs --stack-name shop --output json")),
        "{calls}"
    );

    let gone = telepay(&sam, &["--stack", "gone", "catalog", "history"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        said(&gone).contains(
            "stack gone: sam list stack-outputs says Error: Stack with id gone does not exist"
        ),
        "{}",
        said(&gone)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SNS on moto (the multi-service server the test script starts for SQS), spoken to in
/// its wire protocol: a form POST (moto does not check the signature).
fn sns(action: &str, params: &[(&str, &str)]) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").expect("the test script starts moto");
    let mut form = vec![("Action", action), ("Version", "2010-03-31")];
    form.extend_from_slice(params);
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace('@', "%40")))
        .collect::<Vec<_>>()
        .join("&");
    let output = Command::new("curl")
        .args(["-s", "-X", "POST", &format!("{endpoint}/")])
        .args(["-H", "Content-Type: application/x-www-form-urlencoded"])
        .args(["-H", "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0"])
        .args(["-d", &body])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn alarms_line(topic: &str) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_telepay"))
        .arg("doctor")
        .env("TELEPAY_ALARM_TOPIC_ARN", topic)
        .env("AWS_ENDPOINT_URL_SNS", endpoint)
        .env("TELEPAY_STORE_BACKEND", "sqlite")
        .env("TELEPAY_SQLITE_PATH", "/nonexistent/telepay.sqlite")
        .env("TELEPAY_OUTPUT", "table")
        .output()
        .expect("run telepay doctor");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|l| l.contains("alarms:"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn doctor_says_whether_anyone_is_told_when_an_alarm_fires() {
    let name = format!("telepay-alarms-{}", std::process::id());
    let created = sns("CreateTopic", &[("Name", &name)]);
    let topic = created
        .split("<TopicArn>")
        .nth(1)
        .and_then(|rest| rest.split("</TopicArn>").next())
        .expect("moto creates the topic")
        .to_owned();
    let nobody = alarms_line(&topic);
    assert!(
        nobody.starts_with("FIX  alarms: nobody is told when an alarm fires"),
        "{nobody}"
    );
    sns(
        "Subscribe",
        &[
            ("TopicArn", &topic),
            ("Protocol", "email"),
            ("Endpoint", "owner@example.com"),
        ],
    );
    let told = alarms_line(&topic);
    assert_eq!(told, "ok   alarms: told: email owner@example.com", "{told}");
}

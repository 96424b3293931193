//! Who is told when an alarm fires: SNS `ListSubscriptionsByTopic` on the stack's alarm
//! topic (`TELEPAY_ALARM_TOPIC_ARN`, the `AlarmTopicArn` output), through SNS's query API
//! signed with the CLI's AWS credentials (SigV4, `aws-sigv4`: no SNS client is vendored).
//! An email subscription is listed with the ARN `PendingConfirmation` until its owner
//! clicks the link AWS mails (AWS's SNS guide; docs/operations.md cites it), and until then
//! no alarm reaches it. `AWS_ENDPOINT_URL_SNS` (or `AWS_ENDPOINT_URL`) points it elsewhere,
//! as for every AWS client (the tests: moto).

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use telepay_core::doctor::AlarmSubscriber;

/// The topic's subscribers (the first 100: more is not an owner's stack), or why SNS
/// could not say.
pub(crate) async fn subscribers(
    sdk: &aws_config::SdkConfig,
    topic_arn: &str,
) -> Result<Vec<AlarmSubscriber>, String> {
    // arn:aws:sns:<region>:<account>:<name>
    let region = topic_arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| format!("{topic_arn} is not an SNS topic ARN"))?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SNS")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| format!("https://sns.{region}.amazonaws.com"));
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let body = format!(
        "Action=ListSubscriptionsByTopic&Version=2010-03-31&TopicArn={}",
        form_encode(topic_arn)
    );
    let credentials = sdk
        .credentials_provider()
        .ok_or("no AWS credentials (aws configure)")?
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials: {e}"))?;
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sns")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let content_type = "application/x-www-form-urlencoded";
    let signable = SignableRequest::new(
        "POST",
        &url,
        [("content-type", content_type)].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut request = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?
        .post(&url)
        .header("content-type", content_type)
        .body(body);
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "SNS answered HTTP {status}: {}",
            element(&text, "Message").unwrap_or_default()
        ));
    }
    Ok(members(&text))
}

/// The `<member>`s of a `ListSubscriptionsByTopic` answer.
fn members(xml: &str) -> Vec<AlarmSubscriber> {
    xml.split("<member>")
        .skip(1)
        .filter_map(|member| {
            let arn = element(member, "SubscriptionArn")?;
            Some(AlarmSubscriber {
                protocol: element(member, "Protocol").unwrap_or_default(),
                endpoint: element(member, "Endpoint").unwrap_or_default(),
                confirmed: arn.starts_with("arn:"),
            })
        })
        .collect()
}

fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].to_owned())
}

/// `application/x-www-form-urlencoded`, as SigV4 and SNS read it.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfirmed_subscription_is_read_as_such() {
        let xml = "<ListSubscriptionsByTopicResponse><ListSubscriptionsByTopicResult><Subscriptions>\
            <member><SubscriptionArn>arn:aws:sns:us-east-1:1:alarms:abc</SubscriptionArn><Protocol>email</Protocol><Endpoint>a@example.com</Endpoint></member>\
            <member><SubscriptionArn>PendingConfirmation</SubscriptionArn><Protocol>email</Protocol><Endpoint>b@example.com</Endpoint></member>\
            </Subscriptions></ListSubscriptionsByTopicResult></ListSubscriptionsByTopicResponse>";
        let found = members(xml);
        assert_eq!(found.len(), 2);
        assert!(found[0].confirmed && !found[1].confirmed);
        assert_eq!(found[1].endpoint, "b@example.com");
        assert_eq!(
            form_encode("arn:aws:sns:us-east-1:1:a"),
            "arn%3Aaws%3Asns%3Aus-east-1%3A1%3Aa"
        );
    }
}

//! Secrets read once at cold start. In AWS the template keeps them in Secrets Manager and
//! passes each function only the ARNs it may read (`<VARIABLE>_SECRET_ARN`), so nobody
//! with `lambda:GetFunctionConfiguration` sees a value; a local run sets the plain
//! variable instead. Either way the configuration reads one [`Environment`].

use std::collections::HashMap;
use std::fmt;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_types::SdkConfig;
use tracing::info;

use crate::config::{
    BOT_TOKEN, BOT_TOKEN_SECRET_ARN, BOT_WEBHOOK_SECRET, BOT_WEBHOOK_SECRET_ARN, ConfigError,
    DATABASE_URL, DATABASE_URL_SECRET_ARN, Environment, IPN_SECRET, IPN_SECRET_ARN,
    NOWPAYMENTS_API_KEY, NOWPAYMENTS_API_KEY_ARN, NOWPAYMENTS_PASSWORD, NOWPAYMENTS_PASSWORD_ARN,
};

/// Each secret's plain variable and the variable naming its Secrets Manager ARN.
pub const SECRET_VARIABLES: [(&str, &str); 6] = [
    (IPN_SECRET, IPN_SECRET_ARN),
    (BOT_TOKEN, BOT_TOKEN_SECRET_ARN),
    (DATABASE_URL, DATABASE_URL_SECRET_ARN),
    (BOT_WEBHOOK_SECRET, BOT_WEBHOOK_SECRET_ARN),
    (NOWPAYMENTS_API_KEY, NOWPAYMENTS_API_KEY_ARN),
    (NOWPAYMENTS_PASSWORD, NOWPAYMENTS_PASSWORD_ARN),
];

/// The process environment with the secrets read from Secrets Manager laid over it.
pub struct WithSecrets<E> {
    base: E,
    secrets: HashMap<&'static str, String>,
}

impl<E> fmt::Debug for WithSecrets<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithSecrets")
            .field("from_secrets_manager", &self.secrets.keys())
            .finish_non_exhaustive()
    }
}

impl<E: Environment> Environment for WithSecrets<E> {
    fn get(&self, name: &str) -> Option<String> {
        self.secrets
            .get(name)
            .cloned()
            .or_else(|| self.base.get(name))
    }
}

/// Reads every secret whose ARN variable is set, once, in one `BatchGetSecretValue`
/// request: a cold start waits for one round trip however many secrets it needs (three
/// parallel `GetSecretValue` calls took twice as long on moto). The client is built only
/// when there is something to read. An error names the variables, never a value.
pub async fn read_secrets<E: Environment>(
    base: E,
    sdk: &SdkConfig,
) -> Result<WithSecrets<E>, ConfigError> {
    let wanted: Vec<(&'static str, &'static str, String)> = SECRET_VARIABLES
        .iter()
        .filter_map(|&(variable, arn_variable)| {
            let arn = base.optional(arn_variable)?;
            Some((variable, arn_variable, arn.trim().to_owned()))
        })
        .collect();
    let mut secrets = HashMap::new();
    if wanted.is_empty() {
        return Ok(WithSecrets { base, secrets });
    }
    // Two variables may name one secret; Secrets Manager is asked for it once.
    let mut ids: Vec<String> = wanted.iter().map(|(_, _, arn)| arn.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let answer = aws_sdk_secretsmanager::Client::new(sdk)
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids))
        .send()
        .await
        .map_err(|e| ConfigError::Secret {
            variables: wanted.iter().map(|&(_, variable, _)| variable).collect(),
            reason: DisplayErrorContext(e).to_string(),
        })?;
    // A secret it would not give comes back as an error entry, by the id we sent.
    let refused: HashMap<&str, String> = answer
        .errors()
        .iter()
        .filter_map(|e| {
            let id = e.secret_id()?;
            let reason = format!(
                "{}: {}",
                e.error_code().unwrap_or("error"),
                e.message().unwrap_or("no message")
            );
            Some((id, reason))
        })
        .collect();
    for (variable, arn_variable, id) in &wanted {
        let fail = |reason: String| ConfigError::Secret {
            variables: vec![*arn_variable],
            reason,
        };
        if let Some(reason) = refused.get(id.as_str()) {
            return Err(fail(reason.clone()));
        }
        let entry = answer
            .secret_values()
            .iter()
            .find(|entry| names_secret(id, entry.arn(), entry.name()))
            .ok_or_else(|| fail("Secrets Manager did not return it".into()))?;
        let value = entry
            .secret_string()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| fail("the secret has no string value".into()))?;
        secrets.insert(*variable, value.to_owned());
    }
    info!(secrets = ?secrets.keys().collect::<Vec<_>>(), "secrets read from Secrets Manager");
    Ok(WithSecrets { base, secrets })
}

/// Whether `id`, as a variable gives it (full ARN, partial ARN without Secrets Manager's
/// six-character suffix, or name), names the secret with this ARN and name.
fn names_secret(id: &str, arn: Option<&str>, name: Option<&str>) -> bool {
    if name == Some(id) {
        return true;
    }
    let Some(arn) = arn else { return false };
    arn == id
        || arn
            .strip_prefix(id)
            .is_some_and(|suffix| suffix.len() == 7 && suffix.starts_with('-'))
}

/// One secret read again from Secrets Manager (`GetSecretValue`), by the id a
/// `*_SECRET_ARN` variable gives: what a warm function uses when a rotated secret refuses
/// its work ([`telepay_core::rotation`]). Errors name the secret's variable, never a value.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    id: String,
}

impl SecretsManagerSource {
    pub fn new(sdk: &SdkConfig, id: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            id: id.into(),
        }
    }
}

impl telepay_core::rotation::SecretSource for SecretsManagerSource {
    fn fetch(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + '_>>
    {
        Box::pin(async move {
            let answer = self
                .client
                .get_secret_value()
                .secret_id(&self.id)
                .send()
                .await
                .map_err(|e| DisplayErrorContext(e).to_string())?;
            answer
                .secret_string()
                .filter(|value| !value.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| "the secret has no string value".to_owned())
        })
    }
}

/// The bot, reading its token again from Secrets Manager when the Bot API refuses it, if
/// the token came from there (`TELEGRAM_BOT_TOKEN_SECRET_ARN`): a token rotated in
/// BotFather and in its secret reaches warm functions.
pub fn renewing_bot(
    telegram: crate::telegram::TelegramBotApi,
    env: &impl Environment,
    sdk: &SdkConfig,
) -> Result<crate::telegram::TelegramBotApi, ConfigError> {
    match env.optional(BOT_TOKEN_SECRET_ARN) {
        Some(arn) => Ok(telegram.with_token_source(
            std::sync::Arc::new(SecretsManagerSource::new(sdk, arn)),
            telepay_core::rotation::REREAD_PAUSE,
            crate::config::secret_max_age(env)?,
        )),
        None => Ok(telegram),
    }
}

#[cfg(test)]
mod tests {
    use super::names_secret;

    const ARN: &str =
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:telepay/bot-token-AbCdEf";

    #[test]
    fn a_variable_names_its_secret_by_arn_partial_arn_or_name() {
        let name = Some("telepay/bot-token");
        assert!(names_secret(ARN, Some(ARN), name));
        assert!(names_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:telepay/bot-token",
            Some(ARN),
            name
        ));
        assert!(names_secret("telepay/bot-token", Some(ARN), name));
        // Another secret whose name starts the same is not this one.
        assert!(!names_secret(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:telepay/bot",
            Some(ARN),
            name
        ));
        assert!(!names_secret("telepay/ipn-secret", Some(ARN), name));
    }
}

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
    NOWPAYMENTS_API_KEY, NOWPAYMENTS_API_KEY_ARN,
};

/// Each secret's plain variable and the variable naming its Secrets Manager ARN.
pub const SECRET_VARIABLES: [(&str, &str); 5] = [
    (IPN_SECRET, IPN_SECRET_ARN),
    (BOT_TOKEN, BOT_TOKEN_SECRET_ARN),
    (DATABASE_URL, DATABASE_URL_SECRET_ARN),
    (BOT_WEBHOOK_SECRET, BOT_WEBHOOK_SECRET_ARN),
    (NOWPAYMENTS_API_KEY, NOWPAYMENTS_API_KEY_ARN),
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

/// Reads every secret whose ARN variable is set, once; builds the client only then.
/// An error names the variable, never a value.
pub async fn read_secrets<E: Environment>(
    base: E,
    sdk: &SdkConfig,
) -> Result<WithSecrets<E>, ConfigError> {
    let wanted: Vec<(&'static str, &'static str, String)> = SECRET_VARIABLES
        .iter()
        .filter_map(|&(variable, arn_variable)| {
            let arn = base.optional(arn_variable)?;
            Some((variable, arn_variable, arn))
        })
        .collect();
    let mut secrets = HashMap::new();
    if wanted.is_empty() {
        return Ok(WithSecrets { base, secrets });
    }
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    // All at once: a cold start waits for one round trip, not one per secret.
    let mut reads = tokio::task::JoinSet::new();
    for (variable, arn_variable, arn) in wanted {
        let client = client.clone();
        reads.spawn(async move {
            let value = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| ConfigError::Secret {
                    variable: arn_variable,
                    reason: DisplayErrorContext(e).to_string(),
                })?
                .secret_string
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Secret {
                    variable: arn_variable,
                    reason: "the secret has no string value".into(),
                })?;
            Ok::<_, ConfigError>((variable, value))
        });
    }
    while let Some(read) = reads.join_next().await {
        let (variable, value) = read.expect("a secret read never panics")?;
        secrets.insert(variable, value);
    }
    info!(secrets = ?secrets.keys().collect::<Vec<_>>(), "secrets read from Secrets Manager");
    Ok(WithSecrets { base, secrets })
}

//! Which store backend, and where: `TELEPAY_STORE_BACKEND` with the table names, the
//! database URL or the SQLite path. Connecting is the store module's job.

use std::path::PathBuf;

use super::{ConfigError, Environment};

pub const PAYMENTS_TABLE: &str = "TELEPAY_PAYMENTS_TABLE";
pub const REVIEWS_TABLE: &str = "TELEPAY_REVIEWS_TABLE";
pub const SUBSCRIPTIONS_TABLE: &str = "TELEPAY_SUBSCRIPTIONS_TABLE";
pub const BOT_TABLE: &str = "TELEPAY_BOT_TABLE";
pub const WATCHES_TABLE: &str = "TELEPAY_WATCHES_TABLE";
pub const CATALOG_TABLE: &str = "TELEPAY_CATALOG_TABLE";
pub const STORE_BACKEND: &str = "TELEPAY_STORE_BACKEND";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const SQLITE_PATH: &str = "TELEPAY_SQLITE_PATH";

/// Which backend, from `TELEPAY_STORE_BACKEND` (`dynamodb`, the default; `postgres`
/// with `DATABASE_URL`; `sqlite` with `TELEPAY_SQLITE_PATH`).
#[derive(Debug, Clone)]
pub enum StoreConfig {
    DynamoDb(TableNames),
    Postgres(DatabaseUrl),
    Sqlite(PathBuf),
}

impl StoreConfig {
    /// The store of a function that changes subscriptions: on DynamoDB it needs the
    /// subscriptions table too, so its absence stops the cold start, named.
    pub fn with_subscriptions_from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let config = Self::from_env(env)?;
        if let Self::DynamoDb(tables) = &config
            && tables.subscriptions.is_none()
        {
            return Err(ConfigError::Missing(SUBSCRIPTIONS_TABLE));
        }
        Ok(config)
    }

    /// The bot's store: subscriptions and, on DynamoDB, the bot table too.
    pub fn for_bot_from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let config = Self::with_subscriptions_from_env(env)?;
        if let Self::DynamoDb(tables) = &config
            && tables.bot.is_none()
        {
            return Err(ConfigError::Missing(BOT_TABLE));
        }
        Ok(config)
    }

    /// The store of a function that watches payments under way (np-webhook, the
    /// reconciler's recovery pass): on DynamoDB it needs the watches table.
    pub fn watching(self) -> Result<Self, ConfigError> {
        if let Self::DynamoDb(tables) = &self
            && tables.watches.is_none()
        {
            return Err(ConfigError::Missing(WATCHES_TABLE));
        }
        Ok(self)
    }

    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let backend = env.get(STORE_BACKEND).unwrap_or_default();
        match backend.trim() {
            "" | "dynamodb" => Ok(Self::DynamoDb(TableNames::from_env(env)?)),
            "postgres" => Ok(Self::Postgres(DatabaseUrl::new(
                env.required(DATABASE_URL)?,
            ))),
            "sqlite" => Ok(Self::Sqlite(env.required(SQLITE_PATH)?.into())),
            other => Err(ConfigError::Invalid {
                variable: STORE_BACKEND,
                reason: format!("{other:?} is not one of dynamodb, postgres, sqlite"),
            }),
        }
    }
}

/// The two tables every function's store uses, and the subscriptions table of those
/// that change subscriptions.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub payments: String,
    pub reviews: String,
    pub subscriptions: Option<String>,
    /// The bot's once-records (the bot webhook and its re-check).
    pub bot: Option<String>,
    /// Payments under way, watched until their outcome is known.
    pub watches: Option<String>,
    /// The catalog's versions (channels, tiers, texts).
    pub catalog: Option<String>,
}

impl TableNames {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            payments: env.required(PAYMENTS_TABLE)?,
            reviews: env.required(REVIEWS_TABLE)?,
            subscriptions: env.optional(SUBSCRIPTIONS_TABLE),
            bot: env.optional(BOT_TABLE),
            watches: env.optional(WATCHES_TABLE),
            catalog: env.optional(CATALOG_TABLE),
        })
    }
}

/// The database URL. Never printed: it carries the password.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for the Postgres driver only: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_is_the_default_and_postgres_needs_its_url() {
        let tables = [(PAYMENTS_TABLE, "p"), (REVIEWS_TABLE, "r")];
        assert!(matches!(
            StoreConfig::from_env(&tables),
            Ok(StoreConfig::DynamoDb(_))
        ));
        let err = StoreConfig::from_env(&[(STORE_BACKEND, "postgres")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DATABASE_URL is missing or empty"
        );
        let url = "postgres://telepay:hunter2@db/telepay";
        let config =
            StoreConfig::from_env(&[(STORE_BACKEND, "postgres"), (DATABASE_URL, url)]).unwrap();
        assert!(
            !format!("{config:?}").contains("hunter2"),
            "the password never prints"
        );
        assert!(StoreConfig::from_env(&[(STORE_BACKEND, "mysql")]).is_err());
    }

    #[test]
    fn a_function_that_changes_subscriptions_needs_their_table_on_dynamodb() {
        let tables = [(PAYMENTS_TABLE, "p"), (REVIEWS_TABLE, "r")];
        assert_eq!(
            StoreConfig::with_subscriptions_from_env(&tables)
                .unwrap_err()
                .to_string(),
            "environment variable TELEPAY_SUBSCRIPTIONS_TABLE is missing or empty"
        );
        let all = [
            (PAYMENTS_TABLE, "p"),
            (REVIEWS_TABLE, "r"),
            (SUBSCRIPTIONS_TABLE, "s"),
        ];
        assert!(StoreConfig::with_subscriptions_from_env(&all).is_ok());
        let sqlite = [(STORE_BACKEND, "sqlite"), (SQLITE_PATH, "/tmp/x.db")];
        assert!(StoreConfig::with_subscriptions_from_env(&sqlite).is_ok());
    }
}

//! The migrations in `migrations/`, embedded: `telepay migrate` (or
//! [`super::SqlStore::migrate`]) runs them; a cold start never does.

use sqlx::migrate::Migrator;

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

//! What the store needs from a SQL driver, said once for every sqlx database that can
//! run our statements: a blanket implementation states the driver bounds in one place,
//! so the store itself is one generic type instead of a macro per dialect.

use std::future::Future;

use chrono::NaiveDateTime;
use sqlx::migrate::Migrate;
use sqlx::{Arguments, Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::migrations::MIGRATOR;
use super::rows::{
    CatalogRow, OnceRow, PartsRow, PaymentRow, ReviewRow, SubscriptionRow, WatchRow,
};

/// A queued message as its statements return it: id, body, receive count, receipt.
pub type QueueRow = (String, String, i64, String);

/// One value bound to a statement's `$N`, in the order of the placeholders.
#[derive(Debug, Clone)]
pub enum Bind {
    Int(Option<i64>),
    Float(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Time(Option<NaiveDateTime>),
}

impl From<i64> for Bind {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}

impl From<&str> for Bind {
    fn from(text: &str) -> Self {
        Self::Text(Some(text.to_owned()))
    }
}

impl From<NaiveDateTime> for Bind {
    fn from(t: NaiveDateTime) -> Self {
        Self::Time(Some(t))
    }
}

pub trait SqlDialect: Database {
    /// Runs a conditional statement; whether it returned a row (the condition held).
    fn returns_row(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    fn payment_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<PaymentRow>, sqlx::Error>> + Send;

    fn review_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<ReviewRow>, sqlx::Error>> + Send;

    fn subscription_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<SubscriptionRow>, sqlx::Error>> + Send;

    fn once_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<OnceRow>, sqlx::Error>> + Send;

    fn watch_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<WatchRow>, sqlx::Error>> + Send;

    /// Runs a statement; how many rows it returned (`RETURNING`: the rows it changed).
    fn parts_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<PartsRow>, sqlx::Error>> + Send;

    fn catalog_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<CatalogRow>, sqlx::Error>> + Send;

    fn rows_returned(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// Runs a statement whose rows are queued messages: `(message_id, body,
    /// receive_count, receipt_handle)` (`crate::sql_queue`).
    fn queue_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<QueueRow>, sqlx::Error>> + Send;

    /// Runs a statement whose rows are one number each.
    fn numbers(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Vec<i64>, sqlx::Error>> + Send;

    /// Applies the pending migrations in `migrations/`.
    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// The statement's arguments, in placeholder order.
fn arguments<DB>(binds: Vec<Bind>) -> Result<DB::Arguments, sqlx::error::BoxDynError>
where
    DB: Database,
    for<'e> Option<i64>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<f64>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<String>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<bool>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<NaiveDateTime>: Encode<'e, DB> + Type<DB>,
{
    let mut arguments = DB::Arguments::default();
    for bind in binds {
        match bind {
            Bind::Int(v) => arguments.add(v)?,
            Bind::Float(v) => arguments.add(v)?,
            Bind::Text(v) => arguments.add(v)?,
            Bind::Bool(v) => arguments.add(v)?,
            Bind::Time(v) => arguments.add(v)?,
        }
    }
    Ok(arguments)
}

impl<DB> SqlDialect for DB
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Connection: Migrate,
    for<'e> Option<i64>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<f64>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<String>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<bool>: Encode<'e, DB> + Type<DB>,
    for<'e> Option<NaiveDateTime>: Encode<'e, DB> + Type<DB>,
    for<'r> PaymentRow: FromRow<'r, DB::Row>,
    for<'r> ReviewRow: FromRow<'r, DB::Row>,
    for<'r> SubscriptionRow: FromRow<'r, DB::Row>,
    for<'r> OnceRow: FromRow<'r, DB::Row>,
    for<'r> WatchRow: FromRow<'r, DB::Row>,
    for<'r> PartsRow: FromRow<'r, DB::Row>,
    for<'r> CatalogRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> QueueRow: FromRow<'r, DB::Row>,
{
    async fn returns_row(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<bool, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        let query = sqlx::query_with::<DB, _>(sql, arguments);
        Ok(query.fetch_optional(pool).await?.is_some())
    }

    async fn payment_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<PaymentRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, PaymentRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn review_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<ReviewRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, ReviewRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn subscription_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, SubscriptionRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn once_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<OnceRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, OnceRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn watch_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<WatchRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, WatchRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn parts_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<PartsRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, PartsRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn catalog_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<CatalogRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, CatalogRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn rows_returned(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<u64, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        let rows = sqlx::query_with::<DB, _>(sql, arguments)
            .fetch_all(pool)
            .await?;
        Ok(rows.len() as u64)
    }

    async fn queue_rows(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<QueueRow>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        sqlx::query_as_with::<DB, QueueRow, _>(sql, arguments)
            .fetch_all(pool)
            .await
    }

    async fn numbers(
        pool: &Pool<Self>,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let arguments = arguments::<DB>(binds).map_err(sqlx::Error::Encode)?;
        let rows = sqlx::query_as_with::<DB, (i64,), _>(sql, arguments)
            .fetch_all(pool)
            .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    async fn migrate(pool: &Pool<Self>) -> Result<(), sqlx::Error> {
        MIGRATOR.run(pool).await.map_err(sqlx::Error::from)
    }
}

//! An SDK failure as the store's domain error: the one place a DynamoDB call's error is
//! turned into [`StoreError::Unavailable`] (with the SDK's context, never a secret).

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use telepay_core::store::StoreError;

pub(super) fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(error).to_string())
}

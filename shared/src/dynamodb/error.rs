//! An SDK failure as the store's domain error: the one place a DynamoDB call's error is
//! turned into [`StoreError`] (with the SDK's context, never a secret). An item over
//! DynamoDB's size limit is [`StoreError::TooLarge`], counted; anything else is
//! [`StoreError::Unavailable`].

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use telepay_core::metrics::{self, signal};
use telepay_core::store::StoreError;

pub(super) fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    if too_large(error.code(), error.message()) {
        metrics::count(signal::STORE_ITEM_TOO_LARGE);
        return StoreError::TooLarge(DisplayErrorContext(error).to_string());
    }
    StoreError::Unavailable(DisplayErrorContext(error).to_string())
}

/// DynamoDB answers a too-large item with a `ValidationException` "Item size has
/// exceeded the maximum allowed size" (moto: `ItemSizeTooLarge`, the same message).
fn too_large(code: Option<&str>, message: Option<&str>) -> bool {
    let validation = matches!(code, Some("ValidationException" | "ItemSizeTooLarge"));
    validation && message.is_some_and(|m| m.contains("Item size"))
}

#[cfg(test)]
mod tests {
    use super::too_large;

    #[test]
    fn only_an_item_size_refusal_is_too_large() {
        let size = Some("Item size has exceeded the maximum allowed size");
        assert!(too_large(Some("ValidationException"), size));
        assert!(!too_large(
            Some("ValidationException"),
            Some("One or more parameter values were invalid")
        ));
        assert!(!too_large(
            Some("ProvisionedThroughputExceededException"),
            size
        ));
        assert!(!too_large(None, None));
    }
}

//! API-key authentication as Stripe does it: `Authorization: Bearer sk_test_...`, or HTTP basic
//! auth with the key as the user name (what `curl -u sk_test_...:` sends). Any test-mode secret
//! or restricted key is accepted; the fake has one account and does not check key values.

use base64::Engine;

use super::error::ApiError;

const NO_KEY: &str = "You did not provide an API key. You need to provide your API key in the Authorization header, \
using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication \
for details, or we can help at https://support.stripe.com/.";

/// Accepts the request's `Authorization` header, or says why not.
pub fn authenticate(header: Option<&str>) -> Result<(), ApiError> {
    let header =
        header.map(str::trim).filter(|h| !h.is_empty()).ok_or_else(|| ApiError::Unauthenticated(NO_KEY.into()))?;
    let key = if let Some(token) = strip_scheme(header, "bearer") {
        token.trim().to_string()
    } else if let Some(encoded) = strip_scheme(header, "basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ApiError::Unauthenticated(NO_KEY.into()))?;
        let text = String::from_utf8_lossy(&decoded).into_owned();
        text.split(':').next().unwrap_or_default().to_string()
    } else {
        return Err(ApiError::Unauthenticated(NO_KEY.into()));
    };
    if key.is_empty() {
        return Err(ApiError::Unauthenticated(NO_KEY.into()));
    }
    if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        Ok(())
    } else {
        Err(ApiError::Unauthenticated(format!("Invalid API Key provided: {}", redact(&key))))
    }
}

fn strip_scheme<'h>(header: &'h str, scheme: &str) -> Option<&'h str> {
    let (given, rest) = header.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Stripe shows only the key's prefix and last four characters.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_test_key_is_accepted() {
        assert!(authenticate(Some("Bearer sk_test_123")).is_ok());
    }

    #[test]
    fn basic_auth_with_the_key_as_user_is_accepted() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("sk_test_123:");
        assert!(authenticate(Some(&format!("Basic {encoded}"))).is_ok());
    }

    #[test]
    fn no_header_or_a_live_key_is_refused() {
        assert!(matches!(authenticate(None), Err(ApiError::Unauthenticated(_))));
        assert!(matches!(authenticate(Some("Bearer sk_live_abcdefghijkl")), Err(ApiError::Unauthenticated(_))));
    }
}

//! Domain types that can only hold valid values.
//!
//! Request bodies are turned into these at the edge (see [`crate::http::request`]); everything
//! inside the service takes them and so can never be handed an invalid e-mail, a negative
//! amount or an unknown plan.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An e-mail address, trimmed, with one `@`, a non-empty local part and a dotted domain, all
/// in ASCII.
///
/// ASCII only, like the domain (an internationalized domain is written in punycode): then the
/// 254-character limit is also 254 bytes, RFC 5321's limit, well within Stripe's (512), and the
/// OpenAPI document's pattern, which counts characters, says exactly what is accepted. An
/// address of 200 emoji, within 254 characters but 800 bytes, used to be accepted here and
/// refused by Stripe (a 502 instead of a 422).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "ada@example.com")]
pub struct Email(String);

impl Email {
    /// Longest address accepted, in characters — and bytes, since it is ASCII (RFC 5321's path
    /// limit).
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err("must be an e-mail address like name@example.com".into());
        };
        let valid_domain = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !value.is_ascii() {
            return Err(
                "must be an e-mail address in ASCII, like name@example.com (write an internationalized domain in punycode)"
                    .into(),
            );
        }
        let valid_local = !local.is_empty() && local.chars().all(|c| c.is_ascii_graphic() && c != '@');
        if !valid_local || !valid_domain {
            return Err("must be an e-mail address like name@example.com".into());
        }
        Ok(Email(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer's display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(transparent)]
pub struct CustomerName(String);

impl CustomerName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<CustomerName, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if value.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(CustomerName(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a customer signed up. Open to more channels: anything that is a lowercase
/// identifier is accepted, the two known ones have names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(example = "direct")]
pub struct SignupSource(String);

impl SignupSource {
    pub const DIRECT: &'static str = "direct";
    pub const GITHUB_MARKETPLACE: &'static str = "gh_marketplace";

    pub fn direct() -> SignupSource {
        SignupSource(Self::DIRECT.into())
    }

    pub fn parse(raw: &str) -> Result<SignupSource, String> {
        let valid = !raw.is_empty()
            && raw.len() <= 40
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(SignupSource(raw.into()))
        } else {
            Err(format!("must be a lowercase identifier such as `{}` or `{}`", Self::DIRECT, Self::GITHUB_MARKETPLACE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of money in integer cents (USD). Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(example = 2900)]
pub struct Cents(pub i64);

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// A customer's pricing plan, stored as text in `customers.plan`: an unknown value in the
/// database is a decoding error, never silently a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Plan {
    /// Signed up, living on the free trial credits.
    Trial,
    /// Has a payment method: fixes beyond the credits are charged one by one.
    #[serde(rename = "payg")]
    #[sqlx(rename = "payg")]
    PayAsYouGo,
    /// Monthly subscription: 60 credits per paid invoice, cheaper fixes beyond them.
    Pro,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Trial => "trial",
            Plan::PayAsYouGo => "payg",
            Plan::Pro => "pro",
        }
    }
}

/// Where a charge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ChargeStatus {
    /// Recorded, sent or about to be sent to Stripe; the outcome is not known yet.
    Pending,
    /// Stripe charged it.
    Succeeded,
    /// Nothing was charged (declined, refused, or never sent).
    Failed,
}

/// A customer's id (ours, not Stripe's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct CustomerId(pub Uuid);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_needs_a_local_part_and_a_dotted_domain() {
        assert_eq!(Email::parse("  ada@example.com ").unwrap().as_str(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@.com",
            "a b@example.com",
            "ada@exa..mple.com",
            "ada@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn an_email_is_ascii_so_its_character_limit_is_its_byte_limit() {
        let emoji = format!("{}@example.com", "\u{1f600}".repeat(200));
        assert!(
            emoji.chars().count() <= Email::MAX_LEN && emoji.len() > 512,
            "within the characters, past Stripe's bytes"
        );
        assert!(Email::parse(&emoji).unwrap_err().contains("ASCII"));
        assert!(Email::parse("jos\u{e9}@example.com").is_err());
        assert!(Email::parse("o'brien+tag@example.com").is_ok());
        let longest = format!("{}@example.com", "a".repeat(Email::MAX_LEN - "@example.com".len()));
        assert_eq!(Email::parse(&longest).unwrap().as_str().len(), Email::MAX_LEN);
    }

    #[test]
    fn a_signup_source_is_open_to_new_lowercase_channels() {
        assert!(SignupSource::parse("gh_marketplace").is_ok());
        assert!(SignupSource::parse("aws_marketplace").is_ok());
        assert!(SignupSource::parse("GH").is_err());
        assert!(SignupSource::parse("").is_err());
        assert!(SignupSource::parse("1abc").is_err());
    }

    #[test]
    fn cents_display_as_dollars() {
        assert_eq!(Cents(2900).to_string(), "$29.00");
        assert_eq!(Cents(59_900).to_string(), "$599.00");
        assert_eq!(Cents(5).to_string(), "$0.05");
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert!(CustomerName::parse("Ada Lovelace").is_ok());
        assert!(CustomerName::parse("   ").is_err());
        assert!(CustomerName::parse("a\u{0}b").is_err());
        assert!(CustomerName::parse(&"x".repeat(201)).is_err());
    }
}

//! Request field types that are valid once parsed ("parse, don't validate"): a handler that holds
//! one never checks it again. Their serde errors become 400s naming the field (see `json.rs`).

use std::fmt;

use serde::{Deserialize, Deserializer, de};
use utoipa::ToSchema;

/// A single-line text of 1 to `MAX` characters, trimmed, without control characters.
#[derive(Clone, Debug, PartialEq, Eq, ToSchema)]
#[schema(value_type = String)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let length = trimmed.chars().count();
        if length == 0 {
            Err("must not be empty".to_owned())
        } else if length > MAX {
            Err(format!("must be at most {MAX} characters (got {length})"))
        } else if trimmed.chars().any(char::is_control) {
            Err("must not contain control characters".to_owned())
        } else {
            Ok(Text(trimmed.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Text::parse(&raw).map_err(de::Error::custom)
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name shown in lists: organizations, keys, tokens, users.
pub type Name = Text<200>;
/// A host fact reported by an agent (hostname, OS, version, architecture).
pub type HostField = Text<255>;

/// An email address, lower-cased. Checked for shape only; nothing is sent to it.
#[derive(Clone, Debug, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, format = "email")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let well_formed = email.len() <= Self::MAX_LEN
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if well_formed {
            Ok(Email(email))
        } else {
            Err(format!(
                "not an email address of at most {} characters",
                Self::MAX_LEN
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Email::parse(&raw).map_err(de::Error::custom)
    }
}

/// A URL-safe organization handle: 2 to 63 of `a-z`, `0-9` and `-`, not starting or ending with `-`.
#[derive(Clone, Debug, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = (2..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if valid {
            Ok(Slug(raw.to_owned()))
        } else {
            Err(
                "must be 2-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
                    .to_owned(),
            )
        }
    }

    /// A slug derived from a display name ("ACME Corp." -> "acme-corp").
    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug: String = slug.trim_end_matches('-').chars().take(63).collect();
        Slug::parse(slug.trim_end_matches('-')).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Slug::parse(&raw).map_err(de::Error::custom)
    }
}

/// A password as submitted: bounded so that hashing it cannot be used to exhaust the CPU.
#[derive(Clone, ToSchema)]
#[schema(value_type = String, format = "password")]
pub struct Password(String);

impl Password {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if raw.len() > zerotrace_store::passwords::MAX_PASSWORD_LEN {
            return Err(de::Error::custom(format!(
                "must be at most {} bytes",
                zerotrace_store::passwords::MAX_PASSWORD_LEN
            )));
        }
        Ok(Password(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(Text::<5>::parse("  abc ").unwrap().as_str(), "abc");
        assert!(
            Text::<5>::parse("abcdef")
                .unwrap_err()
                .contains("at most 5")
        );
        assert!(Text::<5>::parse("   ").is_err());
        assert!(Text::<5>::parse("a\nb").is_err());
    }

    #[test]
    fn emails_are_lowercased_and_shaped() {
        assert_eq!(
            Email::parse(" Admin@Example.COM ").unwrap().as_str(),
            "admin@example.com"
        );
        for bad in [
            "",
            "no-at-sign",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@b@c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(300))).is_err());
    }

    #[test]
    fn slugs_derive_from_names() {
        assert_eq!(Slug::from_name("ACME Corp.").unwrap().as_str(), "acme-corp");
        assert_eq!(
            Slug::from_name("  Ünïcode & Co ").unwrap().as_str(),
            "n-code-co"
        );
        assert!(Slug::from_name("!!").is_none());
        assert!(Slug::parse("-bad").is_err());
        assert!(Slug::parse("Upper").is_err());
    }
}

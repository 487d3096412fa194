//! Names and ids of the things the platform stores. Each is a newtype checked on construction, so
//! a value that reached the registry or a storage key can never hold a `/`, `..` or a control
//! character: names are 1 to 64 characters of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest accepted name.
pub const MAX_NAME_LEN: usize = 64;

/// The names' rule as a regular expression, for the API's document: a letter or digit, then
/// letters, digits, `_`, `-` and `.`, never two dots in a row (with 1 to [`MAX_NAME_LEN`]
/// characters).
pub const NAME_PATTERN: &str = r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-])*\.?$";

/// An alias also starts with a letter, so that it never reads as a version number.
pub const ALIAS_PATTERN: &str = r"^[A-Za-z](?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-])*\.?$";

/// A version tag's key: 1 to [`MAX_TAG_KEY_LEN`] of letters, digits, `_`, `.`, `:` and `-`.
pub const TAG_KEY_PATTERN: &str = r"^[A-Za-z0-9_.:-]{1,128}$";

/// Longest tag key, in characters.
pub const MAX_TAG_KEY_LEN: usize = 128;

/// Whether `key` is a valid tag key (see [`TAG_KEY_PATTERN`]).
pub fn is_tag_key(key: &str) -> bool {
    (1..=MAX_TAG_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Whether `alias` may name an alias: it starts with a letter, so that it never reads as a
/// version number (the rest is [`AliasName`]'s rule).
pub fn is_alias(alias: &AliasName) -> bool {
    alias
        .as_str()
        .starts_with(|c: char| c.is_ascii_alphabetic())
}

/// The OpenAPI schema of a name following `pattern`.
#[cfg(feature = "openapi")]
pub fn name_schema(pattern: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_LEN))
        .pattern(Some(pattern))
        .into()
}

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} name {:?}: use 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 _ . -, \
             starting with a letter or digit, without \"..\"",
            self.what, self.value
        )
    }
}

impl std::error::Error for NameError {}

fn check(what: &'static str, value: &str) -> Result<(), NameError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && !value.contains("..")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(NameError {
            what,
            value: value.chars().take(MAX_NAME_LEN + 8).collect(),
        })
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        name_type!($(#[$doc])* $name, $what, NAME_PATTERN);
    };
    ($(#[$doc:meta])* $name:ident, $what:literal, $pattern:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                name_schema($pattern)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                check($what, &value)?;
                Ok($name(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $name::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A registered dataset.
    DatasetName,
    "dataset"
);
name_type!(
    /// A registered model (the family of its versions).
    ModelName,
    "model"
);
name_type!(
    /// A movable pointer to one version of a model, such as `champion`; it starts with a
    /// letter (checked where an alias is set).
    AliasName,
    "alias",
    ALIAS_PATTERN
);
name_type!(
    /// A job, generated by the platform.
    JobId,
    "job id"
);
name_type!(
    /// A hyperparameter sweep, generated by the platform.
    SweepId,
    "sweep id"
);
name_type!(
    /// An API key's public id, generated by the platform (never the secret).
    KeyId,
    "key id"
);
name_type!(
    /// What an API key is for, chosen by whoever creates it (`ci`, `grafana`).
    KeyName,
    "key name"
);

/// What a name or id refers to, so that "not found" can say which kind of thing is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Dataset,
    Model,
    /// A version of a model, by number or alias.
    Version,
    Alias,
    Job,
    Sweep,
    /// A model's monitoring policy.
    Policy,
    /// A content-addressed file in the blob store.
    Blob,
    /// An API key.
    Key,
    /// Logged predictions (an empty monitoring window).
    Predictions,
    /// An input feature of a model.
    Feature,
}

/// A version number of a model: 1, 2, ... in the order they were registered. Written and read
/// as a plain number (JSON, paths, the database).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(u32);

impl Version {
    pub const fn new(number: u32) -> Version {
        Version(number)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for Version {
    fn from(number: u32) -> Version {
        Version(number)
    }
}

impl FromStr for Version {
    type Err = String;

    /// Only the canonical form (see [`parse_version`]).
    fn from_str(s: &str) -> Result<Version, String> {
        parse_version(s).ok_or_else(|| format!("{s:?} is not a version number (1, 2, ...)"))
    }
}

impl From<Version> for i64 {
    fn from(v: Version) -> i64 {
        i64::from(v.0)
    }
}

impl TryFrom<i64> for Version {
    type Error = std::num::TryFromIntError;

    fn try_from(number: i64) -> Result<Version, Self::Error> {
        u32::try_from(number).map(Version)
    }
}

impl PartialEq<u32> for Version {
    fn eq(&self, other: &u32) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A version number written the one canonical way (`7`, not `07` or `+7`), so that every
/// reference to a version reads the same and anything else can be an alias.
pub fn parse_version(s: &str) -> Option<Version> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok().map(Version)).flatten()
}

/// Where a job is in its life. `queued -> running -> succeeded | failed | cancelled`; a job
/// interrupted by a crash goes back from `running` to `queued` and resumes from its checkpoint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_a_prefix_are_refused() {
        for bad in [
            "", "a/b", "..", "a..b", ".hidden", "-x", "a b", "é", "a\\b", "a\0",
        ] {
            assert!(ModelName::new(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(ModelName::new("x".repeat(MAX_NAME_LEN + 1)).is_err());
        for good in ["iris", "iris-v2.1", "Digits_8x8", "0"] {
            assert_eq!(ModelName::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn names_are_checked_when_deserialized() {
        assert!(serde_json::from_str::<DatasetName>("\"../etc\"").is_err());
        let name: DatasetName = serde_json::from_str("\"wine\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"wine\"");
    }

    #[test]
    fn versions_are_read_only_in_canonical_form() {
        assert_eq!(parse_version("7"), Some(Version::new(7)));
        assert_eq!(parse_version("4294967295"), Some(Version::new(u32::MAX)));
        for bad in ["", "07", "+7", "-1", " 7", "7a", "4294967296", "champion"] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn job_states_round_trip_through_text() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        }
        assert!("done".parse::<JobState>().is_err());
    }
}

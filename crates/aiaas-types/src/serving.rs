//! Per-version serving settings, kept as version tags (`serve.max_batch`,
//! `serve.max_delay_us`, `serve.queue_capacity`, `serve.share`, `serve.pinned`) so they travel
//! with the registry and change without a restart: the registry checks them when they are set,
//! the serving runtime reads them when it loads a version.

use std::collections::BTreeMap;

/// The tag prefix serving settings live under.
pub const SERVE_TAG_PREFIX: &str = "serve.";

/// The tag that pins a version (value `true`): see [`ServingSettings::pinned`].
pub const PINNED_TAG: &str = "serve.pinned";

/// What a version's tags say about serving it; `None` keeps the server's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServingSettings {
    /// Most rows in one forward pass (1 to 4096).
    pub max_batch: Option<usize>,
    /// Longest wait for a batch to fill, in microseconds (0 to 1,000,000).
    pub max_delay_us: Option<u64>,
    /// Requests that may wait (1 to 1,000,000).
    pub queue_capacity: Option<usize>,
    /// Its weight in the compute pool's round robin among the models with work (1 to 1,000).
    pub share: Option<u32>,
    /// Loaded before the server says it is ready and never unloaded to make room (`true` or
    /// `false`).
    pub pinned: bool,
}

impl ServingSettings {
    /// The settings in `tags`; an unknown `serve.` key or a value out of range is an error
    /// that names the key and its range.
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Result<ServingSettings, String> {
        let mut settings = ServingSettings::default();
        for (key, value) in tags {
            let Some(name) = key.strip_prefix(SERVE_TAG_PREFIX) else {
                continue;
            };
            let number = |max: u64| -> Result<u64, String> {
                let min = u64::from(name != "max_delay_us");
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "tag {key} must be a whole number from {min} to {max}, got {value:?}"
                        )
                    })
            };
            match name {
                "max_batch" => settings.max_batch = Some(number(4096)? as usize),
                "max_delay_us" => settings.max_delay_us = Some(number(1_000_000)?),
                "queue_capacity" => settings.queue_capacity = Some(number(1_000_000)? as usize),
                "share" => settings.share = Some(number(1_000)? as u32),
                "pinned" => {
                    settings.pinned = value
                        .parse()
                        .map_err(|_| format!("tag {key} must be true or false, got {value:?}"))?
                }
                _ => {
                    return Err(format!(
                        "unknown serving tag {key}; known: serve.max_batch, serve.max_delay_us, serve.queue_capacity, serve.share, serve.pinned"
                    ));
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn serving_tags_are_read_and_checked() {
        let s = ServingSettings::from_tags(&tags(&[
            ("serve.max_batch", "8"),
            ("serve.max_delay_us", "0"),
            ("serve.share", "4"),
            ("serve.pinned", "true"),
            ("owner", "team-a"),
        ]))
        .unwrap();
        assert_eq!((s.share, s.pinned), (Some(4), true));
        assert_eq!(s.max_batch, Some(8));
        assert_eq!(s.max_delay_us, Some(0));
        assert_eq!(s.queue_capacity, None);
        for bad in [
            ("serve.max_batch", "0"),
            ("serve.max_batch", "lots"),
            ("serve.speed", "1"),
            ("serve.share", "0"),
            ("serve.pinned", "yes"),
        ] {
            let err = ServingSettings::from_tags(&tags(&[bad])).unwrap_err();
            assert!(err.contains(bad.0), "{err}");
        }
    }
}

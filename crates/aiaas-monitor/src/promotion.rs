//! The retrain decision: how a challenger compares with the champion on the same holdout (the
//! original test split and a held-out share of the recent labelled rows), and whether it wins.

use serde::{Deserialize, Serialize};

/// Share of the labelled production rows held out for the comparison (by a hash of the id, so a
/// row's side never changes between retrains).
const HOLDOUT_PERCENT: u64 = 30;
/// How a challenger compares with the champion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrainReport {
    /// `name@version` of the champion.
    pub champion_ref: String,
    /// Headline (accuracy, or R²) on the original test split and on the recent holdout.
    pub champion: Scores,
    pub challenger: Scores,
    /// Labelled production rows used for training and held out.
    pub recent_train_rows: usize,
    pub recent_holdout_rows: usize,
    /// Times each production training row was repeated.
    pub recent_weight: usize,
    pub margin: f64,
    /// The challenger beat the champion on the recent holdout by `margin`.
    pub promote: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub test: Option<f64>,
    pub recent: Option<f64>,
}

/// Whether a labelled row is held out for the comparison: FNV-1a of its id, a hash that does
/// not change between builds, so a row stays on its side across retrains and upgrades.
pub fn held_out(id: &str) -> bool {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 100 < HOLDOUT_PERCENT
}

/// Whether `challenger` beats `champion` by `margin`: decided on the recent rows (the world as
/// it is now), else on the original test split; never without a figure for both.
pub fn promotes(champion: &Scores, challenger: &Scores, margin: f64) -> bool {
    match (
        (champion.recent, challenger.recent),
        (champion.test, challenger.test),
    ) {
        ((Some(a), Some(b)), _) | (_, (Some(a), Some(b))) => b >= a + margin,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(test: Option<f64>, recent: Option<f64>) -> Scores {
        Scores { test, recent }
    }

    #[test]
    fn the_recent_rows_decide_else_the_test_split() {
        let champion = scores(Some(0.97), Some(0.78));
        assert!(promotes(&champion, &scores(Some(0.82), Some(0.89)), 0.01));
        assert!(!promotes(&champion, &scores(Some(0.99), Some(0.785)), 0.01));
        // No recent rows on one side: the test split decides.
        assert!(promotes(
            &scores(Some(0.9), None),
            &scores(Some(0.95), None),
            0.01
        ));
        assert!(!promotes(
            &scores(None, None),
            &scores(Some(0.95), Some(1.0)),
            0.0
        ));
    }

    #[test]
    fn a_row_stays_on_its_side_and_about_the_share_is_held_out() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("req-{i}")).collect();
        let held = ids.iter().filter(|id| held_out(id)).count();
        assert!((2_700..3_300).contains(&held), "{held}");
        assert!(ids.iter().all(|id| held_out(id) == held_out(id)));
        // FNV-1a of "a" is 0xaf63dc4c8601ec8c, which is 96 modulo 100: not held out.
        assert!(!held_out("a"));
    }
}

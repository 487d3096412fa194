//! The epoch progress bar on standard error (drawn only on a terminal), the same for a local
//! run and a server job followed from the client: `[bar] epoch 12/200 train loss ...`.

use aiaas_train::{EpochProgress, Observer};
use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `epochs` epochs (0 when not known yet), with a message after it.
pub fn epoch_bar(epochs: u64) -> ProgressBar {
    let bar = ProgressBar::new(epochs);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}").expect("static template"),
    );
    bar
}

/// A local run's [`Observer`]: moves an [`epoch_bar`] after every epoch.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(epochs: usize) -> Self {
        Progress {
            bar: epoch_bar(epochs as u64),
        }
    }

    /// Clears the bar, before the report is printed.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Progress {
    fn on_epoch(&mut self, p: &EpochProgress) {
        self.bar.set_position(p.epoch as u64);
        let val = match (p.val_loss, p.val_metric) {
            (Some(l), Some(m)) => format!("  val loss {l:.4}  val metric {m:.4}"),
            _ => String::new(),
        };
        self.bar
            .set_message(format!("train loss {:.4}{val}", p.train_loss));
    }
}

//! The training loop's contracts: early stopping restores the best epoch, an observer can stop
//! training between batches, gd is full-batch, and a seed reproduces a run exactly.

mod fit;

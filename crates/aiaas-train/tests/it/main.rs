//! The training loop's contracts: early stopping restores the best epoch, an observer can stop
//! training between batches, gd is full-batch, a seed reproduces a run exactly, and a suspended
//! or checkpointed run resumes to exactly the weights of an uninterrupted one.

mod fit;
mod resume;

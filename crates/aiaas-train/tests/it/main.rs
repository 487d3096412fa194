//! The training loop's contracts: early stopping restores the best epoch, an observer can stop
//! training between batches, gd is full-batch, a seed reproduces a run exactly, and a suspended
//! or checkpointed run resumes to exactly the weights of an uninterrupted one; guided fits keep
//! their pruning mask and distil from a teacher; `prepare` reproduces `train`'s split; `adopt`
//! scores a network made elsewhere as `train` scores its own.

mod adopt;
mod fit;
mod guided;
mod lbfgs;
mod prepare;
mod resume;

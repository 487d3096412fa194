//! The commands that run on this machine, without a server: `train` into a bundle directory,
//! `eval` and `predict` with a bundle, `optimize` a bundle into a variant.

pub mod eval;
mod input;
pub mod optimize;
pub mod predict;
pub mod train;

//! What the commands print, shared by the local commands (`local/`) and the client commands
//! (`client/`) so that a report looks the same whether it was computed here or on a server.
//! Imports neither side: both import it.

pub mod metrics;
pub mod optimize;
pub mod predictions;
pub mod progress;
pub mod table;
pub mod training;

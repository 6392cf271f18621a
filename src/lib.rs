//! tracenet: a peer-to-peer node with which States exchange small-arms trace
//! requests. The modules are walls: each uses only those listed above it here.

pub mod cli;
pub mod config;
pub mod marking;
pub mod model;
pub mod net;
pub mod registry;

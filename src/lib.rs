//! tracenet: a peer-to-peer node with which States exchange small-arms trace
//! requests.
//!
//! The modules are walls; each may use only those before it in this list:
//! `allocator` (how mimalloc returns freed memory), `logging` (the node's log,
//! written by a thread of its own), `codec` (the one place bincode appears), `model`, `marking` (markings and matching), `registry` (the national store),
//! `protocol` (wire messages, codec, signatures), `blind` (keyed filters and
//! the OPRF of blind traces), `identity`, `roster`,
//! `evidence`, `audit` (the hash-chained log), `store` (the node's sled database: the one
//! place it is opened), `net` (libp2p), `config`, `node` (the application), `api` (the
//! local control API), `console` (the officer's web pages), `demo`, `cli`.

pub mod allocator;
pub mod api;
pub mod audit;
pub mod blind;
pub mod cli;
pub mod codec;
pub mod config;
pub mod console;
pub mod demo;
pub mod evidence;
pub mod identity;
pub mod logging;
pub mod marking;
pub mod model;
pub mod net;
pub mod node;
pub mod protocol;
pub mod registry;
pub mod roster;
pub mod store;
#[cfg(test)]
mod walls;

//! tracenet: a peer-to-peer node with which States exchange small-arms trace
//! requests. The modules are walls: each uses only those listed above it here.
//! (Blank lines keep rustfmt from sorting them alphabetically.)

pub mod model;

pub mod marking;

pub mod protocol;

pub mod identity;

pub mod roster;

pub mod evidence;

pub mod cli;

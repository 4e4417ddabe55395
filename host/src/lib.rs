//! preflight: a pre-deployment policy gate for Dynamics 365 and Power Platform sites.
//!
//! The crate is a library with a thin binary on top. Beneath the commands, three
//! wings that do not know about each other's insides: [`engine`] (wasmtime: load,
//! limits, cache, evaluate), [`inputs`] (snapshots, settings), [`report`] (text, JSON).
//! [`model`] is shared by all three.

pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));
}
pub mod audit;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod inputs;
pub mod model;
pub mod report;
pub mod templates;

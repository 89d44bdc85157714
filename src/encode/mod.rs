//! Encoders: how events become bytes on the wire.

pub mod body;
pub mod ecs;
pub(crate) mod escape;
pub mod ndjson;
pub mod request;

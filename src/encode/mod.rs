//! Encoders: how events become bytes on the wire.

pub mod body;
pub mod ndjson;

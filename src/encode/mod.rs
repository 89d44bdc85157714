//! Encoders: how events become bytes on the wire.

pub mod ndjson;

//! Encoders: how events become bytes on the wire.

pub mod gzip;
pub mod ndjson;

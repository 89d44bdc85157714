//! Fuzzes the `keycloak` parser: framing, parsing and ECS serialisation of arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = auditship::inspect::exercise(auditship::parse::Format::Keycloak, data);
});

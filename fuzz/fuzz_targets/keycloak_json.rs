//! Differential fuzzing of the Keycloak parser's one-pass reader of plain JSON lines
//! (`src/parse/keycloak_json.rs`) against serde_json: whatever it reads, serde_json must read
//! the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    auditship::inspect::check_keycloak_json_reader(data);
});

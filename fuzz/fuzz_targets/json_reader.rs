//! Differential fuzzing of the one-pass JSON reader (`src/parse/tape.rs`) against serde_json:
//! the same verdict on every input, and the same values when both accept it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    auditship::inspect::check_json_reader(data);
});

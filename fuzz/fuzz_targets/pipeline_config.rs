//! Fuzzes the pipeline-file loader: any text is either a plan or located errors, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = auditship::config::load_str(std::path::Path::new("fuzz.toml"), text);
    }
});

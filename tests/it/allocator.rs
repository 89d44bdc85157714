//! The agent's allocator settings (`.cargo/config.toml`) are built into the binary and accepted
//! by jemalloc: a misspelt setting is only a warning on standard error, and the agent would run
//! with jemalloc's defaults (per-thread arenas, small slabs) without anyone noticing.

use std::process::Command;

use crate::support::binary;

#[test]
fn the_binary_runs_with_its_built_in_jemalloc_settings_and_jemalloc_accepts_them() {
    let out = Command::new(binary())
        .args(["parse", "--format", "dogtag"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/dogtag/ca_audit-events.log"
        ))
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .expect("run the agent");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let conf = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("config.malloc_conf: "))
        .unwrap_or_else(|| panic!("jemalloc printed no built-in settings:\n{stderr}"));
    for setting in [
        "background_thread:true",
        "narenas:1",
        "dirty_decay_ms:200",
        "slab_sizes:256-256:4|1792-1792:32",
    ] {
        assert!(conf.contains(setting), "{setting} missing from {conf}");
    }
    for (opt, value) in [("opt.narenas", "1"), ("opt.dirty_decay_ms", "200")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.trim().starts_with(&format!("{opt}: {value}"))),
            "{opt} is not {value}:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("<jemalloc>:"),
        "jemalloc refused a setting:\n{stderr}"
    );
}

//! Every fixture file under `tests/fixtures/<format>/<scenario>.log` is parsed and its ECS
//! output snapshotted (one snapshot per file: adding a fixture adds a test case).

use std::path::Path;

use auditship::parse::{self, Format, ParseOptions};

/// A fixed read time so snapshots are reproducible: 2026-01-01T00:00:00Z.
const CREATED: i64 = 1_767_225_600_000;

fn format_of(dir: &str) -> Format {
    match dir {
        "dogtag" => Format::Dogtag,
        "keycloak" => Format::Keycloak,
        "sap" => Format::Sap,
        "totp" => Format::Totp,
        "auditd" => Format::Auditd,
        "json" => Format::Json,
        "auto" => Format::Auto,
        other => panic!("fixture directory {other} names no format"),
    }
}

/// Parses one fixture as `auditship parse` would.
pub fn parse_fixture(path: &Path, format: Format) -> String {
    let options = ParseOptions {
        timezone: Some("Europe/Berlin".to_owned()),
        zones: Vec::new(),
    };
    let parser = parse::for_format(format, &options);
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let name = path
        .strip_prefix("tests/fixtures")
        .unwrap()
        .display()
        .to_string();
    auditship::inspect::parse_to_at(&bytes, &name, &*parser, &mut out, CREATED).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_fixture_matches_its_snapshot() {
    let mut seen = 0;
    let mut dirs: Vec<_> = std::fs::read_dir("tests/fixtures")
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    dirs.sort_by_key(std::fs::DirEntry::path);
    for dir in dirs {
        let name = dir.file_name().to_string_lossy().to_string();
        if name == "config" || !dir.path().is_dir() {
            continue;
        }
        let format = format_of(&name);
        if !format.is_available() {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "log"))
        {
            let output = parse_fixture(&file, format);
            let lines = output.lines().count();
            assert!(lines > 0, "{} produced no events", file.display());
            for line in output.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(v["log"]["offset"].is_u64(), "{line}");
            }
            let snapshot = format!("{name}__{}", file.file_stem().unwrap().to_string_lossy());
            let pretty: Vec<serde_json::Value> = output
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            insta::assert_json_snapshot!(snapshot, pretty);
            seen += 1;
        }
    }
    assert!(seen >= 1, "no fixtures found");
}

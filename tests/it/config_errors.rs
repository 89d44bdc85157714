//! Bad pipeline files are refused before anything starts, with every error located.

use std::path::PathBuf;

use auditship::config;

use crate::support;

fn errors_of(name: &str) -> String {
    let path = PathBuf::from(format!("tests/fixtures/config/{name}.toml"));
    match config::load(&[path]) {
        Ok(_) => panic!("{name}.toml must be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_key_names_file_line_and_key() {
    insta::assert_snapshot!(errors_of("unknown_key"));
}

#[test]
fn every_error_in_a_file_is_reported_at_once() {
    let text = errors_of("many_errors");
    // Top level, sources, transforms and sinks all contribute.
    for needle in [
        "buffer.max_bytes",
        "colour",
        "sources.tps.read_from",
        "sources.tps.glob_interval",
        "sources.kc.type",
        "transforms.only_failures.inputs",
        "transforms.only_failures.condition",
        "sinks.out.colour",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn cyclic_inputs_are_refused() {
    insta::assert_snapshot!(errors_of("cycle"));
}

#[test]
fn toml_syntax_errors_are_located() {
    insta::assert_snapshot!(errors_of("syntax"));
}

#[test]
fn components_that_feed_or_read_nothing_are_refused() {
    insta::assert_snapshot!(errors_of("orphans"));
}

#[test]
fn unset_environment_variables_are_errors_and_secrets_are_not_echoed() {
    std::env::set_var("AUDITSHIP_TEST_SECRET_PATH", "hunter2-secret");
    let text = errors_of("missing_env");
    assert!(text.contains("AUDITSHIP_TEST_SURELY_UNSET"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "a secret leaked into an error:\n{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn validate_exits_2_and_names_file_line_and_key() {
    let out = std::process::Command::new(support::binary())
        .args([
            "validate",
            "--config",
            "tests/fixtures/config/unknown_key.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tests/fixtures/config/unknown_key.toml:11:1: sinks.out.pathh"),
        "{err}"
    );
}

#[test]
fn example_pipelines_validate() {
    let mut checked = 0;
    for entry in std::fs::read_dir("pipelines").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml")
            && path.file_name().unwrap() != "default.toml"
        {
            if let Err(e) = config::load(std::slice::from_ref(&path)) {
                panic!("{} does not validate:\n{e}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 1, "no example pipelines found");
    let text = auditship::embedded::PIPELINE.replace("{{workdir}}", "/tmp/x");
    config::load_str(std::path::Path::new("default.toml"), &text)
        .expect("embedded default validates");
}

#[test]
fn a_directory_of_pipeline_files_is_merged_and_duplicates_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        "[sources.s]\ntype = \"file\"\ninclude = [\"/x\"]\n[sinks.c]\ntype = \"console\"\ninputs = [\"s\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "[sinks.f]\ntype = \"file\"\ninputs = [\"s\"]\npath = \"/tmp/o\"\n",
    )
    .unwrap();
    let plan = config::load(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(plan.components.len(), 3);
    assert_eq!(plan.components[0].name, "s", "sources come first");
    std::fs::write(
        dir.path().join("c.toml"),
        "[sinks.c]\ntype = \"console\"\ninputs = [\"s\"]\n",
    )
    .unwrap();
    let err = config::load(&[dir.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("c.toml:1:8: c: component name is already used at"),
        "{err}"
    );
}

#[test]
fn network_sink_settings_are_checked_before_start() {
    insta::assert_snapshot!(errors_of("bad_sinks"));
}

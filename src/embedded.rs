//! The embedded default pipeline: bundled sample audit logs of every supported format, tailed
//! from a fresh working directory and printed to stdout as ECS JSON.
//!
//! Each run starts from a new directory (samples and checkpoints), so the samples are shipped
//! every time; append lines to the sample files to watch them being tailed.

use std::path::{Path, PathBuf};

/// The default pipeline; `{{workdir}}` is replaced by the working directory.
pub const PIPELINE: &str = include_str!("../pipelines/default.toml");

/// Bundled sample logs: (file name, contents).
pub const SAMPLES: &[(&str, &str)] = &[
    (
        "keycloak.log",
        include_str!("../pipelines/samples/keycloak.log"),
    ),
    ("sap.log", include_str!("../pipelines/samples/sap.log")),
    ("totp.log", include_str!("../pipelines/samples/totp.log")),
    (
        "dogtag.log",
        include_str!("../pipelines/samples/dogtag.log"),
    ),
    (
        "auditd.log",
        include_str!("../pipelines/samples/auditd.log"),
    ),
    (
        "app.json.log",
        include_str!("../pipelines/samples/app.json.log"),
    ),
];

/// A fresh working directory for one run of the default pipeline.
#[must_use]
pub fn workdir() -> PathBuf {
    std::env::temp_dir().join(format!("auditship-default-{}", std::process::id()))
}

/// Writes the samples under `workdir/samples` and returns the pipeline text for `workdir`.
pub fn prepare(workdir: &Path) -> std::io::Result<String> {
    let samples = workdir.join("samples");
    std::fs::create_dir_all(&samples)?;
    for (name, body) in SAMPLES {
        std::fs::write(samples.join(name), body)?;
    }
    Ok(PIPELINE.replace("{{workdir}}", &workdir.to_string_lossy()))
}

//! A full disk under the file sink: writes fail (ENOSPC) and are retried; the output never
//! holds a torn line and nothing is lost once space is back. Needs root for a small tmpfs.

use std::path::Path;
use std::time::Duration;

use crate::file_source::{append, Agent};
use crate::support;

/// Mounts a tmpfs of `size` at `dir`; false (with a message) when this is not possible.
fn tmpfs(dir: &Path, size: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
    }
    ok
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn a_full_disk_under_the_file_sink_leaves_no_torn_line_and_loses_nothing() {
    let mut agent = Agent::new("a.log", "");
    let disk = agent.dir.path().join("disk");
    if !tmpfs(&disk, "4m") {
        return;
    }
    let _unmount = Unmount(&disk);
    // The sink writes into the small filesystem, nearly full already.
    agent.out = disk.join("out.ndjson");
    let config = std::fs::read_to_string(&agent.config).unwrap();
    let config = config.replace(
        &agent.dir.path().join("out.ndjson").display().to_string(),
        &agent.out.display().to_string(),
    );
    std::fs::write(&agent.config, config).unwrap();
    let filler = disk.join("filler");
    std::fs::write(&filler, vec![0u8; 3_600_000]).unwrap();
    append(&agent.logs().join("a.log"), 0..3000);
    agent.start();
    let full = support::eventually(Duration::from_secs(20), || {
        support::stderr_text(agent.child.as_mut().unwrap())
            .contains("No space left")
            .then_some(())
    });
    assert!(
        full.is_some(),
        "{}",
        support::stderr_text(agent.child.as_mut().unwrap())
    );
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(&filler).unwrap();
    let d = agent.wait_for(3000, 30);
    agent.stop();
    for line in support::lines(&agent.out) {
        assert!(
            serde_json::from_str::<serde_json::Value>(&line).is_ok(),
            "a torn line: {}",
            &line[..line.len().min(200)]
        );
    }
    assert!(
        (0..3000).all(|seq| d.contains_key(&seq)),
        "every line at least once"
    );
}

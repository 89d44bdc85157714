//! Discovery: the regular files matching `include` globs and no `exclude` glob.
//!
//! Globs support `*`, `?`, `[...]` and `**` (any number of directories). The directories to
//! watch for new files are the literal prefixes of the include patterns: a file that does not
//! exist yet is seen when it is created there.

use std::path::{Path, PathBuf};

/// Compiled include and exclude patterns.
#[derive(Debug)]
pub struct Discovery {
    include: Vec<String>,
    exclude: Vec<glob::Pattern>,
}

/// A glob that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid glob `{pattern}`: {reason}")]
pub struct GlobError {
    /// The pattern.
    pub pattern: String,
    /// Why it is invalid.
    pub reason: String,
}

impl Discovery {
    /// Compiles the patterns.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, GlobError> {
        for pattern in include {
            glob::Pattern::new(pattern).map_err(|e| GlobError {
                pattern: pattern.clone(),
                reason: e.msg.to_owned(),
            })?;
        }
        let exclude = exclude
            .iter()
            .map(|p| {
                glob::Pattern::new(p).map_err(|e| GlobError {
                    pattern: p.clone(),
                    reason: e.msg.to_owned(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            include: include.to_vec(),
            exclude,
        })
    }

    /// The matching regular files, sorted, without duplicates.
    #[must_use]
    pub fn scan(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            for path in paths.filter_map(Result::ok) {
                if path.is_file() && !self.excluded(&path) {
                    found.push(path);
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }

    /// The include patterns that match none of `found` (a scan's result).
    #[must_use]
    pub fn unmatched(&self, found: &[PathBuf]) -> Vec<&str> {
        self.include
            .iter()
            .filter(|pattern| {
                glob::Pattern::new(pattern)
                    .is_ok_and(|p| !found.iter().any(|path| p.matches_path(path)))
            })
            .map(String::as_str)
            .collect()
    }

    /// Whether `path` matches an exclude pattern.
    #[must_use]
    pub fn excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|p| p.matches_path(path))
    }

    /// Directories to watch, with whether to watch them recursively (`**` patterns).
    #[must_use]
    pub fn watch_roots(&self) -> Vec<(PathBuf, bool)> {
        let mut roots: Vec<(PathBuf, bool)> = self
            .include
            .iter()
            .map(|pattern| {
                let literal: PathBuf = Path::new(pattern)
                    .components()
                    .take_while(|c| {
                        let s = c.as_os_str().to_string_lossy();
                        !s.contains(['*', '?', '['])
                    })
                    .collect();
                let recursive = pattern.contains("**")
                    || Path::new(pattern)
                        .parent()
                        .is_some_and(|p| p.to_string_lossy().contains(['*', '?', '[']));
                // A pattern without wildcards names a file: watch its directory.
                let dir = if literal.as_os_str() == pattern.as_str() {
                    literal.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    literal
                };
                (dir, recursive)
            })
            .collect();
        roots.sort();
        roots.dedup();
        roots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_exclude_and_double_star() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("ca/signedAudit")).unwrap();
        std::fs::create_dir_all(root.join("tps/signedAudit")).unwrap();
        for f in [
            "ca/signedAudit/ca_audit",
            "tps/signedAudit/tps_audit",
            "tps/signedAudit/tps_audit.20250101",
            "tps/signedAudit/tps_audit.gz",
        ] {
            std::fs::write(root.join(f), b"x\n").unwrap();
        }
        let include = vec![format!("{}/**/*_audit*", root.display())];
        let exclude = vec!["*.gz".to_owned()];
        let d = Discovery::new(&include, &exclude).unwrap();
        let names: Vec<String> = d
            .scan()
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "ca/signedAudit/ca_audit",
                "tps/signedAudit/tps_audit",
                "tps/signedAudit/tps_audit.20250101"
            ]
        );
        let roots = d.watch_roots();
        assert_eq!(roots, vec![(root.to_path_buf(), true)]);
    }

    #[test]
    fn a_plain_path_watches_its_directory() {
        let d = Discovery::new(&["/var/log/audit/audit.log".to_owned()], &[]).unwrap();
        assert_eq!(
            d.watch_roots(),
            vec![(PathBuf::from("/var/log/audit"), false)]
        );
    }

    #[test]
    fn bad_globs_are_refused() {
        let e = Discovery::new(&["/var/log/[a".to_owned()], &[]).unwrap_err();
        assert!(e.to_string().contains("/var/log/[a"));
    }
}

//! Writes the man pages (`man1/auditship.1`, one per subcommand) and the shell completions
//! (bash, zsh, fish) of the command line into a directory, for the package:
//! `cargo run --release --example gen-docs -- OUT_DIR`.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args_os().nth(1).expect("usage: gen-docs OUT_DIR"));
    let command = auditship::cli::Cli::command();
    let man = out.join("man1");
    std::fs::create_dir_all(&man)?;
    write_man(&command, "auditship", &man)?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut command.clone(), "auditship", &completions)?;
    }
    Ok(())
}

/// The page of `command` (named `name`, such as `auditship-dead-letters`) and of each of its
/// subcommands.
fn write_man(command: &clap::Command, name: &str, dir: &Path) -> std::io::Result<()> {
    // clap names take `&'static str` (without its `string` feature): this one-shot tool
    // leaks the few page names.
    let static_name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let page = command.clone().name(static_name);
    let mut text = Vec::new();
    clap_mangen::Man::new(page).render(&mut text)?;
    std::fs::write(dir.join(format!("{name}.1")), text)?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        write_man(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

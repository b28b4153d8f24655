//! The README's embedding example, tried as a new user would: its
//! `Cargo.toml` lines and its `src/main.rs`, pasted as they stand into a new
//! project outside the workspace, built with cargo and run.
//!
//! The project gets the workspace's `Cargo.lock`, so that it builds the
//! versions the workspace tests, and a target folder of its own under
//! `target/readme-example`, kept between runs: the first run builds the
//! engine a second time (a few minutes), later ones only the example.

use std::fs;
use std::process::Command;

use escort_tests::{cache_dir, workspace};

/// The fenced code blocks of `language` in the README's section `heading`.
fn blocks(readme: &str, heading: &str, language: &str) -> Vec<String> {
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with(heading))
        .unwrap_or_else(|| panic!("the README has a section {heading:?}"));
    let fence = format!("```{language}\n");
    section
        .split(&fence)
        .skip(1)
        .map(|rest| rest.split("\n```").next().expect("a fenced block ends").to_owned() + "\n")
        .collect()
}

#[test]
fn the_readme_embedding_example_builds_and_runs_in_a_new_project() {
    let workspace = workspace();
    let readme = fs::read_to_string(workspace.join("README.md")).expect("the README reads");
    let [dependencies] = &blocks(&readme, "Embedding the library", "toml")[..] else {
        panic!("the embedding section has one toml block: the dependency lines");
    };
    let [main] = &blocks(&readme, "Embedding the library", "rust")[..] else {
        panic!("the embedding section has one rust block: src/main.rs");
    };
    assert!(
        dependencies.contains("/path/to/escort/"),
        "the dependency lines say where the clone goes: {dependencies}"
    );

    let project = tempfile::tempdir().expect("a temporary folder");
    let manifest = format!(
        "[package]\nname = \"readme-example\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{}",
        dependencies.replace("/path/to/escort/", &format!("{}/", workspace.display()))
    );
    fs::write(project.path().join("Cargo.toml"), manifest).expect("write Cargo.toml");
    fs::create_dir(project.path().join("src")).expect("create src");
    fs::write(project.path().join("src/main.rs"), main).expect("write src/main.rs");
    fs::copy(workspace.join("Cargo.lock"), project.path().join("Cargo.lock")).expect("copy Cargo.lock");

    let output = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--manifest-path"])
        .arg(project.path().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace.join("target/readme-example"))
        // The engine is built a second time here, outside the workspace's
        // profile: without debug information it takes a fifth of the disk.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("ESCORT_CACHE_DIR", cache_dir())
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the example fails:\n{stderr}\n{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("critical seal.breach ")),
        "the example prints the seal breach:\n{stdout}"
    );
}

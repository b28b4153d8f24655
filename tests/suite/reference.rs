//! `docs/reference.md` kept true to the golden files: the finding codes its
//! table lists are exactly the codes the golden files hold, so a code that a
//! policy starts raising, or stops raising, cannot go unnoticed in the
//! reference. (Its command line is held to the binary by
//! `host/cli/tests/cli.rs`.)

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::golden::golden_files;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The codes of the table under `## Finding codes`: the first cell of each
/// row, when it is a code in backticks.
fn listed_codes(reference: &str) -> BTreeSet<String> {
    let section = reference
        .split("\n## ")
        .find(|section| section.starts_with("Finding codes\n"))
        .expect("docs/reference.md has a `## Finding codes` section");
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|row| row.split_once('`'))
        .map(|(code, _)| code.to_owned())
        .filter(|code| code.contains('.'))
        .collect()
}

/// Every `"code": "…"` of a report in `text`. A message or an evidence text
/// that quotes such a thing has its quotes escaped, so it never matches.
fn golden_codes(text: &str, into: &mut BTreeSet<String>) {
    for after in text.split("\"code\": \"").skip(1) {
        into.extend(after.split('"').next().map(str::to_owned));
    }
}

#[test]
fn the_reference_lists_exactly_the_codes_of_the_golden_files() {
    let reference = fs::read_to_string(repository().join("docs/reference.md")).expect("docs/reference.md exists");
    let listed = listed_codes(&reference);
    let mut golden = BTreeSet::new();
    for file in golden_files() {
        golden_codes(&fs::read_to_string(&file).expect("readable golden file"), &mut golden);
    }
    let unraised: Vec<_> = listed.difference(&golden).collect();
    assert!(
        unraised.is_empty(),
        "docs/reference.md lists codes no golden file raises: {unraised:?}"
    );
    let unlisted: Vec<_> = golden.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "golden files raise codes docs/reference.md does not list: {unlisted:?}"
    );
}

//! Moving a published policy into the live folder so that a crash at any
//! point (even `kill -9`, tested) leaves the version that served before or
//! the new one: never neither, never both.
//!
//! An upload is staged in a hidden folder of the live folder itself,
//! `.upload-XXXXXX` ([`stage`]): on the same filesystem, so that moving it in
//! is a rename, and hidden, so that no load takes it for a policy (names
//! beginning with `.` never are). Once it is checked, [`commit`] syncs every
//! file and folder of it to disk, then writes an *intent*, `.publish-ID`:
//! which staged folder becomes policy `ID`, and in which [`Form`]. An intent
//! is written to `.publish-ID.partial`, synced and renamed, so it is on disk
//! whole or not at all. Then the swap's steps run: the old bundle folder is
//! retired (`.retired-ID`), the new form moved in, the other form removed,
//! the folder synced, and only then the intent removed. Each step looks at
//! what is on disk before it acts, so running the steps again after any of
//! them is harmless.
//!
//! [`recover`] runs before the service loads the folder: every intent is
//! rolled forward to its end (a crash once the intent is written means the
//! new version), and whatever else a crash left is removed (staging without
//! an intent, a partial intent, a retired folder: a crash before the intent
//! means the old version). Both `ID/` and `ID.wasm` are in the folder only
//! while an intent is: without one they are an operator's doing, which the
//! load refuses by name ("two policies have the id"), as it always did,
//! rather than this module deleting either.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use escort_bundle::file::{self, MAX_SETTINGS_BYTES};
use escort_engine::contract::is_snake_case;

/// How a policy is kept in the live folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Form {
    /// A bundle's folder, `ID/`.
    Bundle,
    /// A bare component, `ID.wasm`.
    Component,
}

impl Form {
    /// The policy's entry in the live folder.
    pub(crate) fn entry(self, id: &str) -> String {
        match self {
            Form::Bundle => format!("{id}/"),
            Form::Component => format!("{id}.wasm"),
        }
    }
}

/// What `.publish-ID` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Intent {
    /// The staged folder's name in the live folder, `.upload-XXXXXX`.
    staged: String,
    /// What it becomes.
    form: Form,
}

const STAGING_PREFIX: &str = ".upload-";
const INTENT_PREFIX: &str = ".publish-";
const PARTIAL_SUFFIX: &str = ".partial";
const RETIRED_PREFIX: &str = ".retired-";

/// A new staging folder in the live folder, removed when dropped unless it
/// is committed.
pub(crate) fn stage(live: &Path) -> io::Result<TempDir> {
    tempfile::Builder::new().prefix(STAGING_PREFIX).tempdir_in(live)
}

/// Where a bare component is staged: in its staging folder, under the name
/// it will have in the live folder.
pub(crate) fn staged_component(staging: &Path, id: &str) -> PathBuf {
    staging.join(Form::Component.entry(id))
}

/// Makes the staged upload durable, records the intent to make it policy
/// `id` in `form`, and carries it out. Once this returns, the new version
/// is in the live folder and nothing of the old one is left; if it fails
/// after the intent is on disk, the next [`recover`] finishes it.
pub(crate) fn commit(live: &Path, id: &str, staging: TempDir, form: Form) -> io::Result<()> {
    sync_tree(staging.path())?;
    let staged = staging
        .path()
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a staging folder's name is ASCII")
        .to_owned();
    // From here on the intent, not the `TempDir`, decides what becomes of it.
    let _ = staging.keep();
    let intent = Intent { staged, form };
    let text = toml::to_string(&intent).expect("an intent always serializes");
    let partial = live.join(format!("{INTENT_PREFIX}{id}{PARTIAL_SUFFIX}"));
    let mut file = fs::File::create(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&partial, live.join(format!("{INTENT_PREFIX}{id}")))?;
    sync_dir(live)?;
    roll_forward(live, id, &intent)
}

/// Carries out the intent to make `intent.staged` policy `id`, from
/// wherever an earlier attempt stopped, then removes the intent and what
/// the swap left over.
fn roll_forward(live: &Path, id: &str, intent: &Intent) -> io::Result<()> {
    let staged = live.join(&intent.staged);
    let folder = live.join(id);
    let component = live.join(Form::Component.entry(id));
    let retired = live.join(format!("{RETIRED_PREFIX}{id}"));
    match intent.form {
        Form::Bundle => {
            // The staged folder is there until it is moved in: until then
            // `ID/`, if there is one, is the old version.
            if exists(&staged) {
                if exists(&folder) {
                    retire(&folder, &retired)?;
                }
                fs::rename(&staged, &folder)?;
            }
            if exists(&component) {
                fs::remove_file(&component)?;
            }
        }
        Form::Component => {
            let new = staged_component(&staged, id);
            if exists(&new) {
                // Replaces the old `ID.wasm` in one step, if there is one.
                fs::rename(&new, &component)?;
            }
            if exists(&folder) {
                retire(&folder, &retired)?;
            }
        }
    }
    sync_dir(live)?;
    fs::remove_file(live.join(format!("{INTENT_PREFIX}{id}")))?;
    sync_dir(live)?;
    remove(&retired)?;
    remove(&staged)
}

/// Moves an old bundle folder out of the way, to be removed once the swap
/// is done (a rename, unlike removing it, is one step).
fn retire(folder: &Path, retired: &Path) -> io::Result<()> {
    remove(retired)?;
    fs::rename(folder, retired)
}

/// Finishes or undoes whatever a publish that did not end left in the live
/// folder: every intent is carried out, the rest of a publish removed.
/// Returns what it did, one line each, for the log.
///
/// # Errors
/// When the folder cannot be read or changed, or an intent is not one this
/// service wrote.
pub(crate) fn recover(live: &Path) -> io::Result<Vec<String>> {
    let mut done = Vec::new();
    for name in hidden_names(live)? {
        let Some(id) = name.strip_prefix(INTENT_PREFIX) else {
            continue;
        };
        if id.ends_with(PARTIAL_SUFFIX) {
            continue;
        }
        let foreign = |reason: String| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {reason}"));
        if !is_snake_case(id) {
            return Err(foreign("not the intent of a publish: no policy has that id".to_owned()));
        }
        let text = file::read_text(&live.join(&name), MAX_SETTINGS_BYTES)?;
        let intent: Intent = file::parse_toml(&text).map_err(foreign)?;
        if !intent.staged.starts_with(STAGING_PREFIX) || intent.staged.contains(['/', '\\']) {
            return Err(foreign(format!("{:?} is not a staging folder", intent.staged)));
        }
        roll_forward(live, id, &intent)?;
        done.push(format!(
            "an interrupted publish of `{id}` was finished: {} serves",
            Form::entry(intent.form, id)
        ));
    }
    for name in hidden_names(live)? {
        let leftover = name.starts_with(STAGING_PREFIX)
            || name.starts_with(RETIRED_PREFIX)
            || (name.starts_with(INTENT_PREFIX) && name.ends_with(PARTIAL_SUFFIX));
        if leftover {
            remove(&live.join(&name))?;
            done.push(format!("removed {name}, left by an interrupted publish"));
        }
    }
    if !done.is_empty() {
        sync_dir(live)?;
    }
    Ok(done)
}

/// The names in `dir` that begin with `.`.
fn hidden_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Whether anything is at `path`, a link included.
fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Removes whatever is at `path`, if anything.
fn remove(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Syncs every file and folder below `dir`, and `dir`, to disk.
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            fs::File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Syncs a folder's entries (names, renames) to disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    match fs::File::open(dir)?.sync_all() {
        // Some network filesystems cannot sync a folder at all; there the
        // renames are as durable as that filesystem makes them.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
        outcome => outcome?,
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

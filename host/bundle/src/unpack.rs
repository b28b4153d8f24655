//! Unpacking an uploaded bundle: a tar archive from someone the service does
//! not trust, written into a staging folder one entry at a time.
//!
//! `tar::Archive::unpack` creates whatever the archive describes: a link in
//! it becomes a link on the server, which loading the bundle then reads
//! (issue 11: `policy.toml -> /etc/passwd`). So every entry is looked at
//! before anything of it is written: only regular files and folders are
//! taken, at relative paths without `..`; any other kind of entry (a
//! symbolic or hard link, a device, a FIFO, a sparse file) or any other path
//! refuses the whole upload, naming the entry's path in the archive and
//! what is wrong with it. The entries are counted as they are read and the
//! bytes as they are written, so that an archive of 100,000 files is refused
//! at its 1,001st entry, not unpacked.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use escort_engine::excerpt::Excerpt;

/// The most entries (files, folders, and the headers between them) in an
/// uploaded bundle. A bundle is a manifest, a component, a signature and a
/// few golden scenarios of four or five files each.
pub const MAX_ENTRIES: usize = 1_000;

/// Why an upload was not unpacked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// The bytes are not a tar archive, or a damaged one.
    #[error("neither a component nor a tar archive of a bundle: {0}")]
    Archive(String),
    /// An entry is something other than a regular file or a folder.
    #[error("`{path}` is {kind}; a bundle holds only regular files and folders")]
    Kind {
        /// The entry's path in the archive.
        path: String,
        /// What it is: `a symbolic link`, `a FIFO`, …
        kind: String,
    },
    /// An entry's path is absolute, or goes up a folder.
    #[error("`{path}` {reason}")]
    Path {
        /// The entry's path in the archive.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry clashes with an earlier one: the same path twice, or a file
    /// where a folder is.
    #[error("`{path}` clashes with an earlier entry: {source}")]
    Clash {
        /// The entry's path in the archive.
        path: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The archive has more entries than [`MAX_ENTRIES`].
    #[error("the archive has more than {max} entries")]
    TooManyEntries {
        /// The bound.
        max: usize,
    },
    /// The files would take more than the upload limit.
    #[error("the archive unpacks to more than {max_bytes} bytes")]
    TooLarge {
        /// The bound.
        max_bytes: u64,
    },
    /// The staging folder could not be written: the server's failure, not
    /// the upload's.
    #[error("writing the staged upload: {0}")]
    Io(io::Error),
}

/// Unpacks `archive` into the folder `into` (which exists, and which only
/// this unpacking writes), entry by entry; at most `max_bytes` of files.
pub fn unpack(archive: &[u8], into: &Path, max_bytes: u64) -> Result<(), UnpackError> {
    let unreadable = |e: io::Error| UnpackError::Archive(e.to_string());
    let mut archive = tar::Archive::new(archive);
    let mut unpacked_bytes = 0u64;
    for (count, entry) in archive.entries().map_err(unreadable)?.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(UnpackError::TooManyEntries { max: MAX_ENTRIES });
        }
        let mut entry = entry.map_err(unreadable)?;
        let shown = Excerpt::of(&String::from_utf8_lossy(&entry.path_bytes())).to_string();
        let kind = entry.header().entry_type();
        let is_file = match kind {
            EntryType::Regular | EntryType::Continuous => true,
            EntryType::Directory => false,
            // Metadata for the entries after it (`git archive` writes one); nothing to write.
            EntryType::XGlobalHeader => continue,
            other => {
                return Err(UnpackError::Kind {
                    path: shown,
                    kind: kind_of(other),
                });
            }
        };
        let relative = relative_path(&entry.path().map_err(unreadable)?).map_err(|reason| UnpackError::Path {
            path: shown.clone(),
            reason,
        })?;
        if relative.as_os_str().is_empty() {
            // The archive's own folder, `./`.
            continue;
        }
        let target = into.join(&relative);
        let clash = |source: io::Error| match source.kind() {
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => {
                UnpackError::Clash {
                    path: shown.clone(),
                    source,
                }
            }
            _ => UnpackError::Io(source),
        };
        if !is_file {
            fs::create_dir_all(&target).map_err(clash)?;
            continue;
        }
        let size = entry.size();
        if unpacked_bytes.saturating_add(size) > max_bytes {
            return Err(UnpackError::TooLarge { max_bytes });
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(clash)?;
        }
        // Nothing in the folder is a link (none is ever made), so creating
        // a new file here writes inside it.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(clash)?;
        unpacked_bytes += io::copy(&mut (&mut entry).take(size), &mut file).map_err(unreadable)?;
    }
    Ok(())
}

/// `path` as a path under the archive's folder: its plain components, with
/// `.` dropped. An absolute path or one with `..` is refused.
fn relative_path(path: &Path) -> Result<PathBuf, &'static str> {
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => relative.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err("has a `..` component"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    Ok(relative)
}

/// What an entry that is neither a regular file nor a folder is, for a
/// message.
fn kind_of(kind: EntryType) -> String {
    match kind {
        EntryType::Symlink => "a symbolic link".to_owned(),
        EntryType::Link => "a hard link".to_owned(),
        EntryType::Char => "a character device".to_owned(),
        EntryType::Block => "a block device".to_owned(),
        EntryType::Fifo => "a FIFO".to_owned(),
        EntryType::GNUSparse => "a sparse file".to_owned(),
        other => format!("an entry of type {:?}", other.as_byte() as char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(EntryType::Regular);
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn files_and_folders_are_written_under_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let upload = archive(&[("policy.toml", b"id = 1"), ("scenarios/example/now.txt", b"2021")]);
        unpack(&upload, dir.path(), 1 << 20).unwrap();
        assert_eq!(fs::read(dir.path().join("policy.toml")).unwrap(), b"id = 1");
        assert_eq!(fs::read(dir.path().join("scenarios/example/now.txt")).unwrap(), b"2021");
    }

    #[test]
    fn the_unpacked_bytes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let upload = archive(&[("a", &[0; 600]), ("b", &[0; 600])]);
        let refused = unpack(&upload, dir.path(), 1_000).unwrap_err();
        assert_eq!(refused.to_string(), "the archive unpacks to more than 1000 bytes");
        assert!(!dir.path().join("b").exists());
    }

    #[test]
    fn a_path_twice_is_a_clash() {
        let dir = tempfile::tempdir().unwrap();
        let upload = archive(&[("policy.toml", b"a"), ("policy.toml", b"b")]);
        let refused = unpack(&upload, dir.path(), 1 << 20).unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("`policy.toml` clashes with an earlier entry"),
            "{refused}"
        );
    }
}

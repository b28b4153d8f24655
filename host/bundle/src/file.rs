//! Reading the files of a bundle or a policy folder: regular files only,
//! never through a link, never more than a bound.
//!
//! What a bundle holds is not trusted: it may be an upload from anyone, and
//! a `policy.toml` that links to `/etc/passwd`, a `policy.wasm` that links to
//! a 1 GiB file or a FIFO that no one writes would otherwise be read as the
//! bundle's own (issue 11). Every file of a bundle, of its golden scenarios
//! and of a policy folder is read by [`read`], for a service and the command
//! line alike: it opens the file without following a link and without
//! waiting for a FIFO's writer, refuses whatever is not a regular file, and
//! stops one byte past the file's bound. The folders inside a bundle are
//! walked without following links either (`bundle`, `golden`), so no read
//! leaves the folder it was given.
//!
//! TOML files of a bundle are parsed by [`parse_toml`], which reports the
//! line and column of a mistake but none of the text: the `toml` crate's own
//! message quotes the offending line, and a service must not answer with a
//! file's content.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use serde::de::DeserializeOwned;

use escort_engine::excerpt::Excerpt;

/// The most bytes read of a manifest, a signature, a folder's
/// `policies.toml` or a scenario's `now.txt`: texts of a few lines.
pub const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// The bytes of the regular file at `path`, if it has at most `max_bytes`.
///
/// # Errors
/// The operating system's, or one naming why the file is not read: it is
/// a link (never followed), a FIFO, a device, a socket or a folder, or it is
/// longer than `max_bytes`.
pub fn read(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let file = open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}, not a regular file", kind_of(&kind)),
        ));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("longer than the limit of {max_bytes} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path, max_bytes: u64) -> io::Result<String> {
    String::from_utf8(read(path, max_bytes)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Parses a TOML file's text. The error gives the line and column of the
/// mistake and the parser's message, bounded, without quoting the text.
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|error: toml::de::Error| {
        let message = error.message().trim().replace('\n', "; ");
        let message = Excerpt::of_message(&message);
        match error.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
                format!("line {line}, column {column}: {message}")
            }
            None => message.to_string(),
        }
    })
}

/// Opens `path` for reading. A link is not followed (the open fails), and a
/// FIFO opens at once instead of waiting for a writer, so that it can be
/// refused by its kind.
#[cfg(unix)]
fn open(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(io::ErrorKind::InvalidInput, "a symbolic link, which is not followed"),
            _ => e,
        })
}

/// Opens `path` for reading, refusing a link. (Without `O_NOFOLLOW` a link
/// put in place between the look and the open is followed.)
#[cfg(not(unix))]
fn open(path: &Path) -> io::Result<fs::File> {
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a symbolic link, which is not followed",
        ));
    }
    fs::File::open(path)
}

/// What a file that is not a regular one is, for a message.
fn kind_of(kind: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_and_files_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.toml");
        fs::write(&file, "id = \"speed\"\n").unwrap();
        assert_eq!(read(&file, 13).unwrap(), b"id = \"speed\"\n");
        let over = read(&file, 12).unwrap_err();
        assert_eq!(over.to_string(), "longer than the limit of 12 bytes");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.toml");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            let refused = read(&link, 1 << 20).unwrap_err();
            assert_eq!(refused.to_string(), "a symbolic link, which is not followed");
        }
        let folder = read(dir.path(), 1 << 20).unwrap_err();
        assert_eq!(folder.to_string(), "a folder, not a regular file");
    }

    #[test]
    fn a_toml_mistake_is_placed_without_quoting_the_line() {
        let text = "id = \"speed\"\nversion = 1.0 SECRET-LINE\n";
        let reason = parse_toml::<toml::Table>(text).unwrap_err();
        assert!(reason.starts_with("line 2, column 11: "), "{reason}");
        assert!(!reason.contains("SECRET"), "{reason}");
    }
}

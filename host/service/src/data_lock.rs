//! One service per data folder (issue 11, item 5).
//!
//! Two services writing one database each keep their own picture of it in
//! memory (`known.rs`), so each overwrites what the other stored: batches
//! fail, reads go stale, fixes are lost. [`DataLock`] makes the second one
//! refuse to start instead. It is an exclusive lock on `DATA/escort.lock`,
//! taken before the database is opened and held for the service's life.
//!
//! The lock is the operating system's (`flock` on Unix, through
//! [`File::try_lock`]), not the file's existence: the kernel lets it go when
//! its holder ends however it ends, `kill -9` included, so a crashed
//! service never keeps the next one from starting, and no stale file has
//! to be cleaned up by hand. It belongs to an open file, not a process, so
//! a second [`Service::open`](super::Service::open) in the same process is
//! refused as well. The file's text only says who holds it (process id,
//! address, start time), for the message the next one prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use super::ServiceError;
use escort_engine::excerpt::Excerpt;

/// The lock file's name in the data folder.
const FILE_NAME: &str = "escort.lock";

/// The exclusive hold of a data folder, let go when dropped (or when the
/// process ends).
#[derive(Debug)]
pub(crate) struct DataLock {
    file: File,
    started_at: DateTime<Utc>,
}

impl DataLock {
    /// Takes the lock of the data folder `data` for a service that means to
    /// listen on `listen`, and writes who holds it.
    ///
    /// # Errors
    /// [`ServiceError::Setup`] naming the holder and the file when another
    /// service (in this process or another) holds it, or when the file
    /// cannot be opened or locked.
    pub(crate) fn take(data: &Path, listen: SocketAddr) -> Result<DataLock, ServiceError> {
        let path = data.join(FILE_NAME);
        let failed = |e: &dyn std::fmt::Display| ServiceError::Setup(format!("cannot lock {}: {e}", path.display()));
        // Never truncated on opening: until the lock is ours, the text is
        // the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| failed(&e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(ServiceError::Setup(format!(
                    "the data folder {} is in use by another escort serve ({}): {} is locked. Stop that \
                     service first, or give this one another `data` folder",
                    data.display(),
                    holder(&mut file),
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(failed(&e)),
        }
        let lock = DataLock {
            file,
            started_at: Utc::now(),
        };
        lock.write(listen).map_err(|e| failed(&e))?;
        Ok(lock)
    }

    /// Records the address the service listens on, once it is known (a
    /// configured port 0 is chosen when the socket is bound).
    pub(crate) fn listening(&self, address: SocketAddr) -> std::io::Result<()> {
        self.write(address)
    }

    /// Replaces the file's text with who holds it.
    fn write(&self, listen: SocketAddr) -> std::io::Result<()> {
        let text = format!(
            "pid = {}\nlisten = \"{listen}\"\nstarted_at = \"{}\"\n",
            std::process::id(),
            self.started_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let mut file = &self.file;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(text.as_bytes())
    }
}

/// Who holds the lock, as the holder's text says: `pid 4242, listening on
/// 127.0.0.1:8080, since 2025-04-08T08:00:00Z`.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    // The file is the holder's few lines; a longer one is not ours to read whole.
    if file.take(4096).read_to_string(&mut text).is_err() {
        return "its holder cannot be read".to_owned();
    }
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(" = ")?;
            (name == key).then(|| value.trim_matches('"'))
        })
    };
    match (value("pid"), value("listen"), value("started_at")) {
        (Some(pid), listen, started_at) => {
            let mut holder = format!("pid {}", Excerpt::of(pid));
            if let Some(listen) = listen {
                holder.push_str(&format!(", listening on {}", Excerpt::of(listen)));
            }
            if let Some(started_at) = started_at {
                holder.push_str(&format!(", since {}", Excerpt::of(started_at)));
            }
            holder
        }
        // Locked, but not written yet: the holder is starting this moment.
        (None, ..) => "which is starting".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }

    #[test]
    fn a_second_hold_is_refused_naming_the_holder_until_the_first_is_let_go() {
        let data = tempfile::tempdir().unwrap();
        let first = DataLock::take(data.path(), listen()).expect("the folder is free");
        first.listening(SocketAddr::from(([127, 0, 0, 1], 40123))).unwrap();
        let refused = DataLock::take(data.path(), listen()).expect_err("the folder is held");
        let message = refused.to_string();
        assert!(
            message.contains(&format!(
                "pid {}, listening on 127.0.0.1:40123, since ",
                std::process::id()
            )),
            "{message}"
        );
        let path = data.path().join(FILE_NAME);
        assert!(message.contains(&format!("{} is locked", path.display())), "{message}");
        drop(first);
        DataLock::take(data.path(), listen()).expect("the folder is free again");
    }
}

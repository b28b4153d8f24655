//! Bundle folders as the tests handle them: copied, to be tampered with or
//! staged, and packed as the tar archive an upload is.

use std::fs;
use std::path::Path;

/// A tar archive of a bundle's folder: what `PUT /v1/policies/{id}` takes.
pub fn tar_of(dir: &Path) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all(".", dir).expect("the bundle is readable");
    archive.into_inner().expect("the archive is complete")
}

/// Copies a folder and everything in it.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

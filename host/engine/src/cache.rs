//! A cache of compiled policies, keyed by the content hash of the component.
//!
//! Compiling a component with Cranelift takes tens of milliseconds for a Rust
//! policy and seconds for a Python or JavaScript one; loading the compiled
//! artefact takes well under a millisecond. So the first start compiles and
//! serializes, and every later start with the same component and the same
//! engine deserializes. The key also holds the engine's compatibility hash, so
//! a different wasmtime version or configuration never reads a stale artefact.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::{env, fs};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The hex SHA-256 of a component's bytes: its identity in the cache and in
/// reports of which policy ran.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where compiled policies are kept. `None` compiles every time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// A cache in `dir`, created on first write.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        ComponentCache { dir: Some(dir.into()) }
    }

    /// No cache: compile every time.
    pub fn disabled() -> Self {
        ComponentCache { dir: None }
    }

    /// The usual place: `$ESCORT_CACHE_DIR`, else `$XDG_CACHE_HOME/escort`,
    /// else `~/.cache/escort`; no cache when none of them is set.
    pub fn user_default() -> Self {
        let dir = env::var_os("ESCORT_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| env::var_os("XDG_CACHE_HOME").map(|d| Path::new(&d).join("escort")))
            .or_else(|| env::var_os("HOME").map(|d| Path::new(&d).join(".cache").join("escort")));
        ComponentCache { dir }
    }

    /// The folder in use, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The compiled component whose source has the content hash `hash`, if
    /// it is cached and readable.
    pub(crate) fn get(&self, engine: &Engine, hash: &str) -> Option<Component> {
        let path = self.path(engine, hash)?;
        if !path.is_file() {
            return None;
        }
        // SAFETY: wasmtime requires that a serialized artefact was produced
        // by `Component::serialize` of a compatible engine. The file name
        // holds both the source's content hash and the engine's
        // compatibility hash, and only `put` below writes this folder,
        // through a rename, so a reader never sees a half-written file.
        #[allow(unsafe_code)]
        let cached = unsafe { Component::deserialize_file(engine, &path) };
        cached.ok()
    }

    /// Caches `component`, compiled from a source with the content hash
    /// `hash`. A cache that cannot be written only costs the next start a
    /// compilation.
    pub(crate) fn put(&self, engine: &Engine, hash: &str, component: &Component) {
        let (Some(dir), Some(path)) = (&self.dir, self.path(engine, hash)) else {
            return;
        };
        if let Ok(serialized) = component.serialize() {
            store(dir, &path, &serialized);
        }
    }

    fn path(&self, engine: &Engine, hash: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut compatibility = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut compatibility);
        Some(dir.join(format!("{hash}-{:016x}.cwasm", compatibility.finish())))
    }
}

fn store(dir: &Path, path: &Path, serialized: &[u8]) {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let written = fs::create_dir_all(dir)
        .and_then(|()| fs::write(&partial, serialized))
        .and_then(|()| fs::rename(&partial, path));
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sandbox;
    use escort_builtin::COMPONENTS;

    #[test]
    fn a_second_load_reads_the_cache_instead_of_compiling() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = Sandbox::with_cache(ComponentCache::in_dir(dir.path())).expect("sandbox");
        let [(_, corridor), (_, dwell), ..] = COMPONENTS else {
            panic!("the built-in set has seven policies")
        };

        let artefacts = || -> Vec<PathBuf> {
            let mut paths: Vec<PathBuf> = fs::read_dir(dir.path())
                .expect("cache folder")
                .map(|entry| entry.expect("entry").path())
                .collect();
            paths.sort();
            paths
        };
        crate::Policy::load(&sandbox, "corridor", corridor).expect("loads");
        let [corridor_path] = &artefacts()[..] else {
            panic!("one artefact per component")
        };
        crate::Policy::load(&sandbox, "dwell", dwell).expect("loads");
        let dwell_path = artefacts()
            .into_iter()
            .find(|path| path != corridor_path)
            .expect("dwell's artefact");

        // Put dwell's artefact under corridor's name: if the next load of
        // corridor says it is dwell, it came from the cache, not the compiler.
        fs::copy(&dwell_path, corridor_path).expect("overwrite");
        let reloaded = crate::Policy::load(&sandbox, "corridor", corridor).expect("loads");
        assert_eq!(reloaded.id(), "dwell");
    }

    #[test]
    fn an_unreadable_artefact_is_compiled_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = Sandbox::with_cache(ComponentCache::in_dir(dir.path())).expect("sandbox");
        let (_, seal) = COMPONENTS[3];
        crate::Policy::load(&sandbox, "seal", seal).expect("compiles");
        let artefact = fs::read_dir(dir.path())
            .expect("cache folder")
            .next()
            .expect("one artefact")
            .expect("entry");
        fs::write(artefact.path(), b"not a compiled component").expect("corrupt it");
        assert_eq!(
            crate::Policy::load(&sandbox, "seal", seal).expect("recompiles").id(),
            "seal"
        );
    }
}

//! The on-disk cache of compiled components.
//!
//! A policy is compiled once per content and engine configuration; later runs map
//! the compiled artifact from disk instead of compiling again. Only files this
//! module wrote are ever deserialized: the key is the sha256 of the component plus
//! a hash of the engine's compilation settings, and a file is written under a
//! temporary name and renamed into place, so a reader never sees half a file.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

pub struct Cache {
    dir: PathBuf,
    /// Hash of everything in the engine that changes compiled code.
    engine_key: String,
}

impl Cache {
    /// The user's cache directory (`PREFLIGHT_CACHE_DIR`, else the platform's cache dir).
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("PREFLIGHT_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        dirs::cache_dir().map(|dir| dir.join("preflight").join("components"))
    }

    pub fn new(dir: PathBuf, engine: &wasmtime::Engine) -> Cache {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{}-{:016x}", env!("CARGO_PKG_VERSION"), hasher.finish());
        Cache { dir, engine_key }
    }

    fn path(&self, component_sha256: &str) -> PathBuf {
        let key = Sha256::digest(format!("{component_sha256}\n{}", self.engine_key));
        self.dir.join(format!("{}.cwasm", hex::encode(&key[..16])))
    }

    /// The compiled component, from the cache when it is there, else compiled and stored.
    /// A cache that cannot be written is not an error: the component is still returned.
    pub fn load(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, bool)> {
        let path = self.path(sha256);
        if path.is_file() {
            // SAFETY: the file was written by `store` below from `precompile_component`
            // of the same engine configuration (the key says so); wasmtime checks its
            // header and version again.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((component, true));
            }
        }
        let compiled = engine.precompile_component(bytes)?;
        if let Err(err) = self.store(&path, &compiled) {
            eprintln!(
                "warning: cannot write the compile cache `{}`: {err}",
                self.dir.display()
            );
        }
        // SAFETY: `compiled` was produced just above by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, false))
    }

    fn store(&self, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(compiled)?;
        tmp.persist(path).map_err(|err| err.error)?;
        Ok(())
    }
}

//! Bundles: content-addressed archives of one kind of ship content (contracts §10).
//!
//! A bundle is one file:
//!
//! ```text
//! SWBUNDLE1\n
//! {"kind":"policies","name":"…","files":[{"path":"allow.rego","len":123},…]}\n
//! <the files' bytes, concatenated in the header's order>
//! ```
//!
//! Its id is the hex SHA-256 of the whole file. [`build_dir`] packs a folder
//! deterministically (files sorted by path, the kind read from the folder's `bundle.toml`),
//! so the same folder always gives the same id. Shore keeps bundles in a [`BundleStore`]
//! (`DATA/bundles/<sha256>`), written once and never changed.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first line of every bundle.
pub const MAGIC: &[u8] = b"SWBUNDLE1\n";

/// The largest bundle accepted (a small model's GGUF is ~100 MB). Bundles over
/// [`super::nats::INLINE_MAX`] travel in chunks.
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024 * 1024;

/// What a bundle carries; decides where a ship puts it and how it checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleKind {
    /// Detector settings (`*.toml`).
    Detectors,
    /// Runbooks (`*.toml`, section 7).
    Runbooks,
    /// Remediation policies (`*.rego`, optional `data.json`).
    Policies,
    /// Assistant documents (Markdown).
    Assistant,
    /// A model (its files, under the bundle's name).
    Model,
}

impl BundleKind {
    /// The kind's name as in `bundle.toml` and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleKind::Detectors => "detectors",
            BundleKind::Runbooks => "runbooks",
            BundleKind::Policies => "policies",
            BundleKind::Assistant => "assistant",
            BundleKind::Model => "model",
        }
    }

    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "detectors" => BundleKind::Detectors,
            "runbooks" => BundleKind::Runbooks,
            "policies" => BundleKind::Policies,
            "assistant" => BundleKind::Assistant,
            "model" => BundleKind::Model,
            _ => return None,
        })
    }
}

/// One file in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Relative path, `/`-separated, no `..`.
    pub path: String,
    /// Its length in bytes.
    pub len: u64,
}

/// A bundle's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// What it carries.
    pub kind: BundleKind,
    /// A name (for a model, the model's name; else free text).
    pub name: String,
    /// Its files, in order.
    pub files: Vec<BundleFile>,
}

/// A bundle read and verified: header, files and id.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Hex SHA-256 of the bundle file.
    pub sha256: String,
    /// The header.
    pub manifest: Manifest,
    /// (path, bytes) per file.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Why a bundle is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// Not a bundle or damaged.
    #[error("not a seawatch bundle: {0}")]
    Format(String),
    /// The bytes do not hash to the id they were sent as.
    #[error("bundle checksum mismatch: expected {expected}, got {got}")]
    Checksum {
        /// The id it was sent as.
        expected: String,
        /// What its bytes hash to.
        got: String,
    },
    /// Over [`MAX_BUNDLE_BYTES`].
    #[error("bundle of {0} bytes is over the limit of {MAX_BUNDLE_BYTES}")]
    TooLarge(usize),
    /// Reading or writing files.
    #[error("{0}")]
    Io(String),
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Whether `s` looks like a bundle id (64 lowercase hex digits).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn safe_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Packs `manifest` and `files` into bundle bytes.
pub fn encode(kind: BundleKind, name: &str, mut files: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let manifest = Manifest {
        kind,
        name: name.to_owned(),
        files: files
            .iter()
            .map(|(p, b)| BundleFile {
                path: p.clone(),
                len: b.len() as u64,
            })
            .collect(),
    };
    let mut out = MAGIC.to_vec();
    out.extend(serde_json::to_vec(&manifest).unwrap_or_default());
    out.push(b'\n');
    for (_, b) in &files {
        out.extend_from_slice(b);
    }
    out
}

/// Reads and checks bundle bytes (format, paths, lengths).
pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge(bytes.len()));
    }
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| BundleError::Format("missing SWBUNDLE1 header".into()))?;
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| BundleError::Format("no manifest line".into()))?;
    let manifest: Manifest = serde_json::from_slice(&rest[..nl])
        .map_err(|e| BundleError::Format(format!("manifest: {e}")))?;
    let mut body = &rest[nl + 1..];
    let mut files = Vec::with_capacity(manifest.files.len());
    for f in &manifest.files {
        if !safe_path(&f.path) {
            return Err(BundleError::Format(format!("unsafe path {:?}", f.path)));
        }
        let len = usize::try_from(f.len).unwrap_or(usize::MAX);
        if body.len() < len {
            return Err(BundleError::Format(format!("{} is cut short", f.path)));
        }
        files.push((f.path.clone(), body[..len].to_vec()));
        body = &body[len..];
    }
    if !body.is_empty() {
        return Err(BundleError::Format(format!(
            "{} bytes after the last file",
            body.len()
        )));
    }
    if manifest.kind == BundleKind::Model && !safe_path(&manifest.name) {
        return Err(BundleError::Format(format!(
            "model name {:?} is not a folder name",
            manifest.name
        )));
    }
    Ok(Bundle {
        sha256: sha256_hex(bytes),
        manifest,
        files,
    })
}

/// [`decode`], checking the bytes hash to `expected`.
pub fn verify(bytes: &[u8], expected: &str) -> Result<Bundle, BundleError> {
    let got = sha256_hex(bytes);
    if got != expected {
        return Err(BundleError::Checksum {
            expected: expected.to_owned(),
            got,
        });
    }
    decode(bytes)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BundleToml {
    kind: String,
    name: Option<String>,
}

/// Packs folder `dir` into bundle bytes. `dir/bundle.toml` says `kind = "…"` (one of
/// detectors, runbooks, policies, assistant, model) and optionally `name = "…"` (required
/// for a model); every other regular file under `dir` goes in, sorted by path.
pub fn build_dir(dir: &Path) -> Result<Vec<u8>, BundleError> {
    let toml_path = dir.join("bundle.toml");
    let text = std::fs::read_to_string(&toml_path)
        .map_err(|e| BundleError::Io(format!("{}: {e}", toml_path.display())))?;
    let meta: BundleToml = toml::from_str(&text)
        .map_err(|e| BundleError::Format(format!("{}: {e}", toml_path.display())))?;
    let kind = BundleKind::parse(&meta.kind).ok_or_else(|| {
        BundleError::Format(format!(
            "{}: kind {:?}: expected detectors, runbooks, policies, assistant or model",
            toml_path.display(),
            meta.kind
        ))
    })?;
    let name = match (kind, meta.name) {
        (_, Some(n)) => n,
        (BundleKind::Model, None) => {
            return Err(BundleError::Format(format!(
                "{}: a model bundle needs name = \"MODEL\"",
                toml_path.display()
            )))
        }
        (k, None) => k.as_str().to_owned(),
    };
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.retain(|(p, _)| p != "bundle.toml");
    let bytes = encode(kind, &name, files);
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge(bytes.len()));
    }
    decode(&bytes)?;
    Ok(bytes)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), BundleError> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| BundleError::Io(format!("{}: {e}", dir.display())))?;
    for entry in rd {
        let entry = entry.map_err(|e| BundleError::Io(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        let ft = entry
            .file_type()
            .map_err(|e| BundleError::Io(format!("{}: {e}", path.display())))?;
        if ft.is_dir() {
            collect(root, &path, out)?;
        } else if ft.is_file() {
            let rel = path
                .strip_prefix(root)
                .map_err(|e| BundleError::Io(e.to_string()))?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = std::fs::read(&path)
                .map_err(|e| BundleError::Io(format!("{}: {e}", path.display())))?;
            out.push((rel, bytes));
        }
    }
    Ok(())
}

/// What shore knows of a stored bundle (`GET /api/bundles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// Its id.
    pub sha256: String,
    /// Its kind.
    pub kind: BundleKind,
    /// Its name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Number of files.
    pub files: usize,
}

impl BundleInfo {
    fn of(b: &Bundle, size: usize) -> Self {
        Self {
            sha256: b.sha256.clone(),
            kind: b.manifest.kind,
            name: b.manifest.name.clone(),
            size: size as u64,
            files: b.files.len(),
        }
    }
}

/// Shore's bundles: `DIR/<sha256>`, each written once (to a temporary name, then renamed).
#[derive(Debug, Clone)]
pub struct BundleStore {
    dir: PathBuf,
}

impl BundleStore {
    /// The store in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Self, BundleError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| BundleError::Io(format!("{}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Checks and stores `bytes`; storing a bundle already present changes nothing.
    pub fn put(&self, bytes: &[u8]) -> Result<BundleInfo, BundleError> {
        let b = decode(bytes)?;
        let path = self.dir.join(&b.sha256);
        if !path.exists() {
            let tmp = self.dir.join(format!(".{}.tmp", b.sha256));
            std::fs::write(&tmp, bytes)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| BundleError::Io(format!("{}: {e}", path.display())))?;
        }
        Ok(BundleInfo::of(&b, bytes.len()))
    }

    /// The bytes of bundle `sha256`, verified; `Ok(None)` when not stored.
    pub fn get(&self, sha256: &str) -> Result<Option<(Bundle, Vec<u8>)>, BundleError> {
        if !is_sha256(sha256) {
            return Ok(None);
        }
        match std::fs::read(self.dir.join(sha256)) {
            Ok(bytes) => Ok(Some((verify(&bytes, sha256)?, bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BundleError::Io(e.to_string())),
        }
    }

    /// Every stored bundle, by id.
    pub fn list(&self) -> Vec<BundleInfo> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| is_sha256(n))
            .collect();
        names.sort();
        for n in names {
            if let Ok(Some((b, bytes))) = self.get(&n) {
                out.push(BundleInfo::of(&b, bytes.len()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_folder_packs_to_the_same_id_every_time_and_round_trips() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "bundle.toml", "kind = \"policies\"\n");
        write(d.path(), "b.rego", "package b\n");
        write(d.path(), "sub/a.rego", "package a\n");
        let one = build_dir(d.path()).unwrap();
        let two = build_dir(d.path()).unwrap();
        assert_eq!(one, two);
        let b = decode(&one).unwrap();
        assert_eq!(b.manifest.kind, BundleKind::Policies);
        let paths: Vec<&str> = b.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["b.rego", "sub/a.rego"]);
        assert_eq!(b.files[1].1, b"package a\n");
        assert_eq!(b.sha256, sha256_hex(&one));
        assert!(is_sha256(&b.sha256));
    }

    #[test]
    fn damaged_or_unsafe_bundles_are_refused() {
        let good = encode(
            BundleKind::Runbooks,
            "r",
            vec![("a.toml".into(), b"x".to_vec())],
        );
        let id = sha256_hex(&good);
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = b'y';
        assert!(matches!(
            verify(&bad, &id),
            Err(BundleError::Checksum { .. })
        ));
        assert!(matches!(
            decode(&good[..good.len() - 1]),
            Err(BundleError::Format(_))
        ));
        let evil = encode(
            BundleKind::Runbooks,
            "r",
            vec![("../x".into(), b"x".to_vec())],
        );
        assert!(matches!(decode(&evil), Err(BundleError::Format(m)) if m.contains("unsafe")));
        assert!(decode(b"hello").is_err());
    }

    #[test]
    fn the_store_keeps_bundles_by_id_once() {
        let d = tempfile::tempdir().unwrap();
        let s = BundleStore::open(&d.path().join("bundles")).unwrap();
        let bytes = encode(
            BundleKind::Model,
            "risk",
            vec![("w.json".into(), b"{}".to_vec())],
        );
        let info = s.put(&bytes).unwrap();
        assert_eq!(s.put(&bytes).unwrap(), info);
        assert_eq!(s.list(), vec![info.clone()]);
        let (b, got) = s.get(&info.sha256).unwrap().unwrap();
        assert_eq!((b.manifest.name.as_str(), got), ("risk", bytes));
        assert!(s.get(&"0".repeat(64)).unwrap().is_none());
        assert!(s.get("../etc").unwrap().is_none());
    }

    #[test]
    fn a_folder_without_a_kind_says_what_is_expected() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "bundle.toml", "kind = \"firmware\"\n");
        let e = build_dir(d.path()).unwrap_err().to_string();
        assert!(e.contains("expected detectors, runbooks"), "{e}");
    }
}

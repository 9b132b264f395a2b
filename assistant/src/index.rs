//! The assistant's index in a node's data folder (`DATA/assistant/`): the chunks
//! (`chunks.json`), their embeddings (`vectors.f32`, little-endian, one row per chunk then
//! one per quotable unit), a tantivy BM25 index (`lexical/`) and `meta.json`. A build
//! writes a fresh folder beside the old one and renames it into place, so a reader never
//! sees half an index. Retrieval fuses BM25 and dense ranks (reciprocal rank fusion) over
//! brute-force cosine on the in-memory matrix (decision 0046).
//!
//! Documents are added to a built index without rebuilding it ([`AssistantIndex::append`],
//! decision 0061): the new sections are embedded and added to the BM25 index, the chunks
//! and vectors are written to files of a new generation (`chunks-<g>.json`,
//! `vectors-<g>.f32`) and `meta.json`, renamed into place last, names them together with
//! the appender's cursors. A document added again under the same source replaces the
//! earlier version (its sections are retired: kept on disk, never retrieved).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::chunk::{chunk_markdown, Chunk};
use crate::embed::{dot, Embedder};
use crate::lexical::Lexical;
use crate::Error;

const FORMAT: u32 = 1;

/// Which rankers retrieval uses: both fused (the default), or one alone (the baselines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// BM25 and dense fused by reciprocal rank.
    Hybrid,
    /// BM25 only.
    Bm25,
    /// Dense (MiniLM cosine) only.
    Dense,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hybrid" => Ok(Mode::Hybrid),
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            other => Err(format!(
                "retrieval mode {other:?}: expected hybrid, bm25 or dense"
            )),
        }
    }
}

/// Retrieval and abstention settings. The abstention thresholds were calibrated on the dev
/// questions only (shared/corpus/qa-dev.jsonl; decision 0047).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Ranking mode.
    pub mode: Mode,
    /// The `k` of reciprocal rank fusion, `1 / (k + rank)`.
    pub rrf_k: f32,
    /// Candidates taken from each ranker before fusion.
    pub candidates: usize,
    /// Hybrid mode: abstain when `best cosine + bm25_weight × best BM25 score −
    /// unseen_weight × unseen share` is below this. The best cosine is between the
    /// question and any section or unit; the BM25 term adds how strongly the question's own
    /// words occur in the documents; the unseen share takes off for the question's words
    /// the documents never use (decision 0080).
    pub abstain_below: f32,
    /// Weight of the best BM25 score in the hybrid confidence.
    pub bm25_weight: f32,
    /// Hybrid mode: weight of [`Retrieval::unseen_share`] taken off the confidence.
    pub unseen_weight: f32,
    /// Dense mode: abstain when the best cosine is below this.
    pub abstain_below_cosine: f32,
    /// Abstain when the best BM25 score is below this (bm25 mode, no embeddings).
    pub abstain_below_bm25: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Hybrid,
            rrf_k: 60.0,
            candidates: 50,
            // calibrated on shared/corpus/qa-dev.jsonl only (decisions 0047, 0080)
            abstain_below: 0.62,
            bm25_weight: 0.02,
            unseen_weight: 0.4,
            abstain_below_cosine: 0.41,
            abstain_below_bm25: 10.5,
        }
    }
}

/// One retrieved section.
#[derive(Debug, Clone, Serialize)]
pub struct Passage {
    /// Index of the chunk in [`AssistantIndex::chunks`].
    pub chunk: usize,
    /// Fused score (higher is better).
    pub score: f32,
    /// BM25 score, when BM25 ranked it.
    pub bm25: Option<f32>,
    /// Best cosine of the question with the section or one of its units, when embedded.
    pub cosine: Option<f32>,
}

/// The result of retrieval for one question.
#[derive(Debug, Clone)]
pub struct Retrieval {
    /// Sections, best first.
    pub passages: Vec<Passage>,
    /// The question's embedding, when the dense ranker ran.
    pub query_vec: Option<Vec<f32>>,
    /// Whether the best evidence clears the abstention threshold.
    pub confident: bool,
    /// The value the threshold was applied to (see [`Settings`]).
    pub confidence: f32,
    /// Wall time of retrieval.
    pub took: Duration,
    /// Best BM25 score (0 without lexical hits).
    pub best_bm25: f32,
    /// The share of the question's content that no quotable unit of the corpus contains:
    /// the idf-weighted share of its content terms (analysed, neither function words nor
    /// numbers) that occur in no unit. A question about something the documents never
    /// name ("the SCADA historian's hard drive") scores high; see [`AssistantIndex::unseen_share`].
    pub unseen_share: f32,
    /// Chunk ranked first by BM25 and by dense cosine, when they ran.
    pub firsts: (Option<usize>, Option<usize>),
}

/// What a build did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildStats {
    /// Documents read.
    pub documents: usize,
    /// Sections indexed.
    pub chunks: usize,
    /// Quotable units embedded.
    pub units: usize,
    /// Wall time of the build in milliseconds.
    pub took_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Default)]
struct Meta {
    format: u32,
    model: Option<String>,
    dim: usize,
    chunks: usize,
    units: usize,
    /// Generation of the chunk and vector files (0: `chunks.json`, `vectors.f32`).
    #[serde(default)]
    generation: u64,
    /// Generation of the BM25 folder (0: `lexical/`).
    #[serde(default)]
    lexical_generation: u64,
    /// Chunks of replaced documents, never retrieved.
    #[serde(default)]
    retired: Vec<usize>,
    /// Documents added by [`AssistantIndex::append`]: source → digest of its content.
    #[serde(default)]
    added: BTreeMap<String, u64>,
    /// The appenders' cursors (e.g. the next event-log seq per ship), committed with the
    /// documents they produced.
    #[serde(default)]
    cursors: BTreeMap<String, u64>,
}

fn chunks_file(generation: u64) -> String {
    match generation {
        0 => "chunks.json".into(),
        g => format!("chunks-{g}.json"),
    }
}

fn vectors_file(generation: u64) -> String {
    match generation {
        0 => "vectors.f32".into(),
        g => format!("vectors-{g}.f32"),
    }
}

fn lexical_dir(generation: u64) -> String {
    match generation {
        0 => "lexical".into(),
        g => format!("lexical-{g}"),
    }
}

/// One document for [`AssistantIndex::append`].
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// The name it is cited by (`incidents/aurora-3.md`, `configs/core-sw-1.cfg`).
    pub source: String,
    /// A digest of its content: the same source with the same digest is not added again.
    pub digest: u64,
    /// Its sections (every unit verbatim in the text the citation opens).
    pub chunks: Vec<Chunk>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppendStats {
    /// Documents added for the first time.
    pub added: usize,
    /// Documents that replaced an earlier version of the same source.
    pub replaced: usize,
    /// Sections added.
    pub chunks: usize,
}

/// FNV-1a 64 of `bytes`: a stable digest for [`NewDocument::digest`].
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The loaded index: chunks, vectors, BM25 and (optionally) the embedding model.
pub struct AssistantIndex {
    chunks: Vec<Chunk>,
    lexical: Lexical,
    embedder: Option<Embedder>,
    dim: usize,
    /// one row per chunk
    chunk_vecs: Vec<f32>,
    /// one row per unit, in chunk order
    unit_vecs: Vec<f32>,
    /// first unit row of each chunk (len = chunks + 1)
    unit_start: Vec<usize>,
    /// Analysed terms of every unit and their inverse document frequencies over units,
    /// computed on first use (answers weigh a unit's overlap with the question by them).
    unit_stats: std::sync::OnceLock<UnitStats>,
    /// The index folder, when on disk.
    dir: Option<PathBuf>,
    /// What `meta.json` says (generations, retired chunks, added documents, cursors).
    meta: Meta,
    /// Per chunk: retired (a replaced document's section).
    retired: Vec<bool>,
}

/// Terms of every quotable unit, and each term's inverse document frequency over units.
struct UnitStats {
    /// one entry per unit row, in chunk order
    terms: Vec<Vec<String>>,
    idf: std::collections::HashMap<String, f32>,
    /// idf of a term no unit contains
    unseen: f32,
    /// [`FUNCTION_WORDS`] as analysed terms
    function: std::collections::HashSet<String>,
    /// terms of the titles and headings
    headings: std::collections::HashSet<String>,
}

/// English function words (the NLTK English stop-word list, contractions' halves included):
/// words that say nothing about what a question is about. BM25's analyser removes only a
/// few of them; [`AssistantIndex::unseen_share`] leaves all of them out.
const FUNCTION_WORDS: &str = "i me my myself we our ours ourselves you your yours yourself \
yourselves he him his himself she her hers herself it its itself they them their theirs \
themselves what which who whom this that these those am is are was were be been being have \
has had having do does did doing a an the and but if or because as until while of at by for \
with about against between into through during before after above below to from up down in \
out on off over under again further then once here there when where why how all any both \
each few more most other some such no nor not only own same so than too very s t can will \
just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma \
mightn mustn needn shan shouldn wasn weren won wouldn";

/// The index folder inside a data folder.
pub fn index_dir(data: &Path) -> PathBuf {
    data.join("assistant")
}

/// Reads every `*.md` under `corpus` (recursively, sorted): `(relative path, text)`.
pub fn read_corpus(corpus: &Path) -> Result<Vec<(String, String)>, Error> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), Error> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if path.extension().is_some_and(|x| x == "md") {
                let text = std::fs::read_to_string(&path)
                    .map_err(|err| Error::Input(format!("{}: {err}", path.display())))?;
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, text));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(corpus, corpus, &mut out)?;
    if out.is_empty() {
        return Err(Error::Input(format!(
            "{}: no Markdown (*.md) documents",
            corpus.display()
        )));
    }
    Ok(out)
}

/// The text embedded for a section as a whole: its heading path and first unit (the
/// units are embedded one by one beside it; embedding whole sections of up to 256 tokens
/// cost most of the build time).
fn chunk_text(c: &Chunk) -> String {
    match c.units.first() {
        Some(u) => format!("{}: {}", c.heading_path(), u),
        None => c.heading_path(),
    }
}

impl AssistantIndex {
    /// Builds the index of `documents` (`(source, markdown)`) in memory, or into
    /// `data/assistant/` when `data` is given. Without an embedder it is BM25 only.
    pub fn build(
        documents: &[(String, String)],
        embedder: Option<Embedder>,
        data: Option<&Path>,
    ) -> Result<(Self, BuildStats), Error> {
        let started = Instant::now();
        let chunks: Vec<Chunk> = documents
            .iter()
            .flat_map(|(source, text)| chunk_markdown(source, text))
            .collect();
        let mut unit_start = Vec::with_capacity(chunks.len() + 1);
        let mut n_units = 0;
        for c in &chunks {
            unit_start.push(n_units);
            n_units += c.units.len();
        }
        unit_start.push(n_units);
        let (dim, chunk_vecs, unit_vecs) = match &embedder {
            Some(e) => {
                let (chunk_vecs, unit_vecs) = embed_chunks(e, &chunks)?;
                (e.dim(), chunk_vecs, unit_vecs)
            }
            None => (0, Vec::new(), Vec::new()),
        };
        let (lexical, tmp) = match data {
            Some(data) => {
                let tmp = data.join("assistant.new");
                if tmp.exists() {
                    std::fs::remove_dir_all(&tmp)?;
                }
                std::fs::create_dir_all(&tmp)?;
                (
                    Lexical::build(Some(&tmp.join("lexical")), &chunks)?,
                    Some(tmp),
                )
            }
            None => (Lexical::build(None, &chunks)?, None),
        };
        if let (Some(tmp), Some(data)) = (tmp, data) {
            let meta = Meta {
                format: FORMAT,
                model: embedder.as_ref().map(|e| e.name().to_string()),
                dim,
                chunks: chunks.len(),
                units: n_units,
                ..Meta::default()
            };
            std::fs::write(
                tmp.join("meta.json"),
                serde_json::to_vec_pretty(&meta).map_err(io)?,
            )?;
            std::fs::write(
                tmp.join("chunks.json"),
                serde_json::to_vec(&chunks).map_err(io)?,
            )?;
            let mut bytes = Vec::with_capacity((chunk_vecs.len() + unit_vecs.len()) * 4);
            for x in chunk_vecs.iter().chain(&unit_vecs) {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            std::fs::write(tmp.join("vectors.f32"), bytes)?;
            let dir = index_dir(data);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            std::fs::rename(&tmp, &dir)?;
        }
        let stats = BuildStats {
            documents: documents.len(),
            chunks: chunks.len(),
            units: n_units,
            took_ms: started.elapsed().as_millis() as u64,
        };
        let lexical = match data {
            Some(data) => Lexical::open(&index_dir(data).join("lexical"))?,
            None => lexical,
        };
        let meta = Meta {
            format: FORMAT,
            model: embedder.as_ref().map(|e| e.name().to_string()),
            dim,
            chunks: chunks.len(),
            units: n_units,
            ..Meta::default()
        };
        Ok((
            Self {
                retired: vec![false; chunks.len()],
                chunks,
                lexical,
                embedder,
                dim,
                chunk_vecs,
                unit_vecs,
                unit_start,
                unit_stats: std::sync::OnceLock::new(),
                dir: data.map(index_dir),
                meta,
            },
            stats,
        ))
    }

    /// Opens the index in `data/assistant/`. Its vectors are used only with an embedder of
    /// the same model; without one, retrieval is BM25 only.
    pub fn open(data: &Path, embedder: Option<Embedder>) -> Result<Self, Error> {
        let dir = index_dir(data);
        let meta_path = dir.join("meta.json");
        if !meta_path.is_file() {
            return Err(Error::NoIndex(data.display().to_string()));
        }
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            Error::Corrupt(format!("{}: {what}: {e}", dir.display()))
        };
        let meta: Meta = serde_json::from_slice(&std::fs::read(&meta_path)?)
            .map_err(|e| corrupt("meta.json", &e))?;
        if meta.format != FORMAT {
            return Err(corrupt(
                "meta.json",
                &format!("format {} (expected {FORMAT}): rebuild it", meta.format),
            ));
        }
        let chunks_name = chunks_file(meta.generation);
        let chunks: Vec<Chunk> = serde_json::from_slice(&std::fs::read(dir.join(&chunks_name))?)
            .map_err(|e| corrupt(&chunks_name, &e))?;
        let mut unit_start = Vec::with_capacity(chunks.len() + 1);
        let mut n_units = 0;
        for c in &chunks {
            unit_start.push(n_units);
            n_units += c.units.len();
        }
        unit_start.push(n_units);
        if chunks.len() != meta.chunks || n_units != meta.units {
            return Err(corrupt(&chunks_name, &"does not match meta.json"));
        }
        let vectors_name = vectors_file(meta.generation);
        let bytes = std::fs::read(dir.join(&vectors_name))?;
        if bytes.len() != (meta.chunks + meta.units) * meta.dim * 4 {
            return Err(corrupt(&vectors_name, &"wrong length"));
        }
        if meta.retired.iter().any(|&i| i >= meta.chunks) {
            return Err(corrupt("meta.json", &"a retired chunk out of range"));
        }
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let embedder = match embedder {
            // built without a model: BM25 only, whatever is installed now
            Some(_) if meta.model.is_none() => None,
            Some(e) if meta.model.as_deref() == Some(e.name()) && meta.dim == e.dim() => Some(e),
            Some(e) => {
                return Err(Error::Model(format!(
                    "the index in {} was built with {:?}, not {}: rebuild it",
                    dir.display(),
                    meta.model,
                    e.name()
                )))
            }
            None => None,
        };
        let split = meta.chunks * meta.dim;
        let lexical = Lexical::open(&dir.join(lexical_dir(meta.lexical_generation)))?;
        let mut retired = vec![false; chunks.len()];
        for &i in &meta.retired {
            retired[i] = true;
        }
        Ok(Self {
            chunks,
            lexical,
            embedder,
            dim: meta.dim,
            chunk_vecs: floats[..split].to_vec(),
            unit_vecs: floats[split..].to_vec(),
            unit_start,
            unit_stats: std::sync::OnceLock::new(),
            dir: Some(dir),
            meta,
            retired,
        })
    }

    /// The cursor `name` committed by the last [`append`](Self::append) (0 when none).
    pub fn cursor(&self, name: &str) -> u64 {
        self.meta.cursors.get(name).copied().unwrap_or(0)
    }

    /// The digest of an added document's current version.
    pub fn added_digest(&self, source: &str) -> Option<u64> {
        self.meta.added.get(source).copied()
    }

    /// The current (not retired) sources and how many sections each has, sorted.
    pub fn sources(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for (c, _) in self.chunks.iter().zip(&self.retired).filter(|(_, r)| !**r) {
            *out.entry(c.source.as_str()).or_default() += 1;
        }
        out
    }

    /// The current section `heading_path` (as [`Chunk::heading_path`]) of `source`; of
    /// two sections under the same headings, the one holding `excerpt` when given.
    pub fn section(
        &self,
        source: &str,
        heading_path: &str,
        excerpt: Option<&str>,
    ) -> Option<&Chunk> {
        let mut matching = self
            .chunks
            .iter()
            .zip(&self.retired)
            .filter(|(c, r)| !**r && c.source == source && c.heading_path() == heading_path)
            .map(|(c, _)| c)
            .peekable();
        let first = *matching.peek()?;
        match excerpt {
            Some(x) => Some(matching.find(|c| c.text.contains(x)).unwrap_or(first)),
            None => Some(first),
        }
    }

    /// Adds `documents` without rebuilding: their sections are embedded (when the index
    /// has an embedder) and added to BM25; a document whose source was added before
    /// replaces that version, one with the same digest is skipped. On disk the chunks and
    /// vectors go to files of a new generation and `meta.json`, renamed last, commits
    /// them with `cursors` (merged into the committed ones): a crash before the rename
    /// leaves the previous index whole. A BM25 index holding sections of a crashed
    /// append is rebuilt from the chunks (embeddings are never recomputed).
    pub fn append(
        &mut self,
        documents: Vec<NewDocument>,
        cursors: &BTreeMap<String, u64>,
    ) -> Result<AppendStats, Error> {
        // the last version of each source in the batch, not already in the index
        let mut docs: Vec<NewDocument> = Vec::new();
        for d in documents.into_iter().rev() {
            if !docs.iter().any(|x| x.source == d.source)
                && self.meta.added.get(&d.source) != Some(&d.digest)
            {
                docs.push(d);
            }
        }
        docs.reverse();
        let cursors_moved = cursors
            .iter()
            .any(|(k, v)| self.meta.cursors.get(k) != Some(v));
        if docs.is_empty() && !cursors_moved {
            return Ok(AppendStats::default());
        }
        if docs.is_empty() {
            // only the cursors moved: a new meta.json, the same files
            let mut meta = self.meta.clone();
            for (k, v) in cursors {
                meta.cursors.insert(k.clone(), *v);
            }
            if let Some(dir) = &self.dir {
                let tmp = dir.join("meta.json.new");
                write_synced(&tmp, &serde_json::to_vec_pretty(&meta).map_err(io)?)?;
                std::fs::rename(&tmp, dir.join("meta.json"))?;
            }
            self.meta = meta;
            return Ok(AppendStats::default());
        }
        let mut stats = AppendStats::default();
        let old_n = self.chunks.len();
        let mut retired = self.retired.clone();
        let mut new_chunks: Vec<Chunk> = Vec::new();
        for d in &docs {
            let mut replaced = false;
            for (i, c) in self.chunks.iter().enumerate() {
                if c.source == d.source && !retired[i] {
                    retired[i] = true;
                    replaced = true;
                }
            }
            if replaced || self.meta.added.contains_key(&d.source) {
                stats.replaced += 1;
            } else {
                stats.added += 1;
            }
            new_chunks.extend(d.chunks.iter().cloned());
        }
        stats.chunks = new_chunks.len();
        let (new_chunk_vecs, new_unit_vecs) = match &self.embedder {
            Some(e) if self.dim > 0 => embed_chunks(e, &new_chunks)?,
            _ => (Vec::new(), Vec::new()),
        };
        let mut meta = self.meta.clone();
        meta.chunks = old_n + new_chunks.len();
        meta.units =
            self.unit_start[old_n] + new_chunks.iter().map(|c| c.units.len()).sum::<usize>();
        meta.retired = (0..meta.chunks)
            .filter(|&i| retired.get(i).copied().unwrap_or(false))
            .collect();
        for d in &docs {
            meta.added.insert(d.source.clone(), d.digest);
        }
        for (k, v) in cursors {
            meta.cursors.insert(k.clone(), *v);
        }
        let all: Vec<Chunk> = self.chunks.iter().chain(&new_chunks).cloned().collect();
        let added: Vec<(usize, &Chunk)> = new_chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (old_n + i, c))
            .collect();
        let chunk_vecs: Vec<f32> = self
            .chunk_vecs
            .iter()
            .chain(&new_chunk_vecs)
            .copied()
            .collect();
        let unit_vecs: Vec<f32> = self
            .unit_vecs
            .iter()
            .chain(&new_unit_vecs)
            .copied()
            .collect();
        let mut rebuilt = None;
        match self.dir.clone() {
            Some(dir) => {
                meta.generation = self.meta.generation + 1;
                write_synced(
                    &dir.join(chunks_file(meta.generation)),
                    &serde_json::to_vec(&all).map_err(io)?,
                )?;
                let mut bytes = Vec::with_capacity((chunk_vecs.len() + unit_vecs.len()) * 4);
                for x in chunk_vecs.iter().chain(&unit_vecs) {
                    bytes.extend_from_slice(&x.to_le_bytes());
                }
                write_synced(&dir.join(vectors_file(meta.generation)), &bytes)?;
                if self.lexical.len() != old_n as u64 {
                    // sections of an append that crashed before its commit
                    meta.lexical_generation = meta.generation;
                    rebuilt = Some(Lexical::build(
                        Some(&dir.join(lexical_dir(meta.lexical_generation))),
                        &all,
                    )?);
                } else {
                    self.lexical.add(&added)?;
                }
                let tmp = dir.join("meta.json.new");
                write_synced(&tmp, &serde_json::to_vec_pretty(&meta).map_err(io)?)?;
                std::fs::rename(&tmp, dir.join("meta.json"))?;
                remove_stale(&dir, &meta);
            }
            None => self.lexical.add(&added)?,
        }
        if let Some(lexical) = rebuilt {
            self.lexical = lexical;
        }
        for c in &new_chunks {
            let last = *self.unit_start.last().unwrap_or(&0);
            self.unit_start.push(last + c.units.len());
        }
        self.chunks = all;
        self.chunk_vecs = chunk_vecs;
        self.unit_vecs = unit_vecs;
        retired.resize(self.chunks.len(), false);
        self.retired = retired;
        self.meta = meta;
        self.unit_stats = std::sync::OnceLock::new();
        Ok(stats)
    }

    /// The indexed sections.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// True when dense retrieval is available (an embedder and vectors).
    pub fn has_dense(&self) -> bool {
        self.embedder.is_some() && self.dim > 0
    }

    /// The embedding model's name, if loaded.
    pub fn model(&self) -> Option<&str> {
        self.embedder.as_ref().map(Embedder::name)
    }

    /// Cosine of `q` with unit `u` (global unit index) of chunk rows.
    pub fn unit_cosine(&self, q: &[f32], chunk: usize, unit: usize) -> Option<f32> {
        if self.dim == 0 || q.len() != self.dim {
            return None;
        }
        let row = self.unit_start[chunk] + unit;
        Some(dot(
            q,
            &self.unit_vecs[row * self.dim..(row + 1) * self.dim],
        ))
    }

    fn unit_stats(&self) -> &UnitStats {
        self.unit_stats.get_or_init(|| {
            let terms: Vec<Vec<String>> = self
                .chunks
                .iter()
                .flat_map(|c| c.units.iter().map(|u| self.lexical.terms(u)))
                .collect();
            let mut df: std::collections::HashMap<String, usize> = Default::default();
            for t in terms.iter().flatten() {
                *df.entry(t.clone()).or_default() += 1;
            }
            let n = terms.len().max(1) as f32;
            // BM25's idf, ln(1 + (N - df + 0.5) / (df + 0.5)): always positive
            let idf_of = |df: usize| (1.0 + (n - df as f32 + 0.5) / (df as f32 + 0.5)).ln();
            let idf = df.into_iter().map(|(t, d)| (t, idf_of(d))).collect();
            UnitStats {
                terms,
                idf,
                unseen: idf_of(0),
                function: self.lexical.terms(FUNCTION_WORDS).into_iter().collect(),
                headings: self
                    .chunks
                    .iter()
                    .flat_map(|c| self.lexical.terms(&c.heading_path()))
                    .collect(),
            }
        })
    }

    /// The analysed terms of unit `unit` of chunk `chunk`.
    pub fn unit_terms(&self, chunk: usize, unit: usize) -> &[String] {
        self.unit_stats()
            .terms
            .get(self.unit_start[chunk] + unit)
            .map_or(&[], Vec::as_slice)
    }

    /// Inverse document frequency of an analysed term over the quotable units: high for a
    /// word few units contain (a device name, a threshold's unit), low for a common one.
    pub fn unit_idf(&self, term: &str) -> f32 {
        let s = self.unit_stats();
        s.idf.get(term).copied().unwrap_or(s.unseen)
    }

    /// The share of `question`'s content that no quotable unit contains: over its
    /// analysed terms that are neither [`FUNCTION_WORDS`] nor numbers (a number is a value
    /// the question gives, not what it is about), the idf-weighted share of those that
    /// occur in no unit and no heading (0 when it has no such term). Each unseen term weighs the idf of a
    /// term no unit contains, the most any term weighs, so the share grows fastest with
    /// the names of things the documents never mention.
    pub fn unseen_share(&self, question: &str) -> f32 {
        let s = self.unit_stats();
        let mut total = 0.0;
        let mut unseen = 0.0;
        for t in self.lexical.terms(question) {
            if s.function.contains(&t) || t.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            match s.idf.get(&t) {
                Some(idf) => total += idf,
                None if s.headings.contains(&t) => total += s.unseen,
                None => {
                    total += s.unseen;
                    unseen += s.unseen;
                }
            }
        }
        if total > 0.0 {
            unseen / total
        } else {
            0.0
        }
    }

    /// Best cosine of `q` with chunk `i` as a whole or any of its units.
    fn chunk_cosine(&self, q: &[f32], i: usize) -> f32 {
        let d = self.dim;
        let mut best = dot(q, &self.chunk_vecs[i * d..(i + 1) * d]);
        for row in self.unit_start[i]..self.unit_start[i + 1] {
            best = best.max(dot(q, &self.unit_vecs[row * d..(row + 1) * d]));
        }
        best
    }

    /// Ranks the sections for `question`.
    pub fn retrieve(&self, question: &str, s: &Settings) -> Result<Retrieval, Error> {
        let started = Instant::now();
        let mode = if self.has_dense() { s.mode } else { Mode::Bm25 };
        let n = self.chunks.len();
        let mut bm25: Vec<Option<(usize, f32)>> = vec![None; n];
        if mode != Mode::Dense {
            for (rank, (i, score)) in self
                .lexical
                .search(question, s.candidates)?
                .into_iter()
                .enumerate()
            {
                if i < n && !self.retired[i] {
                    bm25[i] = Some((rank, score));
                }
            }
        }
        let mut cos: Vec<Option<(usize, f32)>> = vec![None; n];
        let mut query_vec = None;
        if mode != Mode::Bm25 {
            if let Some(e) = &self.embedder {
                let q = e.embed(&[question])?.pop().unwrap_or_default();
                let mut scored: Vec<(usize, f32)> = (0..n)
                    .filter(|&i| !self.retired[i])
                    .map(|i| (i, self.chunk_cosine(&q, i)))
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1));
                for (rank, (i, c)) in scored.into_iter().enumerate() {
                    // every chunk keeps its cosine (for abstention and answers); only the
                    // first `candidates` take part in fusion
                    cos[i] = Some((rank, c));
                }
                query_vec = Some(q);
            }
        }
        let mut passages: Vec<Passage> = (0..n)
            .filter_map(|i| {
                let mut score = 0.0;
                let mut any = false;
                if let Some((rank, _)) = bm25[i] {
                    score += 1.0 / (s.rrf_k + rank as f32 + 1.0);
                    any = true;
                }
                if let Some((rank, _)) = cos[i] {
                    if rank < s.candidates {
                        score += 1.0 / (s.rrf_k + rank as f32 + 1.0);
                        any = true;
                    }
                }
                any.then(|| Passage {
                    chunk: i,
                    score,
                    bm25: bm25[i].map(|x| x.1),
                    cosine: cos[i].map(|x| x.1),
                })
            })
            .collect();
        passages.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.chunk.cmp(&b.chunk)));
        let best_bm25 = bm25.iter().flatten().map(|x| x.1).fold(0.0, f32::max);
        let first =
            |v: &[Option<(usize, f32)>]| v.iter().position(|x| x.is_some_and(|(r, _)| r == 0));
        let firsts = (first(&bm25), first(&cos));
        let unseen_share = self.unseen_share(question);
        let (confidence, confident) = match mode {
            Mode::Bm25 => {
                let best = bm25.iter().flatten().map(|x| x.1).fold(0.0, f32::max);
                (best, best >= s.abstain_below_bm25)
            }
            Mode::Dense => {
                let best = cos.iter().flatten().map(|x| x.1).fold(-1.0, f32::max);
                (best, best >= s.abstain_below_cosine)
            }
            Mode::Hybrid => {
                let best = cos.iter().flatten().map(|x| x.1).fold(-1.0, f32::max)
                    + s.bm25_weight * best_bm25
                    - s.unseen_weight * unseen_share;
                (best, best >= s.abstain_below)
            }
        };
        Ok(Retrieval {
            passages,
            query_vec,
            confident,
            confidence,
            took: started.elapsed(),
            best_bm25,
            unseen_share,
            firsts,
        })
    }

    /// The BM25 analyser's terms of `text` (lower-cased, stemmed, no stop words).
    pub fn terms(&self, text: &str) -> Vec<String> {
        self.lexical.terms(text)
    }
}

/// Embeddings of `chunks`: one row per chunk (its heading path and first unit), then one
/// per unit.
fn embed_chunks(e: &Embedder, chunks: &[Chunk]) -> Result<(Vec<f32>, Vec<f32>), Error> {
    let texts: Vec<String> = chunks.iter().map(chunk_text).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let units: Vec<&str> = chunks
        .iter()
        .flat_map(|c| c.units.iter().map(String::as_str))
        .collect();
    let run = |texts: &[&str]| -> Result<Vec<f32>, Error> {
        if texts.is_empty() {
            Ok(Vec::new())
        } else {
            Ok(e.embed(texts)?.concat())
        }
    };
    Ok((run(&refs)?, run(&units)?))
}

/// Writes `bytes` to `path` and syncs it (before it is named by a renamed `meta.json`).
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Removes chunk, vector and BM25 files of generations `meta` does not name (the
/// previous one, or those of an append that crashed before its commit).
fn remove_stale(dir: &Path, meta: &Meta) {
    let keep = [
        chunks_file(meta.generation),
        vectors_file(meta.generation),
        lexical_dir(meta.lexical_generation),
    ];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("chunks")
            || name.starts_with("vectors")
            || name.starts_with("lexical");
        if ours && !keep.contains(&name) {
            let path = e.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

fn io(e: serde_json::Error) -> Error {
    Error::Io(std::io::Error::other(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Vec<(String, String)> {
        vec![
            (
                "rain.md".into(),
                "# Rain fade\n\n## Procedure\n1. Do not power-cycle the modem during rain fade.\n2. Confirm rain on the radar.\n".into(),
            ),
            (
                "disk.md".into(),
                "# Disk full\n\n## Procedure\n1. Never delete WAL segments by hand.\n".into(),
            ),
        ]
    }

    #[test]
    fn a_bm25_only_index_persists_and_reopens_with_the_same_ranking() {
        let dir = tempfile::tempdir().unwrap();
        let (built, stats) = AssistantIndex::build(&docs(), None, Some(dir.path())).unwrap();
        assert_eq!((stats.documents, stats.chunks, stats.units), (2, 2, 3));
        assert!(!built.has_dense());
        let s = Settings::default();
        let a = built.retrieve("power cycle the modem in rain", &s).unwrap();
        assert_eq!(built.chunks()[a.passages[0].chunk].source, "rain.md");
        assert!(a.query_vec.is_none());
        let reopened = AssistantIndex::open(dir.path(), None).unwrap();
        let b = reopened
            .retrieve("power cycle the modem in rain", &s)
            .unwrap();
        let ids = |r: &Retrieval| r.passages.iter().map(|p| p.chunk).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert!(!dir.path().join("assistant.new").exists());
    }

    fn doc(source: &str, text: &str) -> NewDocument {
        NewDocument {
            source: source.into(),
            digest: digest(text.as_bytes()),
            chunks: chunk_markdown(source, text),
        }
    }

    #[test]
    fn appended_documents_are_retrieved_persist_and_replace_their_earlier_version() {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, _) = AssistantIndex::build(&docs(), None, Some(dir.path())).unwrap();
        let s = Settings::default();
        let first = "# Incident aurora-3\n\n## Root cause\ncore-sw-1 unreachable for 14 min.\n";
        let cursors = BTreeMap::from([("log/aurora".to_string(), 7)]);
        let stats = index
            .append(vec![doc("incidents/aurora-3.md", first)], &cursors)
            .unwrap();
        assert_eq!(
            stats,
            AppendStats {
                added: 1,
                replaced: 0,
                chunks: 1
            }
        );
        let top = |ix: &AssistantIndex, q: &str| {
            let r = ix.retrieve(q, &s).unwrap();
            let c = &ix.chunks()[r.passages[0].chunk];
            (c.source.clone(), c.text.clone())
        };
        assert_eq!(
            top(&index, "core-sw-1 unreachable").0,
            "incidents/aurora-3.md"
        );
        // the same content again is skipped; a new version replaces the old one
        let again = index
            .append(vec![doc("incidents/aurora-3.md", first)], &cursors)
            .unwrap();
        assert_eq!(again, AppendStats::default());
        let second = "# Incident aurora-3\n\n## Root cause\ncore-sw-1 unreachable for 20 min, reopened once.\n";
        let cursors = BTreeMap::from([("log/aurora".to_string(), 9)]);
        let stats = index
            .append(vec![doc("incidents/aurora-3.md", second)], &cursors)
            .unwrap();
        assert_eq!(stats.replaced, 1);
        let hits = index.retrieve("core-sw-1 unreachable", &s).unwrap();
        let incident_hits: Vec<&str> = hits
            .passages
            .iter()
            .map(|p| index.chunks()[p.chunk].text.as_str())
            .filter(|t| t.contains("core-sw-1"))
            .collect();
        assert_eq!(
            incident_hits,
            ["core-sw-1 unreachable for 20 min, reopened once."]
        );
        // reopened from disk: same sections, cursor and digest; old generations removed
        let reopened = AssistantIndex::open(dir.path(), None).unwrap();
        assert_eq!(reopened.cursor("log/aurora"), 9);
        assert_eq!(
            reopened.added_digest("incidents/aurora-3.md"),
            Some(digest(second.as_bytes()))
        );
        assert_eq!(
            top(&reopened, "core-sw-1 unreachable").1,
            top(&index, "core-sw-1 unreachable").1
        );
        assert_eq!(reopened.sources().len(), 3);
        let names: Vec<String> = std::fs::read_dir(index_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n == "chunks.json" || n == "chunks-1.json"),
            "{names:?}"
        );
    }

    #[test]
    fn an_append_that_crashed_before_its_commit_leaves_the_previous_index_and_is_redone() {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, _) = AssistantIndex::build(&docs(), None, Some(dir.path())).unwrap();
        // what a crashed append leaves: BM25 holds a section meta.json does not name,
        // and files of a generation it never committed
        index
            .lexical
            .add(&[(2, &chunk_markdown("x.md", "# X\n\nOrphan text.\n")[0])])
            .unwrap();
        std::fs::write(index_dir(dir.path()).join("chunks-1.json"), b"[").unwrap();
        drop(index);
        let mut index = AssistantIndex::open(dir.path(), None).unwrap();
        assert_eq!(index.chunks().len(), 2);
        let s = Settings::default();
        assert!(index.retrieve("orphan", &s).unwrap().passages.is_empty());
        let text = "# Incident aurora-4\n\nOrphan port on dist-sw-2.\n";
        index
            .append(vec![doc("incidents/aurora-4.md", text)], &BTreeMap::new())
            .unwrap();
        let reopened = AssistantIndex::open(dir.path(), None).unwrap();
        assert_eq!(reopened.lexical.len(), 3);
        let r = reopened.retrieve("orphan port", &s).unwrap();
        assert_eq!(r.passages.len(), 1);
        assert_eq!(
            reopened.chunks()[r.passages[0].chunk].source,
            "incidents/aurora-4.md"
        );
    }

    #[test]
    fn a_section_is_found_by_its_headings_and_among_namesakes_by_its_excerpt() {
        let twice = "# Pump\n\n## Procedure\nPrime it.\n\n## Procedure\nBleed the air.\n";
        let (index, _) =
            AssistantIndex::build(&[("pump.md".into(), twice.into())], None, None).unwrap();
        let text = |x: Option<&str>| {
            index
                .section("pump.md", "Pump > Procedure", x)
                .map(|c| c.text.clone())
        };
        assert_eq!(text(None).as_deref(), Some("Prime it."));
        assert_eq!(
            text(Some("Bleed the air.")).as_deref(),
            Some("Bleed the air.")
        );
        assert_eq!(text(Some("not there")).as_deref(), Some("Prime it."));
        assert!(index.section("pump.md", "Pump > Nothing", None).is_none());
    }

    #[test]
    fn opening_a_folder_without_an_index_says_how_to_build_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = AssistantIndex::open(dir.path(), None)
            .err()
            .expect("no index");
        assert!(
            err.to_string().contains("seawatch assistant index"),
            "{err}"
        );
    }

    #[test]
    fn a_corpus_folder_without_markdown_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let err = read_corpus(dir.path()).expect_err("no documents");
        assert!(err.to_string().contains("no Markdown"), "{err}");
    }

    #[test]
    fn the_unseen_share_weighs_question_words_no_document_contains() {
        let (index, _) = AssistantIndex::build(&docs(), None, None).unwrap();
        // function words and numbers do not count; heading words are seen
        assert_eq!(
            index.unseen_share("Should I power-cycle the modem in 2 of 3 rain fades?"),
            0.0
        );
        assert_eq!(index.unseen_share("Is the disk full?"), 0.0);
        assert_eq!(index.unseen_share("What is it?"), 0.0);
        // two things the documents never name outweigh two words they do
        let mixed = index.unseen_share("Should I power-cycle the galley oven?");
        assert!(mixed > 0.5 && mixed < 1.0, "{mixed}");
        assert_eq!(index.unseen_share("Re-encode the key card"), 1.0);
        let r = index
            .retrieve(
                "Should I power-cycle the galley oven?",
                &Settings::default(),
            )
            .unwrap();
        assert_eq!(r.unseen_share, mixed);
    }

    #[test]
    fn retrieval_modes_parse_and_reject_unknown_names() {
        assert_eq!("dense".parse::<Mode>(), Ok(Mode::Dense));
        assert!("sparse".parse::<Mode>().unwrap_err().contains("hybrid"));
    }
}

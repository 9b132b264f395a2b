//! The operator's offline assistant: Markdown SOPs chunked by section, BM25 (tantivy) and
//! all-MiniLM-L6-v2 sentence embeddings (candle) fused by reciprocal rank, abstention when
//! retrieval is not confident, and answers quoted verbatim from the retrieved sections
//! with their sources (contracts §8). Answers come from a [`Generator`]: the built-in
//! [`Extractive`], or with the cargo feature `llm` a local GGUF model run by llama.cpp that
//! picks and orders the quoted units under a grammar ([`llm`]).

pub mod answer;
pub mod api;
pub mod chunk;
pub mod embed;
pub mod eval;
pub mod index;
pub mod lexical;
pub mod llm;

pub use answer::{Answer, Assistant, Citation, Extractive, Generator};
pub use chunk::{chunk_config, chunk_markdown, Chunk};
pub use embed::Embedder;
pub use index::{
    AppendStats, AssistantIndex, BuildStats, Mode, NewDocument, Passage, Retrieval, Settings,
};

/// What can go wrong in the assistant.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the corpus or the index folder.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The lexical index.
    #[error("lexical index: {0}")]
    Lexical(#[from] tantivy::TantivyError),
    /// The embedding model could not be loaded or run.
    #[error("embedding model: {0}")]
    Model(String),
    /// The index folder holds something this version cannot read.
    #[error("assistant index: {0}")]
    Corrupt(String),
    /// No index has been built in the data folder yet.
    #[error("no assistant index in {0}: run `seawatch assistant index --corpus DIR` first")]
    NoIndex(String),
    /// The local LLM could not be loaded or run, or its reply could not be read.
    #[error("llm: {0}")]
    Generation(String),
    /// A question file or corpus with bad content.
    #[error("{0}")]
    Input(String),
}

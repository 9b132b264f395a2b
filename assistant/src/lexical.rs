//! BM25 over chunks with tantivy: title, heading path and body as separate fields, English
//! stemming and stop words, the question's terms OR-ed (no query syntax, so any text is a
//! valid question).

use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};
use tantivy::{doc, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::chunk::Chunk;
use crate::Error;

const ANALYZER: &str = "seawatch_en";

/// A tantivy index of chunks, on disk or in memory.
pub struct Lexical {
    index: Index,
    reader: IndexReader,
    chunk_id: Field,
    fields: [(Field, f32); 3],
}

fn analyzer() -> TextAnalyzer {
    let stop = StopWordFilter::new(Language::English).expect("English stop words are built in");
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop)
        .filter(Stemmer::new(Language::English))
        .build()
}

fn schema() -> (Schema, Field, [Field; 3]) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let chunk_id = b.add_u64_field("chunk_id", STORED);
    let title = b.add_text_field("title", text.clone());
    let heading = b.add_text_field("heading", text.clone());
    let body = b.add_text_field("body", text);
    (b.build(), chunk_id, [title, heading, body])
}

/// Field weights: a word of the title or section heading says more than one in the body.
const WEIGHTS: [f32; 3] = [1.5, 1.2, 1.0];

impl Lexical {
    /// Builds a fresh index of `chunks` in `dir` (created or emptied), or in memory.
    pub fn build(dir: Option<&Path>, chunks: &[Chunk]) -> Result<Self, Error> {
        let (schema, chunk_id, fields) = schema();
        let index = match dir {
            Some(dir) => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                std::fs::create_dir_all(dir)?;
                Index::create_in_dir(dir, schema)?
            }
            None => Index::create_in_ram(schema),
        };
        index.tokenizers().register(ANALYZER, analyzer());
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 15_000_000)?;
        for (i, c) in chunks.iter().enumerate() {
            writer.add_document(doc!(
                chunk_id => i as u64,
                fields[0] => c.title.as_str(),
                fields[1] => c.headings.join(" "),
                fields[2] => c.text.as_str(),
            ))?;
        }
        writer.commit()?;
        Self::from_index(index, chunk_id, fields)
    }

    /// Adds `chunks` (`(chunk index, chunk)`) to the index and makes them searchable.
    pub fn add(&mut self, chunks: &[(usize, &Chunk)]) -> Result<(), Error> {
        if chunks.is_empty() {
            return Ok(());
        }
        let mut writer = self
            .index
            .writer_with_num_threads::<TantivyDocument>(1, 15_000_000)?;
        let f = self.fields;
        for (i, c) in chunks {
            writer.add_document(doc!(
                self.chunk_id => *i as u64,
                f[0].0 => c.title.as_str(),
                f[1].0 => c.headings.join(" "),
                f[2].0 => c.text.as_str(),
            ))?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Opens an index built by [`Lexical::build`].
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let index = Index::open_in_dir(dir)?;
        index.tokenizers().register(ANALYZER, analyzer());
        let (_, chunk_id, fields) = schema();
        Self::from_index(index, chunk_id, fields)
    }

    fn from_index(index: Index, chunk_id: Field, fields: [Field; 3]) -> Result<Self, Error> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let fields = [
            (fields[0], WEIGHTS[0]),
            (fields[1], WEIGHTS[1]),
            (fields[2], WEIGHTS[2]),
        ];
        Ok(Self {
            index,
            reader,
            chunk_id,
            fields,
        })
    }

    /// The question's analysed terms (lower-cased, stemmed, stop words removed), deduplicated.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut a = analyzer();
        let mut stream = a.token_stream(text);
        let mut out: Vec<String> = Vec::new();
        while stream.advance() {
            let t = &stream.token().text;
            if !out.iter().any(|o| o == t) {
                out.push(t.clone());
            }
        }
        out
    }

    /// The best `k` chunks for `question` by BM25: `(chunk index, score)`, best first.
    pub fn search(&self, question: &str, k: usize) -> Result<Vec<(usize, f32)>, Error> {
        let terms = self.terms(question);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, weight) in self.fields {
            for t in &terms {
                let q = TermQuery::new(
                    Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), weight)),
                ));
            }
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(k))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let id = d
                .get_first(self.chunk_id)
                .and_then(|v| v.as_u64())
                .ok_or_else(|| Error::Corrupt("a lexical document without chunk_id".into()))?;
            out.push((id as usize, score));
        }
        Ok(out)
    }

    /// Number of indexed chunks.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tantivy index (for tests and diagnostics).
    pub fn index(&self) -> &Index {
        &self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::chunk_markdown;

    fn chunks() -> Vec<Chunk> {
        let mut c = chunk_markdown(
            "rain.md",
            "# Rain fade\n\n## Procedure\n1. Do not power-cycle the modem during rain fade.\n",
        );
        c.extend(chunk_markdown(
            "disk.md",
            "# Disk full\n\n## Procedure\n1. Never delete WAL segments by hand.\n",
        ));
        c
    }

    #[test]
    fn stemmed_terms_find_the_right_chunk_on_disk_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lexical");
        let built = Lexical::build(Some(&path), &chunks()).unwrap();
        assert_eq!(built.len(), 2);
        let hits = built
            .search("Should I power cycle the modem? It's raining", 5)
            .unwrap();
        assert_eq!(hits[0].0, 0);
        drop(built);
        let reopened = Lexical::open(&path).unwrap();
        let hits = reopened.search("deleting segments", 5).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0, 1);
    }

    #[test]
    fn a_question_of_stop_words_and_punctuation_finds_nothing_without_error() {
        let lex = Lexical::build(None, &chunks()).unwrap();
        assert!(lex.search("what is the ?! (", 5).unwrap().is_empty());
        assert_eq!(lex.terms("Deleting the segments"), ["delet", "segment"]);
    }
}

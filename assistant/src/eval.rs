//! `seawatch assistant eval`: answers every question of a JSONL file and scores retrieval,
//! abstention and answers (the report of contracts §8).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::answer::Assistant;
use crate::Error;

/// One question of the JSONL file.
#[derive(Debug, Clone, Deserialize)]
pub struct QaItem {
    /// Question id.
    pub id: String,
    /// The question as an officer would ask it.
    pub question: String,
    /// Gold source file names; empty when the corpus does not cover the question.
    pub sources: Vec<String>,
    /// Phrases a correct answer contains.
    #[serde(default)]
    pub facts: Vec<String>,
}

/// Reads a JSONL question file; a bad line is an error naming the file and line.
pub fn read_qa(path: &Path) -> Result<Vec<QaItem>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item: QaItem = serde_json::from_str(line).map_err(|e| {
            Error::Input(format!(
                "{}:{}: expected {{\"id\",\"question\",\"sources\",\"facts\"?}}: {e}",
                path.display(),
                i + 1
            ))
        })?;
        out.push(item);
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{}: no questions", path.display())));
    }
    Ok(out)
}

/// The eval report of contracts §8.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Questions answered.
    pub questions: usize,
    /// Covered questions with a gold source among the first five retrieved sections.
    pub recall_at_5: f64,
    /// Mean reciprocal rank of the first section from a gold source (first ten; covered only).
    pub mrr: f64,
    /// Abstained questions that were not covered / abstained questions.
    pub abstention_precision: f64,
    /// Not-covered questions abstained / not-covered questions.
    pub abstention_recall: f64,
    /// Gold facts found in the answers / gold facts (covered questions; an abstention finds none).
    pub answer_fact_recall: f64,
    /// 95th percentile of retrieval wall time, ms.
    pub p95_retrieval_ms: f64,
    /// 95th percentile of question-to-answer wall time, ms.
    pub p95_answer_ms: f64,
    /// The generating model, `null` for extractive answers.
    pub model: Option<String>,
}

/// Per-question outcome (printed by `eval --verbose`).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Question id.
    pub id: String,
    /// Whether the corpus covers it.
    pub covered: bool,
    /// 1-based rank of the first section from a gold source.
    pub gold_rank: Option<usize>,
    /// Whether the assistant abstained.
    pub abstained: bool,
    /// Citations of the answer.
    pub cited: usize,
    /// The value the abstention threshold was applied to.
    pub confidence: f32,
    /// Facts found / facts.
    pub facts: (usize, usize),
    /// Sources of the first five sections.
    pub top5: Vec<String>,
    /// The facts not found.
    pub missing_facts: Vec<String>,
    /// Best BM25 score.
    pub best_bm25: f32,
    /// Sources ranked first by BM25 and by dense cosine.
    pub firsts: (Option<String>, Option<String>),
}

/// Fact matching: case-insensitive, Markdown emphasis and code marks ignored, runs of
/// white space as one space.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if matches!(c, '*' | '`') {
            continue;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// True when `source` (a corpus-relative path) is the gold file name `gold`.
fn same_source(source: &str, gold: &str) -> bool {
    source == gold || source.ends_with(&format!("/{gold}"))
}

fn p95(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64) * 0.95).ceil() as usize;
    v[i.saturating_sub(1).min(v.len() - 1)]
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// Answers every question and scores the answers.
pub fn evaluate(assistant: &Assistant, qa: &[QaItem]) -> Result<(Report, Vec<Outcome>), Error> {
    let mut outcomes = Vec::with_capacity(qa.len());
    let mut retrieval_ms = Vec::with_capacity(qa.len());
    let mut answer_ms = Vec::with_capacity(qa.len());
    for item in qa {
        let started = std::time::Instant::now();
        let (answer, retrieval) = assistant.ask_with_retrieval(&item.question)?;
        answer_ms.push(started.elapsed().as_secs_f64() * 1e3);
        retrieval_ms.push(retrieval.took.as_secs_f64() * 1e3);
        let chunks = assistant.index.chunks();
        let covered = !item.sources.is_empty();
        let gold_rank = retrieval
            .passages
            .iter()
            .take(10)
            .position(|p| {
                item.sources
                    .iter()
                    .any(|g| same_source(&chunks[p.chunk].source, g))
            })
            .map(|r| r + 1);
        let text = normalise(&answer.answer);
        let missing: Vec<String> = item
            .facts
            .iter()
            .filter(|f| answer.abstained || !text.contains(&normalise(f)))
            .cloned()
            .collect();
        outcomes.push(Outcome {
            id: item.id.clone(),
            covered,
            gold_rank,
            abstained: answer.abstained,
            cited: answer.citations.len(),
            confidence: retrieval.confidence,
            facts: (item.facts.len() - missing.len(), item.facts.len()),
            top5: retrieval
                .passages
                .iter()
                .take(5)
                .map(|p| chunks[p.chunk].source.clone())
                .collect(),
            missing_facts: missing,
            best_bm25: retrieval.best_bm25,
            firsts: (
                retrieval.firsts.0.map(|i| chunks[i].source.clone()),
                retrieval.firsts.1.map(|i| chunks[i].source.clone()),
            ),
        });
    }
    let covered: Vec<&Outcome> = outcomes.iter().filter(|o| o.covered).collect();
    let uncovered = outcomes.len() - covered.len();
    let hits = covered
        .iter()
        .filter(|o| o.gold_rank.is_some_and(|r| r <= 5))
        .count();
    let rr: f64 = covered
        .iter()
        .filter_map(|o| o.gold_rank.map(|r| 1.0 / r as f64))
        .sum();
    let abstained = outcomes.iter().filter(|o| o.abstained).count();
    let right_abstentions = outcomes
        .iter()
        .filter(|o| o.abstained && !o.covered)
        .count();
    let facts_found: usize = covered.iter().map(|o| o.facts.0).sum();
    let facts_total: usize = covered.iter().map(|o| o.facts.1).sum();
    let report = Report {
        questions: outcomes.len(),
        recall_at_5: ratio(hits, covered.len()),
        mrr: if covered.is_empty() {
            0.0
        } else {
            rr / covered.len() as f64
        },
        abstention_precision: ratio(right_abstentions, abstained),
        abstention_recall: ratio(right_abstentions, uncovered),
        answer_fact_recall: ratio(facts_found, facts_total),
        p95_retrieval_ms: p95(retrieval_ms),
        p95_answer_ms: p95(answer_ms),
        model: assistant.generator.model().map(str::to_string),
    };
    Ok((report, outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{AssistantIndex, Mode, Settings};

    #[test]
    fn fact_matching_ignores_case_emphasis_and_line_breaks() {
        assert!(normalise("**5 link changes\n in 30 s** puts")
            .contains(&normalise("5 Link changes in 30 s")));
        assert!(!normalise("within 6 s").contains(&normalise("within 5 s")));
    }

    #[test]
    fn p95_takes_the_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(p95(v), 19.0);
        assert_eq!(p95(vec![3.0]), 3.0);
    }

    #[test]
    fn a_bad_question_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qa.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"question\":\"q\",\"sources\":[]}\n{\"id\":1}\n",
        )
        .unwrap();
        let err = read_qa(&path).unwrap_err().to_string();
        assert!(err.contains("qa.jsonl:2"), "{err}");
    }

    #[test]
    fn the_report_scores_retrieval_abstention_and_facts() {
        let docs = vec![
            ("rain.md".to_string(), "# Rain fade\n\n## Procedure\n1. Do not power-cycle modem-vsat-1 in rain fade.\n".to_string()),
            ("disk.md".to_string(), "# Disk full\n\n## Procedure\n1. Never delete WAL segments; check pg_stat_archiver.\n".to_string()),
        ];
        let (index, _) = AssistantIndex::build(&docs, None, None).unwrap();
        let settings = Settings {
            mode: Mode::Bm25,
            abstain_below_bm25: 0.5,
            ..Settings::default()
        };
        let assistant = Assistant::extractive(index, settings);
        let qa = vec![
            QaItem {
                id: "1".into(),
                question: "Power-cycle the modem in rain fade?".into(),
                sources: vec!["rain.md".into()],
                facts: vec!["power-cycle modem-vsat-1".into(), "radar".into()],
            },
            QaItem {
                id: "2".into(),
                question: "Can I delete WAL segments?".into(),
                sources: vec!["disk.md".into()],
                facts: vec!["pg_stat_archiver".into()],
            },
            QaItem {
                id: "3".into(),
                question: "Re-encode the cabin key card".into(),
                sources: vec![],
                facts: vec![],
            },
        ];
        let (r, outcomes) = evaluate(&assistant, &qa).unwrap();
        assert_eq!(r.questions, 3);
        assert_eq!(r.recall_at_5, 1.0);
        assert_eq!(r.mrr, 1.0);
        assert_eq!((r.abstention_precision, r.abstention_recall), (1.0, 1.0));
        assert!((r.answer_fact_recall - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(outcomes[0].missing_facts, ["radar"]);
        assert!(r.model.is_none());
    }
}

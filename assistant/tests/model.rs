//! Tests that need the embedding model (installed by deploy/scripts/models.sh, or at
//! SEAWATCH_EMBEDDING_MODEL). Without it they say so and pass, except under CI=true, where
//! a missing model fails them.

use std::path::{Path, PathBuf};

use seawatch_assistant::embed::{dot, resolve_model_dir};
use seawatch_assistant::index::read_corpus;
use seawatch_assistant::{Assistant, AssistantIndex, Embedder, Settings};

fn model() -> Option<Embedder> {
    let dir = resolve_model_dir(None).filter(|d| d.join("model.safetensors").is_file());
    match dir {
        Some(dir) => Some(Embedder::load(&dir).expect("the installed model loads")),
        None => {
            let msg = "all-MiniLM-L6-v2 not installed (run deploy/scripts/models.sh)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            eprintln!("skipped: {msg}");
            None
        }
    }
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json")
}

/// The candle embedding equals an independent numpy implementation of the same model
/// (tests/fixtures/minilm_reference.py) for one sentence.
#[test]
fn candle_minilm_matches_the_numpy_reference() {
    let Some(e) = model() else { return };
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    let sentence = r["sentence"].as_str().unwrap();
    let reference: Vec<f32> = r["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(e.dim(), 384);
    let got = e.embed(&[sentence]).unwrap().pop().unwrap();
    assert_eq!(got.len(), reference.len());
    let norm = dot(&got, &got).sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    let cos = dot(&got, &reference) / dot(&reference, &reference).sqrt();
    assert!(cos >= 0.999, "cosine with the reference {cos}");
}

/// Padding a short text in a batch with a long one does not change its embedding, and
/// related sentences are closer than unrelated ones.
#[test]
fn batching_does_not_change_an_embedding_and_meaning_orders_similarity() {
    let Some(e) = model() else { return };
    let short = "The satellite modem lost lock.";
    let long = "Both Ku-band antennas fade together while heavy rain passes over the ship, \
                and the modem steps its MODCOD down one level at a time.";
    let alone = e.embed(&[short]).unwrap().pop().unwrap();
    let batch = e.embed(&[long, short]).unwrap();
    assert!(
        dot(&alone, &batch[1]) > 0.9999,
        "{}",
        dot(&alone, &batch[1])
    );
    let near = e
        .embed(&["The VSAT modem is no longer locked to the carrier."])
        .unwrap();
    let far = e
        .embed(&["The galley oven lost its recipe program."])
        .unwrap();
    assert!(dot(&alone, &near[0]) > dot(&alone, &far[0]) + 0.2);
}

fn shared_corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    dir.join("sops").is_dir().then_some(dir)
}

/// Over the SOP corpus and its dev questions: every non-abstained answer cites at least
/// one source, and every excerpt is verbatim in the cited file.
#[test]
fn every_cited_excerpt_on_the_sop_corpus_is_verbatim_in_its_file() {
    let Some(corpus) = shared_corpus() else {
        eprintln!("skipped: ../shared/corpus not present");
        return;
    };
    let Some(e) = model() else { return };
    let docs = read_corpus(&corpus.join("sops")).unwrap();
    let (index, stats) = AssistantIndex::build(&docs, Some(e), None).unwrap();
    assert_eq!(stats.documents, 24);
    let assistant = Assistant::extractive(index, Settings::default());
    let qa = seawatch_assistant::eval::read_qa(&corpus.join("qa-dev.jsonl")).unwrap();
    let mut answered = 0;
    for item in &qa {
        let a = assistant.ask(&item.question).unwrap();
        if a.abstained {
            assert!(a.citations.is_empty());
            continue;
        }
        answered += 1;
        assert!(!a.citations.is_empty(), "{}: uncited answer", item.id);
        for c in &a.citations {
            let text = &docs
                .iter()
                .find(|(s, _)| *s == c.source)
                .expect("cited file")
                .1;
            assert!(
                text.contains(&c.excerpt),
                "{}: {:?} not in {}",
                item.id,
                c.excerpt,
                c.source
            );
            assert!(a.answer.contains(&c.excerpt));
        }
    }
    assert!(answered >= 30, "only {answered} answered");
}

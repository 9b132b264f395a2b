//! `seawatch assistant index|ask|eval` (contracts §1, §8).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use seawatch_assistant::embed::{resolve_model_dir, Embedder};
use seawatch_assistant::eval::{evaluate, read_qa};
use seawatch_assistant::index::read_corpus;
use seawatch_assistant::{Assistant, AssistantIndex, Mode, Settings};

use crate::exit::EXIT_USAGE;

/// `seawatch assistant ...`
#[derive(Debug, Subcommand)]
pub enum AssistantCommand {
    /// Builds or rebuilds the assistant's index from a folder of Markdown documents.
    Index(IndexArgs),
    /// Answers one question with its citations.
    Ask(AskArgs),
    /// Answers every question of a JSONL file and writes the report of contracts §8.
    Eval(EvalArgs),
}

/// Where the model comes from (shared by the subcommands).
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Ship config file; its `[assistant] embedding_model` names the model folder.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Embedding model folder (all-MiniLM-L6-v2, installed by deploy/scripts/models.sh);
    /// wins over the config and SEAWATCH_EMBEDDING_MODEL.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

/// Which LLM writes the answers (`ask`, `eval`).
#[derive(Debug, Args)]
pub struct LlmArgs {
    /// GGUF model that writes the answers (needs seawatch built with `--features llm`);
    /// wins over the config's `[assistant] llm_model`. Without either: extractive answers.
    #[arg(long)]
    pub llm: Option<PathBuf>,
}

/// `seawatch assistant index` arguments.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Folder of Markdown documents (searched recursively for *.md).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Data directory; the index goes to DATA/assistant.
    #[arg(long, default_value = "./seawatch-data")]
    pub data: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `seawatch assistant ask` arguments.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// Data directory holding the index.
    #[arg(long, default_value = "./seawatch-data")]
    pub data: PathBuf,
    /// Print the answer as the JSON of `POST /api/assistant/ask`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
}

/// `seawatch assistant eval` arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Questions (JSONL); default ../shared/corpus/qa-dev.jsonl when present.
    #[arg(long)]
    pub qa: Option<PathBuf>,
    /// Corpus folder indexed for the eval; default ../shared/corpus/sops when present.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Write the report here (it is printed either way).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Ranking: hybrid (default), bm25 or dense (the baselines).
    #[arg(long, default_value = "hybrid")]
    pub retrieval: Mode,
    /// Print each question's outcome to stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Reuse the index in DATA/assistant (built by `assistant index` from the same
    /// corpus) instead of building one in memory.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Sentences or steps quoted per answer.
    #[arg(long, default_value_t = seawatch_assistant::Extractive::default().units)]
    pub answer_units: usize,
    /// Top sections they may come from.
    #[arg(long, default_value_t = seawatch_assistant::Extractive::default().passages)]
    pub answer_passages: usize,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
}

/// The model folder, if one is installed: `--model`, else SEAWATCH_EMBEDDING_MODEL, else
/// the config's `[assistant] embedding_model`, else the default cache.
fn model_dir(args: &ModelArgs) -> Result<Option<PathBuf>, String> {
    let configured = match &args.config {
        Some(path) => {
            crate::config::ShipConfig::load(path)
                .map_err(|e| e.to_string())?
                .assistant
                .embedding_model
        }
        None => None,
    };
    let dir = match &args.model {
        Some(m) => {
            if !m.join("model.safetensors").is_file() {
                return Err(format!(
                    "--model {}: no model.safetensors there (deploy/scripts/models.sh installs all-MiniLM-L6-v2)",
                    m.display()
                ));
            }
            Some(m.clone())
        }
        None => resolve_model_dir(configured.as_deref()),
    };
    Ok(dir.filter(|d| d.join("model.safetensors").is_file()))
}

/// The GGUF that writes answers: `--llm`, else the config's `[assistant] llm_model`.
fn llm_path(model: &ModelArgs, llm: &LlmArgs) -> Result<Option<PathBuf>, String> {
    if let Some(p) = &llm.llm {
        return Ok(Some(p.clone()));
    }
    match &model.config {
        Some(path) => Ok(crate::config::ShipConfig::load(path)
            .map_err(|e| e.to_string())?
            .assistant
            .llm_model),
        None => Ok(None),
    }
}

/// The LLM generator for `path`, quoting from the units `extractive` scores best.
#[cfg(feature = "llm")]
fn llm_generator(
    path: &Path,
    extractive: seawatch_assistant::Extractive,
) -> Result<Box<dyn seawatch_assistant::Generator>, String> {
    let mut g = seawatch_assistant::llm::LlamaGenerator::load(path).map_err(|e| e.to_string())?;
    g.extractive = extractive;
    Ok(Box::new(g))
}

#[cfg(not(feature = "llm"))]
fn llm_generator(
    path: &Path,
    _: seawatch_assistant::Extractive,
) -> Result<Box<dyn seawatch_assistant::Generator>, String> {
    Err(format!(
        "{}: this seawatch was built without the `llm` feature (cargo build --features llm)",
        path.display()
    ))
}

/// Puts the configured LLM, if any, in place of the extractive generator.
fn use_llm(
    what: &str,
    assistant: &mut Assistant,
    model: &ModelArgs,
    llm: &LlmArgs,
    extractive: seawatch_assistant::Extractive,
) -> Result<(), i32> {
    let path = match llm_path(model, llm) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(()),
        Err(e) => {
            eprintln!("seawatch assistant {what}: {e}");
            return Err(EXIT_USAGE);
        }
    };
    match llm_generator(&path, extractive) {
        Ok(g) => {
            assistant.generator = g;
            Ok(())
        }
        Err(e) => {
            eprintln!("seawatch assistant {what}: --llm {e}");
            Err(EXIT_USAGE)
        }
    }
}

fn load_model(what: &str, args: &ModelArgs) -> Result<Option<Embedder>, i32> {
    match model_dir(args) {
        Ok(Some(dir)) => match Embedder::load(&dir) {
            Ok(e) => Ok(Some(e)),
            Err(e) => {
                eprintln!("seawatch assistant {what}: {e}");
                Err(EXIT_USAGE)
            }
        },
        Ok(None) => {
            eprintln!(
                "seawatch assistant {what}: no embedding model installed (deploy/scripts/models.sh): BM25 only"
            );
            Ok(None)
        }
        Err(e) => {
            eprintln!("seawatch assistant {what}: {e}");
            Err(EXIT_USAGE)
        }
    }
}

/// Runs one `assistant` subcommand; returns the exit status.
pub fn run(cmd: AssistantCommand) -> i32 {
    match cmd {
        AssistantCommand::Index(a) => index(a),
        AssistantCommand::Ask(a) => ask(a),
        AssistantCommand::Eval(a) => eval(a),
    }
}

fn index(a: IndexArgs) -> i32 {
    let docs = match read_corpus(&a.corpus) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("seawatch assistant index: --corpus {e}");
            return EXIT_USAGE;
        }
    };
    let embedder = match load_model("index", &a.model) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if let Err(e) = std::fs::create_dir_all(&a.data) {
        eprintln!("seawatch assistant index: --data {}: {e}", a.data.display());
        return EXIT_USAGE;
    }
    match AssistantIndex::build(&docs, embedder, Some(&a.data)) {
        Ok((index, stats)) => {
            println!(
                "indexed {} documents, {} sections, {} sentences/steps in {} ms ({}) into {}",
                stats.documents,
                stats.chunks,
                stats.units,
                stats.took_ms,
                index.model().unwrap_or("BM25 only"),
                seawatch_assistant::index::index_dir(&a.data).display()
            );
            0
        }
        Err(e) => {
            eprintln!("seawatch assistant index: {e}");
            1
        }
    }
}

fn ask(a: AskArgs) -> i32 {
    let dir = match model_dir(&a.model) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("seawatch assistant ask: {e}");
            return EXIT_USAGE;
        }
    };
    let mut assistant = match seawatch_assistant::api::open(&a.data, dir.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("seawatch assistant ask: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(code) = use_llm(
        "ask",
        &mut assistant,
        &a.model,
        &a.llm,
        seawatch_assistant::Extractive::default(),
    ) {
        return code;
    }
    let answer = match assistant.ask(&a.question) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("seawatch assistant ask: {e}");
            return EXIT_USAGE;
        }
    };
    if a.json {
        match serde_json::to_string_pretty(&answer) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("seawatch assistant ask: {e}");
                return 1;
            }
        }
        return 0;
    }
    println!("{}", answer.answer);
    if !answer.citations.is_empty() {
        println!();
        for (i, c) in answer.citations.iter().enumerate() {
            println!("[{}] {} ({})", i + 1, c.title, c.source);
        }
    }
    println!("({} ms)", answer.took_ms);
    0
}

fn default_path(flag: &Option<PathBuf>, fallback: &str, what: &str) -> Result<PathBuf, String> {
    match flag {
        Some(p) => Ok(p.clone()),
        None if Path::new(fallback).exists() => Ok(PathBuf::from(fallback)),
        None => Err(format!("{what} is required ({fallback} is not here)")),
    }
}

fn eval(a: EvalArgs) -> i32 {
    let paths = default_path(&a.qa, "../shared/corpus/qa-dev.jsonl", "--qa FILE").and_then(|qa| {
        default_path(&a.corpus, "../shared/corpus/sops", "--corpus DIR").map(|c| (qa, c))
    });
    let (qa_path, corpus) = match paths {
        Ok(p) => p,
        Err(e) => {
            eprintln!("seawatch assistant eval: {e}");
            return EXIT_USAGE;
        }
    };
    let qa = match read_qa(&qa_path) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("seawatch assistant eval: {e}");
            return EXIT_USAGE;
        }
    };
    let docs = match read_corpus(&corpus) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("seawatch assistant eval: --corpus {e}");
            return EXIT_USAGE;
        }
    };
    let embedder = if a.retrieval == Mode::Bm25 {
        None
    } else {
        match load_model("eval", &a.model) {
            Ok(Some(e)) => Some(e),
            Ok(None) => {
                eprintln!(
                    "seawatch assistant eval: --retrieval {:?} needs the embedding model",
                    a.retrieval
                );
                return EXIT_USAGE;
            }
            Err(code) => return code,
        }
    };
    let started = Instant::now();
    let built = match &a.data {
        Some(data)
            if seawatch_assistant::index::index_dir(data)
                .join("meta.json")
                .is_file() =>
        {
            AssistantIndex::open(data, embedder).map(|i| {
                let s = seawatch_assistant::BuildStats {
                    documents: docs.len(),
                    chunks: i.chunks().len(),
                    units: i.chunks().iter().map(|c| c.units.len()).sum(),
                    took_ms: 0,
                };
                (i, s)
            })
        }
        data => AssistantIndex::build(&docs, embedder, data.as_deref()),
    };
    let (index, stats) = match built {
        Ok(x) => x,
        Err(e) => {
            eprintln!("seawatch assistant eval: {e}");
            return 1;
        }
    };
    let build_ms = started.elapsed().as_millis();
    let settings = Settings {
        mode: a.retrieval,
        ..Settings::default()
    };
    let mut assistant = Assistant::extractive(index, settings);
    let extractive = seawatch_assistant::Extractive {
        units: a.answer_units.max(1),
        passages: a.answer_passages.max(1),
        ..seawatch_assistant::Extractive::default()
    };
    assistant.generator = Box::new(extractive);
    if let Err(code) = use_llm("eval", &mut assistant, &a.model, &a.llm, extractive) {
        return code;
    }
    let (report, outcomes) = match evaluate(&assistant, &qa) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("seawatch assistant eval: {e}");
            return 1;
        }
    };
    if a.verbose {
        for o in &outcomes {
            eprintln!(
                "{} covered={} rank={:?} abstained={} cited={} conf={:.3} bm25={:.2} firsts={:?} facts={}/{} missing={:?} top5={:?}",
                o.id,
                o.covered,
                o.gold_rank,
                o.abstained,
                o.cited,
                o.confidence,
                o.best_bm25,
                o.firsts,
                o.facts.0,
                o.facts.1,
                o.missing_facts,
                o.top5
            );
        }
    }
    let covered = outcomes.iter().filter(|o| o.covered).count();
    let covered_abstained = outcomes.iter().filter(|o| o.covered && o.abstained).count();
    let uncited = outcomes
        .iter()
        .filter(|o| !o.abstained && o.cited == 0)
        .count();
    eprintln!(
        "index: {} documents, {} sections, {} units built in {build_ms} ms; covered questions abstained: {covered_abstained}/{covered}; uncited answers: {uncited}; retrieval {:?}",
        stats.documents, stats.chunks, stats.units, a.retrieval
    );
    let json = match serde_json::to_string_pretty(&report) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("seawatch assistant eval: {e}");
            return 1;
        }
    };
    if let Some(path) = &a.report {
        if let Err(e) = crate::cli::write_atomically(path, json.as_bytes()) {
            eprintln!(
                "seawatch assistant eval: cannot write {}: {e}",
                path.display()
            );
            return 1;
        }
    }
    println!("{json}");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_llm_flag_wins_over_the_config_and_the_config_names_one() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("ship.toml");
        // every other key has its default
        std::fs::write(
            &cfg,
            "[assistant]\nllm_model = \"/models/from-config.gguf\"\n",
        )
        .unwrap();
        let model = ModelArgs {
            config: Some(cfg),
            model: None,
        };
        let none = LlmArgs { llm: None };
        assert_eq!(
            llm_path(&model, &none).unwrap(),
            Some(PathBuf::from("/models/from-config.gguf"))
        );
        let flag = LlmArgs {
            llm: Some(PathBuf::from("/models/flag.gguf")),
        };
        assert_eq!(
            llm_path(&model, &flag).unwrap(),
            Some(PathBuf::from("/models/flag.gguf"))
        );
    }

    #[cfg(not(feature = "llm"))]
    #[test]
    fn an_llm_without_the_feature_is_a_clear_error() {
        let err = llm_generator(
            Path::new("/models/x.gguf"),
            seawatch_assistant::Extractive::default(),
        )
        .err()
        .unwrap();
        assert!(err.contains("built without the `llm` feature"), "{err}");
    }

    #[cfg(feature = "llm")]
    #[test]
    fn a_missing_gguf_is_a_clear_error() {
        let err = llm_generator(
            Path::new("/nonexistent/x.gguf"),
            seawatch_assistant::Extractive::default(),
        )
        .err()
        .unwrap();
        assert!(
            err.contains("no GGUF model at /nonexistent/x.gguf"),
            "{err}"
        );
    }
}

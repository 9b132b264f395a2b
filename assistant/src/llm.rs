//! Answers written by a local LLM under a grammar (decision 0056).
//!
//! The model never answers from memory: it is shown the question and the best quotable
//! units of the retrieved sections, numbered, and its output is constrained by a GBNF
//! grammar made from a JSON schema, `{"answer": string, "cite": [unit numbers]}`, where
//! the numbers can only be those of the units shown. The answer is the model's short
//! restatement followed by the cited units **verbatim**, in the order the model cites them,
//! and the citations' excerpts are those units: every citation passes
//! [`crate::Assistant`]'s verbatim guard by construction, and a reply that cannot be read
//! yields no citation, hence an abstention.
//!
//! Everything here but [`LlamaGenerator`] (cargo feature `llm`, llama.cpp through
//! llama-cpp-2) needs no model: candidate selection, prompt, schema, parsing, composition.

use std::path::PathBuf;

use serde::Deserialize;

use crate::answer::{Answer, Citation, Extractive};
use crate::index::{AssistantIndex, Retrieval};
use crate::Error;

#[cfg(feature = "llm")]
pub use llama::{grammar, LlamaGenerator};

/// Where `deploy/scripts/models.sh llm` installs SmolLM2-135M-Instruct:
/// `$HOME/.cache/seawatch-models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn default_model_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| {
        PathBuf::from(h)
            .join(".cache/seawatch-models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    })
}

/// The GGUF to use in tests and tools: `SEAWATCH_LLM_MODEL` when set, else
/// [`default_model_path`].
pub fn resolve_model_path() -> Option<PathBuf> {
    std::env::var_os("SEAWATCH_LLM_MODEL")
        .map(PathBuf::from)
        .or_else(default_model_path)
}

/// How an LLM-written answer is asked for (the model itself comes from the config).
#[derive(Debug, Clone, Copy)]
pub struct LlmSettings {
    /// Units offered to the model, numbered 1..=N (the best by the extractive scoring).
    pub candidates: usize,
    /// Fewest units the model must cite (the grammar's `minItems`, at most the units
    /// offered). 5 by default: left to choose, SmolLM2-135M cites only unit 1 (fact recall
    /// 0.119 on the dev questions against 0.476 with five, decision 0056).
    pub min_cites: usize,
    /// Most units the model may cite.
    pub max_cites: usize,
    /// Longest restatement, characters (bounded by the grammar); 0: the grammar forces
    /// `"answer": ""` and the answer is the cited units alone (the default: SmolLM2-135M's
    /// restatements repeat themselves, e.g. "10 min, 2 min, 3 min, ...", decision 0056).
    pub answer_chars: usize,
    /// Most tokens generated.
    pub max_tokens: usize,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            candidates: 10,
            min_cites: 5,
            max_cites: 5,
            answer_chars: 0,
            max_tokens: 200,
        }
    }
}

/// One unit shown to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The number the model cites it by (1-based).
    pub id: usize,
    /// Rank of its section among the retrieved ones.
    pub rank: usize,
    /// Index of its section in the index's chunks.
    pub chunk: usize,
    /// Index of the unit in its section.
    pub unit: usize,
}

/// The best `n` units by the extractive scoring (always one from the best section),
/// numbered in reading order: sections by rank, units in document order.
pub fn candidates(
    extractive: &Extractive,
    n: usize,
    question: &str,
    index: &AssistantIndex,
    retrieval: &Retrieval,
) -> Vec<Candidate> {
    extractive
        .best_units(n, question, index, retrieval)
        .into_iter()
        .enumerate()
        .map(|(i, (rank, unit))| Candidate {
            id: i + 1,
            rank,
            chunk: retrieval.passages[rank].chunk,
            unit,
        })
        .collect()
}

/// The system message: answer only from the numbered excerpts, as JSON.
pub const SYSTEM: &str = "You help a cruise ship's network officer. Answer the question using \
ONLY the numbered excerpts from the ship's own procedures. Reply in JSON: \"answer\" is one or \
two short sentences that copy the excerpts' own words, numbers and commands; \"cite\" lists the \
numbers of the excerpts that answer the question, most useful first. Never add anything that \
is not in the excerpts.";

/// The user message: the numbered excerpts with their section, then the question.
pub fn user_message(question: &str, index: &AssistantIndex, cands: &[Candidate]) -> String {
    let chunks = index.chunks();
    let mut s = String::from("Excerpts:\n");
    for c in cands {
        let chunk = &chunks[c.chunk];
        s.push_str(&format!(
            "[{}] ({}) {}\n",
            c.id,
            chunk.heading_path(),
            one_line(&chunk.units[c.unit])
        ));
    }
    s.push_str(&format!("\nQuestion: {}\n", one_line(question)));
    s
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// ChatML, the prompt format used when the model carries no chat template of its own.
pub fn chatml(system: &str, user: &str) -> String {
    format!(
        "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
}

/// The JSON schema of a reply when `n` units are offered: a bounded string and 1 to
/// `max_cites` unit numbers, each one of 1..=n.
pub fn answer_schema(n: usize, settings: &LlmSettings) -> serde_json::Value {
    let ids: Vec<usize> = (1..=n.max(1)).collect();
    serde_json::json!({
        "type": "object",
        "properties": {
            "answer": { "type": "string", "maxLength": settings.answer_chars },
            "cite": {
                "type": "array",
                "items": { "type": "integer", "enum": ids },
                "minItems": settings.min_cites.clamp(1, n.max(1)),
                "maxItems": settings.max_cites.max(settings.min_cites).max(1)
            }
        },
        "required": ["answer", "cite"],
        "additionalProperties": false
    })
}

/// What the model replied.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reply {
    /// Its restatement.
    pub answer: String,
    /// Cited unit numbers, in its order.
    pub cite: Vec<usize>,
}

/// Reads a reply; unit numbers outside 1..=n and repeats are dropped. An error when the
/// text is not the JSON of the schema or no number is left.
pub fn parse_reply(text: &str, n: usize) -> Result<Reply, Error> {
    let mut r: Reply = serde_json::from_str(text.trim())
        .map_err(|e| Error::Generation(format!("reply is not the answer JSON ({e}): {text}")))?;
    let mut seen = Vec::new();
    r.cite.retain(|&id| {
        let ok = (1..=n).contains(&id) && !seen.contains(&id);
        seen.push(id);
        ok
    });
    if r.cite.is_empty() {
        return Err(Error::Generation(format!(
            "reply cites no offered unit: {text}"
        )));
    }
    r.answer = one_line(&r.answer);
    Ok(r)
}

/// The answer: the model's restatement, then the cited units verbatim under their
/// section's heading, in the model's order; each unit is a citation.
pub fn compose(reply: &Reply, cands: &[Candidate], index: &AssistantIndex) -> Answer {
    let chunks = index.chunks();
    let mut answer = String::new();
    if !reply.answer.is_empty() {
        answer.push_str(&reply.answer);
        answer.push('\n');
    }
    let mut citations: Vec<Citation> = Vec::new();
    let mut last_section = None;
    for id in &reply.cite {
        let Some(c) = cands.iter().find(|c| c.id == *id) else {
            continue;
        };
        let chunk = &chunks[c.chunk];
        if last_section != Some(c.chunk) {
            answer.push_str(&chunk.heading_path());
            answer.push_str(":\n");
            last_section = Some(c.chunk);
        }
        let excerpt = &chunk.units[c.unit];
        let n = citations.len() + 1;
        answer.push_str(&format!("- {excerpt} [{n}]\n"));
        citations.push(Citation {
            source: chunk.source.clone(),
            title: chunk.title.clone(),
            section: chunk.heading_path(),
            excerpt: excerpt.clone(),
        });
    }
    Answer {
        answer: answer.trim_end().to_string(),
        citations,
        abstained: false,
        took_ms: 0,
    }
}

#[cfg(feature = "llm")]
mod llama {
    use std::num::NonZeroU32;
    use std::path::Path;
    use std::sync::OnceLock;

    use llama_cpp_2::context::params::LlamaContextParams;
    use llama_cpp_2::llama_backend::LlamaBackend;
    use llama_cpp_2::llama_batch::LlamaBatch;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
    use llama_cpp_2::sampling::LlamaSampler;
    use llama_cpp_2::token::data::LlamaTokenData;
    use llama_cpp_2::token::data_array::LlamaTokenDataArray;

    /// Tokens checked one by one against the grammar before the whole vocabulary is.
    const TOP_K: usize = 64;

    use super::*;
    use crate::answer::Generator;

    /// llama.cpp's backend: initialised once per process, its logs silenced.
    fn backend() -> Result<&'static LlamaBackend, Error> {
        static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
        BACKEND
            .get_or_init(|| {
                let mut b = LlamaBackend::init().map_err(|e| e.to_string())?;
                b.void_logs();
                Ok(b)
            })
            .as_ref()
            .map_err(|e| Error::Generation(format!("llama.cpp backend: {e}")))
    }

    /// A GGUF model run by llama.cpp on the CPU: picks and orders the units it cites under
    /// the grammar of [`answer_schema`], greedy decoding (deterministic), bounded tokens,
    /// one thread per available core.
    pub struct LlamaGenerator {
        model: LlamaModel,
        name: String,
        template: Option<LlamaChatTemplate>,
        threads: i32,
        /// Scoring of the units offered.
        pub extractive: Extractive,
        /// Prompt and output bounds.
        pub settings: LlmSettings,
    }

    impl std::fmt::Debug for LlamaGenerator {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("LlamaGenerator")
                .field("name", &self.name)
                .field("chat_template", &self.template.is_some())
                .field("threads", &self.threads)
                .finish()
        }
    }

    impl LlamaGenerator {
        /// Loads a GGUF file. Its chat template (GGUF metadata) formats the prompt when it
        /// has one llama.cpp knows, else ChatML. Threads: one per available core, or
        /// `SEAWATCH_LLM_THREADS` (on a machine busy with other work one thread can be
        /// faster: llama.cpp's threads wait for each other at every layer).
        /// `SEAWATCH_LLM_TRACE` prints each prompt's size, time and raw reply to stderr.
        pub fn load(path: &Path) -> Result<Self, Error> {
            if !path.is_file() {
                return Err(Error::Generation(format!(
                    "no GGUF model at {} (deploy/scripts/models.sh llm installs SmolLM2-135M-Instruct)",
                    path.display()
                )));
            }
            let backend = backend()?;
            let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
                .map_err(|e| Error::Generation(format!("{}: {e}", path.display())))?;
            let name = model
                .meta_val_str("general.name")
                .ok()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| {
                    path.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "gguf".into())
                });
            let template = model.chat_template(None).ok();
            let threads = std::env::var("SEAWATCH_LLM_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &i32| n > 0)
                .unwrap_or_else(|| {
                    std::thread::available_parallelism()
                        .map(|n| n.get() as i32)
                        .unwrap_or(1)
                });
            let mut g = Self {
                model,
                name,
                template,
                threads,
                extractive: Extractive::default(),
                settings: LlmSettings::default(),
            };
            // a template llama.cpp cannot apply is dropped for ChatML
            if g.template.is_some() && g.templated("s", "u").is_none() {
                g.template = None;
            }
            Ok(g)
        }

        /// True when the prompt comes from the model's own chat template.
        pub fn has_chat_template(&self) -> bool {
            self.template.is_some()
        }

        fn templated(&self, system: &str, user: &str) -> Option<String> {
            let t = self.template.as_ref()?;
            let msgs = vec![
                LlamaChatMessage::new("system".into(), system.into()).ok()?,
                LlamaChatMessage::new("user".into(), user.into()).ok()?,
            ];
            self.model.apply_chat_template(t, &msgs, true).ok()
        }

        /// The model's name (GGUF `general.name`, else the file name).
        pub fn name(&self) -> &str {
            &self.name
        }

        /// The full prompt for a system and a user message.
        pub fn prompt(&self, system: &str, user: &str) -> String {
            self.templated(system, user)
                .unwrap_or_else(|| chatml(system, user))
        }

        /// Generates from `prompt` under the GBNF `grammar` (root rule `root`), greedy,
        /// at most `max_tokens` tokens.
        pub fn complete(
            &self,
            prompt: &str,
            grammar: &str,
            max_tokens: usize,
        ) -> Result<String, Error> {
            let gen = |e: &dyn std::fmt::Display| Error::Generation(e.to_string());
            let t0 = std::time::Instant::now();
            let backend = backend()?;
            let vocab = self.model.vocab();
            let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
            let n_ctx = (tokens.len() + max_tokens + 8) as u32;
            let train = self.model.n_ctx_train();
            if train > 0 && n_ctx > train {
                return Err(Error::Generation(format!(
                    "prompt of {} tokens + {max_tokens} to generate exceeds the model's context of {train}",
                    tokens.len()
                )));
            }
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(n_ctx))
                .with_n_batch(n_ctx)
                .with_n_ubatch(n_ctx.min(512))
                .with_n_threads(self.threads)
                .with_n_threads_batch(self.threads);
            let mut ctx = self
                .model
                .new_context(backend, params)
                .map_err(|e| gen(&e))?;
            let mut batch = LlamaBatch::new(n_ctx as usize, 1);
            let last = tokens.len().saturating_sub(1);
            for (i, t) in tokens.iter().enumerate() {
                batch
                    .add(*t, i as i32, &[0], i == last)
                    .map_err(|e| gen(&e))?;
            }
            ctx.decode(&mut batch).map_err(|e| gen(&e))?;
            let t_prompt = t0.elapsed();
            let mut grammar =
                LlamaSampler::grammar(&self.model, grammar, "root").map_err(|e| gen(&e))?;
            let mut out: Vec<u8> = Vec::new();
            let mut idx = batch.n_tokens() - 1;
            for pos in (tokens.len() as i32..).take(max_tokens) {
                // Greedy under the grammar. Checking the grammar over the whole vocabulary
                // is slow, so the best tokens are checked one by one, best first, and the
                // whole vocabulary is filtered only when the grammar rejects all of them:
                // either way the token is the best one the grammar allows.
                let mut all = ctx.token_data_array_ith(idx);
                let k = TOP_K.min(all.data.len());
                if k == 0 {
                    return Err(Error::Generation("no logits".into()));
                }
                let by_logit =
                    |a: &LlamaTokenData, b: &LlamaTokenData| b.logit().total_cmp(&a.logit());
                all.data.select_nth_unstable_by(k - 1, by_logit);
                all.data[..k].sort_by(by_logit);
                let mut tok = None;
                for d in &all.data[..k] {
                    let mut one = LlamaTokenDataArray::new(vec![*d], false);
                    one.apply_sampler(&mut grammar);
                    if one.data[0].logit().is_finite() {
                        tok = Some(d.id());
                        break;
                    }
                }
                let tok = match tok {
                    Some(t) => t,
                    None => {
                        all.apply_sampler(&mut grammar);
                        all.data
                            .iter()
                            .filter(|d| d.logit().is_finite())
                            .max_by(|a, b| a.logit().total_cmp(&b.logit()))
                            .map(|d| d.id())
                            .ok_or_else(|| {
                                Error::Generation("the grammar allows no token".into())
                            })?
                    }
                };
                grammar.accept(tok);
                if vocab.is_eog(tok) {
                    break;
                }
                out.extend(vocab.token_to_piece(tok, false, None));
                batch.clear();
                batch.add(tok, pos, &[0], true).map_err(|e| gen(&e))?;
                idx = 0;
                ctx.decode(&mut batch).map_err(|e| gen(&e))?;
            }
            if std::env::var_os("SEAWATCH_LLM_TRACE").is_some() {
                eprintln!(
                    "llm: prompt {} tokens read in {t_prompt:?}, {} bytes generated, {:?} in all: {}",
                    tokens.len(),
                    out.len(),
                    t0.elapsed(),
                    String::from_utf8_lossy(&out)
                );
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }

    /// The GBNF grammar of [`answer_schema`], by llama.cpp's own converter.
    pub fn grammar(n: usize, settings: &LlmSettings) -> Result<String, Error> {
        llama_cpp_2::json_schema_to_grammar(&answer_schema(n, settings).to_string())
            .map_err(|e| Error::Generation(format!("answer grammar: {e}")))
    }

    impl Generator for LlamaGenerator {
        fn model(&self) -> Option<&str> {
            Some(&self.name)
        }

        fn answer(
            &self,
            question: &str,
            index: &AssistantIndex,
            retrieval: &Retrieval,
        ) -> Result<Answer, Error> {
            let cands = candidates(
                &self.extractive,
                self.settings.candidates,
                question,
                index,
                retrieval,
            );
            if cands.is_empty() {
                return Ok(compose(
                    &Reply {
                        answer: String::new(),
                        cite: Vec::new(),
                    },
                    &cands,
                    index,
                ));
            }
            let prompt = self.prompt(SYSTEM, &user_message(question, index, &cands));
            let gbnf = grammar(cands.len(), &self.settings)?;
            let text = self.complete(&prompt, &gbnf, self.settings.max_tokens)?;
            // A reply cut off by the token bound or otherwise unreadable cites nothing:
            // the assistant turns that into an abstention rather than guess.
            let reply = parse_reply(&text, cands.len()).unwrap_or(Reply {
                answer: String::new(),
                cite: Vec::new(),
            });
            Ok(compose(&reply, &cands, index))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_grammar_admits_only_the_offered_unit_numbers() {
            let g = grammar(3, &LlmSettings::default()).unwrap();
            assert!(g.contains("root ::="), "{g}");
            assert!(g.contains("answer") && g.contains("cite"), "{g}");
            for id in ["\"1\"", "\"2\"", "\"3\""] {
                assert!(g.contains(id), "{id} missing from {g}");
            }
            assert!(!g.contains("\"4\""), "{g}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Mode, Settings};

    fn index() -> AssistantIndex {
        let docs = vec![(
            "rain.md".to_string(),
            "# Rain fade\n\n## Procedure\n1. Do not power-cycle modem-vsat-1 during rain fade.\n\
             2. Confirm rain with the bridge radar.\n3. Wait 10 min before failover.\n"
                .to_string(),
        )];
        AssistantIndex::build(&docs, None, None).unwrap().0
    }

    fn retrieval(index: &AssistantIndex, q: &str) -> Retrieval {
        let settings = Settings {
            mode: Mode::Bm25,
            ..Settings::default()
        };
        index.retrieve(q, &settings).unwrap()
    }

    #[test]
    fn the_prompt_numbers_the_units_with_their_section_and_ends_with_the_question() {
        let ix = index();
        let q = "Should I power-cycle the modem in rain fade?";
        let cands = candidates(&Extractive::default(), 2, q, &ix, &retrieval(&ix, q));
        assert_eq!(cands.len(), 2);
        assert_eq!(cands.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 2]);
        let u = user_message(q, &ix, &cands);
        assert!(
            u.contains("[1] (Rain fade > Procedure) 1. Do not power-cycle modem-vsat-1"),
            "{u}"
        );
        assert!(u.trim_end().ends_with(q), "{u}");
        let p = chatml(SYSTEM, &u);
        assert!(p.starts_with("<|im_start|>system\n"));
        assert!(p.ends_with("<|im_start|>assistant\n"));
    }

    #[test]
    fn the_schema_bounds_the_answer_and_enumerates_the_unit_numbers() {
        let s = answer_schema(3, &LlmSettings::default());
        assert_eq!(
            s["properties"]["cite"]["items"]["enum"],
            serde_json::json!([1, 2, 3])
        );
        // at least five, but never more than are offered
        assert_eq!(s["properties"]["cite"]["minItems"], 3);
        assert_eq!(s["properties"]["cite"]["maxItems"], 5);
        let one = LlmSettings {
            min_cites: 1,
            ..LlmSettings::default()
        };
        assert_eq!(answer_schema(3, &one)["properties"]["cite"]["minItems"], 1);
        assert_eq!(s["properties"]["answer"]["maxLength"], 0);
        assert_eq!(s["required"], serde_json::json!(["answer", "cite"]));
    }

    #[test]
    fn a_reply_is_read_with_unknown_and_repeated_numbers_dropped() {
        let r = parse_reply(
            r#" {"answer": "Do not  power-cycle.", "cite": [2, 9, 2, 1]} "#,
            3,
        )
        .unwrap();
        assert_eq!(r.answer, "Do not power-cycle.");
        assert_eq!(r.cite, vec![2, 1]);
        assert!(parse_reply(r#"{"answer": "x", "cite": [7]}"#, 3).is_err());
        assert!(parse_reply(r#"{"answer": "cut off"#, 3).is_err());
        assert!(parse_reply("", 3).is_err());
    }

    #[test]
    fn the_composed_answer_quotes_the_cited_units_verbatim_in_the_models_order() {
        let ix = index();
        let q = "Should I power-cycle the modem in rain fade?";
        let cands = candidates(&Extractive::default(), 3, q, &ix, &retrieval(&ix, q));
        let reply = Reply {
            answer: "Leave the modem on.".into(),
            cite: vec![3, 1],
        };
        let a = compose(&reply, &cands, &ix);
        assert_eq!(a.citations.len(), 2);
        let chunk = &ix.chunks()[cands[2].chunk];
        assert_eq!(a.citations[0].excerpt, chunk.units[cands[2].unit]);
        assert_eq!(a.citations[1].excerpt, chunk.units[cands[0].unit]);
        assert!(a
            .answer
            .starts_with("Leave the modem on.\nRain fade > Procedure:\n- "));
        for c in &a.citations {
            assert!(chunk.text.contains(&c.excerpt));
            assert!(a.answer.contains(&c.excerpt));
        }
        assert!(!a.abstained);
    }

    /// A generator that composes from a fixed reply: the assistant keeps its citations
    /// (they pass the verbatim guard), and a reply citing nothing becomes an abstention.
    struct Fixed(Vec<usize>);
    impl crate::Generator for Fixed {
        fn model(&self) -> Option<&str> {
            Some("fixed")
        }
        fn answer(
            &self,
            question: &str,
            index: &AssistantIndex,
            retrieval: &Retrieval,
        ) -> Result<Answer, Error> {
            let cands = candidates(&Extractive::default(), 3, question, index, retrieval);
            let reply = Reply {
                answer: "From the SOP.".into(),
                cite: self.0.clone(),
            };
            Ok(compose(&reply, &cands, index))
        }
    }

    #[test]
    fn composed_citations_pass_the_verbatim_guard_and_no_citation_abstains() {
        let settings = Settings {
            mode: Mode::Bm25,
            abstain_below_bm25: 0.5,
            ..Settings::default()
        };
        let mut a = crate::Assistant::extractive(index(), settings);
        a.generator = Box::new(Fixed(vec![2]));
        let ans = a
            .ask("Should I power-cycle the modem in rain fade?")
            .unwrap();
        assert!(!ans.abstained, "{ans:?}");
        assert_eq!(ans.citations.len(), 1);
        a.generator = Box::new(Fixed(vec![]));
        let ans = a
            .ask("Should I power-cycle the modem in rain fade?")
            .unwrap();
        assert!(ans.abstained);
    }
}

//! Sentence embeddings with all-MiniLM-L6-v2 run by candle on the CPU: BERT from
//! `model.safetensors`, WordPiece from `tokenizer.json`, mean pooling over the attention
//! mask, L2 normalisation (what sentence-transformers does for this model).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::Error;

/// Where `deploy/scripts/models.sh` installs the model: `$HOME/.cache/seawatch-models/all-MiniLM-L6-v2`.
pub fn default_model_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/seawatch-models/all-MiniLM-L6-v2"))
}

/// The model folder to use: `SEAWATCH_EMBEDDING_MODEL` when set, else the given config
/// value, else [`default_model_dir`].
pub fn resolve_model_dir(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(env) = std::env::var_os("SEAWATCH_EMBEDDING_MODEL") {
        return Some(PathBuf::from(env));
    }
    configured.map(Path::to_path_buf).or_else(default_model_dir)
}

/// A loaded sentence-embedding model.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    name: String,
}

const BATCH: usize = 32;

fn read(dir: &Path, file: &str) -> Result<String, Error> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir` (the
    /// sentence-transformers folder layout); `sentence_bert_config.json`'s
    /// `max_seq_length` (default 256) bounds the tokens per text.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let config: Config = serde_json::from_str(&read(dir, "config.json")?)
            .map_err(|e| Error::Model(format!("{}/config.json: {e}", dir.display())))?;
        let max_len = read(dir, "sentence_bert_config.json")
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
            .unwrap_or(256) as usize;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| Error::Model(format!("{}: {e}", tok_path.display())))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| Error::Model(format!("tokenizer truncation: {e}")))?;
        let device = Device::Cpu;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(Error::Model(format!("{}: no such file", weights.display())));
        }
        // SAFETY: the weights file is memory-mapped read-only; it is a model file installed
        // by deploy/scripts/models.sh and nothing in this process writes to it.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| Error::Model(format!("{}: {e}", weights.display())))?;
        let dim = config.hidden_size;
        let model = BertModel::load(vb, &config)
            .map_err(|e| Error::Model(format!("{}: {e}", weights.display())))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "embedding-model".into());
        Ok(Self {
            model,
            tokenizer,
            device,
            dim,
            name,
        })
    }

    /// Width of an embedding (384 for MiniLM-L6).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model's folder name, e.g. `all-MiniLM-L6-v2`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One unit-length embedding per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        // batches of similar length waste little on padding
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let group: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            for (&i, v) in batch.iter().zip(self.embed_batch(&group)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Model(format!("tokenize: {e}")))?;
        let n = enc.len();
        let len = enc.first().map_or(0, |e| e.len());
        if n == 0 || len == 0 {
            return Ok(vec![vec![0.0; self.dim]; n]);
        }
        let mut ids = Vec::with_capacity(n * len);
        let mut types = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &enc {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let m = |e: candle_core::Error| Error::Model(format!("embedding: {e}"));
        let ids = Tensor::from_vec(ids, (n, len), &self.device).map_err(m)?;
        let types = Tensor::from_vec(types, (n, len), &self.device).map_err(m)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device).map_err(m)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask)).map_err(m)?;
        // mean over the real tokens, then unit length
        let maskf = mask
            .to_dtype(DType::F32)
            .map_err(m)?
            .unsqueeze(2)
            .map_err(m)?;
        let summed = hidden.broadcast_mul(&maskf).map_err(m)?.sum(1).map_err(m)?;
        let counts = maskf.sum(1).map_err(m)?.clamp(1e-9, f64::MAX).map_err(m)?;
        let mean = summed.broadcast_div(&counts).map_err(m)?;
        let rows: Vec<Vec<f32>> = mean.to_vec2().map_err(m)?;
        Ok(rows.into_iter().map(normalise).collect())
    }
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in &mut v {
        *x /= norm;
    }
    v
}

/// Dot product (the cosine of two unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

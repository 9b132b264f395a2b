//! `POST /api/assistant/ask` `{"question","ship"?}`, `GET /api/assistant/status` and
//! `GET /api/assistant/section?source=&section=` (contracts §2, §8). The node mounts
//! [`routes`] behind its viewer role. The index is opened from the data folder at the
//! first question, and again when its `meta.json` changed (an index built or rebuilt
//! later is picked up); documents added through [`AssistantHandle::append`] are
//! searchable at once. An answer runs on a blocking thread for the length of the request.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::{Mutex, RwLock};
use serde::Deserialize;

use crate::embed::{resolve_model_dir, Embedder};
use crate::index::index_dir;
use crate::{AppendStats, Assistant, AssistantIndex, Error, NewDocument, Settings};

/// The loaded assistant and the `meta.json` it was loaded from.
struct Loaded {
    assistant: Arc<RwLock<Assistant>>,
    meta: Vec<u8>,
}

/// Where the node's assistant comes from: its data folder and embedding model folder.
/// Cheap to clone; the clones share one loaded index.
#[derive(Clone)]
pub struct AssistantHandle {
    data: PathBuf,
    model: Option<PathBuf>,
    loaded: Arc<Mutex<Option<Loaded>>>,
    /// Cursors moved while there was no index to commit them to (kept in memory only:
    /// nothing was added, so nothing is lost when they are).
    pending: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl AssistantHandle {
    /// An assistant over the index in `data/assistant/`, with the model at `model` (or
    /// `SEAWATCH_EMBEDDING_MODEL`, or the default cache).
    pub fn new(data: PathBuf, model: Option<PathBuf>) -> Self {
        Self {
            data,
            model,
            loaded: Arc::new(Mutex::new(None)),
            pending: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// The data folder.
    pub fn data(&self) -> &std::path::Path {
        &self.data
    }

    fn meta_bytes(&self) -> Option<Vec<u8>> {
        std::fs::read(index_dir(&self.data).join("meta.json")).ok()
    }

    /// The loaded assistant, opening it on first use and again when `meta.json` changed
    /// under it (a `seawatch assistant index` rebuild while the node runs).
    pub fn get(&self) -> Result<Arc<RwLock<Assistant>>, Error> {
        let mut slot = self.loaded.lock();
        let on_disk = self.meta_bytes();
        if let (Some(l), Some(m)) = (slot.as_ref(), on_disk.as_ref()) {
            if &l.meta == m {
                return Ok(l.assistant.clone());
            }
        }
        let Some(meta) = on_disk else {
            *slot = None;
            return Err(Error::NoIndex(self.data.display().to_string()));
        };
        let a = Arc::new(RwLock::new(open(&self.data, self.model.as_deref())?));
        *slot = Some(Loaded {
            assistant: a.clone(),
            meta,
        });
        Ok(a)
    }

    /// [`get`](Self::get), creating an empty index (no documents yet, embedded with the
    /// model when it is installed) when there is none, so that added documents have
    /// somewhere to go before anyone runs `seawatch assistant index`.
    pub fn get_or_create(&self) -> Result<Arc<RwLock<Assistant>>, Error> {
        match self.get() {
            Err(Error::NoIndex(_)) => {
                let embedder = load_embedder(self.model.as_deref())?;
                AssistantIndex::build(&[], embedder, Some(&self.data))?;
                self.get()
            }
            other => other,
        }
    }

    /// The cursor `name` committed with the index's added documents (0 when none;
    /// without an index, where the last [`append`](Self::append) of no documents left it).
    pub fn cursor(&self, name: &str) -> Result<u64, Error> {
        match self.get() {
            Ok(a) => Ok(a.read().index.cursor(name)),
            Err(Error::NoIndex(_)) => Ok(self.pending.lock().get(name).copied().unwrap_or(0)),
            Err(e) => Err(e),
        }
    }

    /// The digest of an added document's current version (`None` without an index).
    pub fn added_digest(&self, source: &str) -> Result<Option<u64>, Error> {
        match self.get() {
            Ok(a) => Ok(a.read().index.added_digest(source)),
            Err(Error::NoIndex(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds documents to the index without rebuilding it and commits `cursors` with them
    /// ([`AssistantIndex::append`]); questions wait for the write. Without an index,
    /// documents create one ([`get_or_create`](Self::get_or_create)); cursors alone do not.
    pub fn append(
        &self,
        documents: Vec<NewDocument>,
        cursors: &BTreeMap<String, u64>,
    ) -> Result<AppendStats, Error> {
        let a = if documents.is_empty() {
            match self.get() {
                Err(Error::NoIndex(_)) => {
                    let mut pending = self.pending.lock();
                    for (k, v) in cursors {
                        pending.insert(k.clone(), *v);
                    }
                    return Ok(AppendStats::default());
                }
                other => other?,
            }
        } else {
            self.get_or_create()?
        };
        let stats = a.write().index.append(documents, cursors)?;
        // what we wrote is what we hold: no reload at the next question
        if let (Some(l), Some(m)) = (self.loaded.lock().as_mut(), self.meta_bytes()) {
            if Arc::ptr_eq(&l.assistant, &a) {
                l.meta = m;
            }
        }
        Ok(stats)
    }
}

fn load_embedder(model: Option<&std::path::Path>) -> Result<Option<Embedder>, Error> {
    match resolve_model_dir(model) {
        Some(dir) if dir.join("model.safetensors").is_file() => Ok(Some(Embedder::load(&dir)?)),
        _ => Ok(None),
    }
}

/// Opens the assistant in `data` with the embedding model when it is installed (else BM25
/// only; the index must then have been built without it or the model must be installed).
pub fn open(data: &std::path::Path, model: Option<&std::path::Path>) -> Result<Assistant, Error> {
    if !index_dir(data).join("meta.json").is_file() {
        return Err(Error::NoIndex(data.display().to_string()));
    }
    let index = AssistantIndex::open(data, load_embedder(model)?)?;
    Ok(Assistant::extractive(index, Settings::default()))
}

/// What kind of document a source is: `incident` (`incidents/…`), `config` (`configs/…`)
/// or `sop` (the corpus).
pub fn source_kind(source: &str) -> &'static str {
    if source.starts_with("incidents/") {
        "incident"
    } else if source.starts_with("configs/") {
        "config"
    } else {
        "sop"
    }
}

/// Body of the request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question in plain words.
    pub question: String,
    /// The ship asked about (accepted; a ship node answers from its own index).
    #[serde(default)]
    pub ship: Option<String>,
}

fn error(status: StatusCode, msg: String) -> Response {
    (status, Json(serde_json::json!({ "error": msg }))).into_response()
}

/// Longest question accepted, in bytes.
pub const MAX_QUESTION: usize = 2_000;

async fn ask(
    State(handle): State<AssistantHandle>,
    body: Result<Json<AskRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body: expected {{\"question\": \"...\", \"ship\"?: \"...\"}}: {e}"),
            )
        }
    };
    if req.question.trim().is_empty() || req.question.len() > MAX_QUESTION {
        return error(
            StatusCode::BAD_REQUEST,
            format!("question: expected 1 to {MAX_QUESTION} bytes of text"),
        );
    }
    let answered = tokio::task::spawn_blocking(move || {
        let assistant = handle.get()?;
        let answer = assistant.read().ask(&req.question);
        answer
    })
    .await;
    match answered {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(e @ (Error::NoIndex(_) | Error::Model(_) | Error::Corrupt(_)))) => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Ok(Err(Error::Input(msg))) => error(StatusCode::BAD_REQUEST, msg),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("assistant: {e}")),
    }
}

fn status_error(e: Error) -> Response {
    match e {
        e @ (Error::NoIndex(_) | Error::Model(_) | Error::Corrupt(_)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        e => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/assistant/status`: whether an index exists and what it holds.
async fn status(State(handle): State<AssistantHandle>) -> Response {
    let got = tokio::task::spawn_blocking(move || match handle.get() {
        Ok(a) => {
            let a = a.read();
            let mut documents: BTreeMap<&str, usize> =
                [("sop", 0), ("incident", 0), ("config", 0)].into();
            let mut sections = 0;
            for (source, n) in a.index.sources() {
                *documents.entry(source_kind(source)).or_default() += 1;
                sections += n;
            }
            let hint = (documents["sop"] == 0).then_some(
                "no SOPs indexed: run `seawatch assistant index --corpus DIR --data DATA` \
                 (resolved incidents and configs are added again afterwards)",
            );
            Ok(serde_json::json!({
                "index": true,
                "documents": documents,
                "sections": sections,
                "dense": a.index.has_dense(),
                "hint": hint,
            }))
        }
        Err(Error::NoIndex(_)) => Ok(serde_json::json!({
            "index": false,
            "documents": {"sop": 0, "incident": 0, "config": 0},
            "sections": 0,
            "dense": false,
            "hint": "no assistant index: run `seawatch assistant index --corpus DIR --data DATA`",
        })),
        Err(e) => Err(e),
    })
    .await;
    match got {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => status_error(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("assistant: {e}")),
    }
}

/// Query of `GET /api/assistant/section`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionQuery {
    /// A citation's `source`.
    pub source: String,
    /// A citation's `section`.
    pub section: String,
    /// A citation's `excerpt`: picks, of two sections under the same headings, the one
    /// that holds it.
    #[serde(default)]
    pub excerpt: Option<String>,
}

/// `GET /api/assistant/section?source=S&section=H[&excerpt=E]`: the cited section's text.
async fn section(
    State(handle): State<AssistantHandle>,
    q: Result<Query<SectionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query: expected ?source=...&section=...[&excerpt=...]".into(),
        );
    };
    let got = tokio::task::spawn_blocking(move || {
        let a = handle.get()?;
        let a = a.read();
        Ok::<_, Error>(
            a.index
                .section(&q.source, &q.section, q.excerpt.as_deref())
                .map(|c| {
                    serde_json::json!({
                        "source": c.source,
                        "kind": source_kind(&c.source),
                        "title": c.title,
                        "section": c.heading_path(),
                        "text": c.text,
                    })
                }),
        )
    })
    .await;
    match got {
        Ok(Ok(Some(v))) => Json(v).into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "no such section".into()),
        Ok(Err(e)) => status_error(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("assistant: {e}")),
    }
}

/// The route; mount it behind the viewer role:
/// `app.merge(auth.protect(Role::Viewer, seawatch_assistant::api::routes(handle)))`.
pub fn routes(handle: AssistantHandle) -> Router {
    Router::new()
        .route("/api/assistant/ask", post(ask))
        .route("/api/assistant/status", get(status))
        .route("/api/assistant/section", get(section))
        .with_state(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn post(app: &Router, body: &str) -> (StatusCode, serde_json::Value) {
        let req = Request::post("/api/assistant/ask")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn ask_answers_from_the_data_folder_and_rejects_bad_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let app = routes(AssistantHandle::new(dir.path().to_path_buf(), None));
        let (status, body) = post(&app, r#"{"question":"rain fade modem"}"#).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body["error"].as_str().unwrap().contains("assistant index"),
            "{body}"
        );
        // an index built after the first question is picked up
        let mut docs = vec![(
            "rain.md".to_string(),
            "# Rain fade\n\n## Procedure\n1. Do not power-cycle modem-vsat-1 during rain fade.\n"
                .to_string(),
        )];
        for topic in [
            "Disk full",
            "Guest Wi-Fi",
            "PBX storm",
            "Uplink flap",
            "Backups",
        ] {
            docs.push((
                format!("{topic}.md"),
                format!("# {topic}\n\n## Procedure\n1. Check {topic}.\n"),
            ));
        }
        AssistantIndex::build(&docs, None, Some(dir.path())).unwrap();
        let (status, body) = post(
            &app,
            r#"{"question":"Rain fade: may I power-cycle modem-vsat-1 during rain fade?","ship":"aurora"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["abstained"], false);
        assert_eq!(body["citations"][0]["source"], "rain.md");
        assert_eq!(body["citations"][0]["title"], "Rain fade");
        assert!(body["took_ms"].is_u64());
        // the citation names a section the panel can open, holding the excerpt
        let c = &body["citations"][0];
        let uri = format!(
            "/api/assistant/section?source={}&section={}",
            c["source"].as_str().unwrap(),
            c["section"]
                .as_str()
                .unwrap()
                .replace(' ', "%20")
                .replace('>', "%3E")
        );
        let resp = app
            .clone()
            .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let sec: serde_json::Value =
            serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
        assert!(sec["text"]
            .as_str()
            .unwrap()
            .contains(c["excerpt"].as_str().unwrap()));
        let resp = app
            .clone()
            .oneshot(
                Request::get("/api/assistant/status")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let st: serde_json::Value =
            serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
        assert_eq!(st["index"], true);
        assert_eq!(st["documents"]["sop"], 6);
        assert!(st["hint"].is_null());
        for bad in [r#"{"q":"x"}"#, r#"{"question":"  "}"#, "not json"] {
            let (status, body) = post(&app, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body["error"].is_string());
        }
    }

    #[tokio::test]
    async fn appended_documents_are_answered_and_a_rebuild_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let handle = AssistantHandle::new(dir.path().to_path_buf(), Some(dir.path().join("none")));
        let app = routes(handle.clone());
        let resp = app
            .clone()
            .oneshot(
                Request::get("/api/assistant/status")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let st: serde_json::Value =
            serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
        assert_eq!(st["index"], false);
        assert!(st["hint"].as_str().unwrap().contains("assistant index"));
        // cursors alone create no index (kept in memory until there is one)
        let only = BTreeMap::from([("log/aurora".to_string(), 5)]);
        assert_eq!(
            handle.append(Vec::new(), &only).unwrap(),
            AppendStats::default()
        );
        assert_eq!(handle.cursor("log/aurora").unwrap(), 5);
        assert!(!dir.path().join("assistant").exists());
        // the indexer's first append creates an empty index and adds to it (and some
        // other incidents, so that BM25 has a collection to weigh words in)
        let mut docs: Vec<NewDocument> = ["dist-sw-2", "pbx-1", "ap-4-12", "fw-1", "vsat-1"]
            .iter()
            .enumerate()
            .map(|(i, dev)| {
                let source = format!("incidents/aurora-{i}.md");
                let text =
                    format!("# Incident aurora-{i}: {dev}\n\n## Root cause\n{dev} degraded.\n");
                NewDocument {
                    digest: crate::index::digest(text.as_bytes()),
                    chunks: crate::chunk_markdown(&source, &text),
                    source,
                }
            })
            .collect();
        let text = "# Incident aurora-3: core-sw-1 unreachable\n\n## Root cause\n\
core-sw-1 unreachable; 12 ap behind it affected, resolved after 14 min.\n";
        let cursors = BTreeMap::from([("log/aurora".to_string(), 42)]);
        docs.push(NewDocument {
            source: "incidents/aurora-9.md".into(),
            digest: crate::index::digest(text.as_bytes()),
            chunks: crate::chunk_markdown("incidents/aurora-9.md", text),
        });
        let stats = handle.append(docs, &cursors).unwrap();
        assert_eq!((stats.added, stats.chunks), (6, 6));
        assert_eq!(handle.cursor("log/aurora").unwrap(), 42);
        // searchable at once (without the model this is BM25 alone over six short
        // documents, below its abstention threshold: the answer is tested with the model
        // in topologies/tests/assistant_indexer.rs)
        let a = handle.get().unwrap();
        let r = a
            .read()
            .index
            .retrieve(
                "what happened when core-sw-1 went down?",
                &Settings::default(),
            )
            .unwrap();
        let top = a.read().index.chunks()[r.passages[0].chunk].source.clone();
        assert_eq!(top, "incidents/aurora-9.md");
        let (status, _) = post(&app, r#"{"question":"core-sw-1 unreachable"}"#).await;
        assert_eq!(status, StatusCode::OK);
        // an operator's rebuild replaces the folder: the handle reopens it
        AssistantIndex::build(
            &[(
                "rain.md".into(),
                "# Rain fade\n\nDo not power-cycle.\n".into(),
            )],
            None,
            Some(dir.path()),
        )
        .unwrap();
        assert_eq!(handle.cursor("log/aurora").unwrap(), 0);
        let a = handle.get().unwrap();
        assert_eq!(a.read().index.sources().len(), 1);
    }
}

//! `POST /api/assistant/ask` `{"question","ship"?}` (contracts §2, §8). The node mounts
//! [`routes`] behind its viewer role. The index is opened from the data folder at the
//! first question (and again after a failure, so an index built later is picked up); an
//! answer runs on a blocking thread for the length of the request.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::Deserialize;

use crate::embed::{resolve_model_dir, Embedder};
use crate::{Assistant, AssistantIndex, Error, Settings};

/// Where the node's assistant comes from: its data folder and embedding model folder.
#[derive(Clone)]
pub struct AssistantHandle {
    data: PathBuf,
    model: Option<PathBuf>,
    loaded: Arc<Mutex<Option<Arc<Assistant>>>>,
}

impl AssistantHandle {
    /// An assistant over the index in `data/assistant/`, with the model at `model` (or
    /// `SEAWATCH_EMBEDDING_MODEL`, or the default cache).
    pub fn new(data: PathBuf, model: Option<PathBuf>) -> Self {
        Self {
            data,
            model,
            loaded: Arc::new(Mutex::new(None)),
        }
    }

    /// The loaded assistant, opening it on first use.
    pub fn get(&self) -> Result<Arc<Assistant>, Error> {
        let mut slot = self.loaded.lock();
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let a = Arc::new(open(&self.data, self.model.as_deref())?);
        *slot = Some(a.clone());
        Ok(a)
    }
}

/// Opens the assistant in `data` with the embedding model when it is installed (else BM25
/// only; the index must then have been built without it or the model must be installed).
pub fn open(data: &std::path::Path, model: Option<&std::path::Path>) -> Result<Assistant, Error> {
    if !crate::index::index_dir(data).join("meta.json").is_file() {
        return Err(Error::NoIndex(data.display().to_string()));
    }
    let embedder = match resolve_model_dir(model) {
        Some(dir) if dir.join("model.safetensors").is_file() => Some(Embedder::load(&dir)?),
        _ => None,
    };
    let index = AssistantIndex::open(data, embedder)?;
    Ok(Assistant::extractive(index, Settings::default()))
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
        assistant.ask(&req.question)
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

/// The route; mount it behind the viewer role:
/// `app.merge(auth.protect(Role::Viewer, seawatch_assistant::api::routes(handle)))`.
pub fn routes(handle: AssistantHandle) -> Router {
    Router::new()
        .route("/api/assistant/ask", post(ask))
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
        for bad in [r#"{"q":"x"}"#, r#"{"question":"  "}"#, "not json"] {
            let (status, body) = post(&app, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body["error"].is_string());
        }
    }
}

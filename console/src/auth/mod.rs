//! Authentication and authorization of a node's HTTP API (contracts §2).
//!
//! - Local users with argon2id password hashes in `DATA/users.json`; on first start the
//!   user `admin` gets a random password written to `DATA/initial-admin-password` (0600).
//! - `POST /api/login` returns an opaque random token that expires after `token_ttl_s`
//!   on the node's [`Clock`]; logins are rate-limited per source IP.
//! - `DATA/ingest-token` (0600) holds a long-lived token that may only write telemetry
//!   (`POST /ingest/ndjson`, `POST /api/v1/write`), for senders that cannot log in, such
//!   as Prometheus remote write (`authorization: {credentials_file: .../ingest-token}`).
//! - Optionally, JWTs from an OIDC provider are accepted ([`oidc`]).
//!
//! [`Auth::protect`] puts a role check in front of a router: a missing, bad or expired
//! token is 401, a role too low is 403.

pub mod oidc;
pub mod ratelimit;
pub mod role;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use parking_lot::{Mutex, RwLock};
use seawatch_runtime::Clock;
use serde::Deserialize;

use crate::metrics::ConsoleMetrics;
pub use oidc::{OidcConfig, OidcVerifier};
pub use ratelimit::LoginLimiter;
pub use role::{Access, Principal, Role};
pub use store::UserStore;

/// Largest login or user-admin request body.
const MAX_AUTH_BODY: usize = 4096;
/// Most live login tokens kept; past it the soonest-expiring are dropped.
const MAX_TOKENS: usize = 100_000;

/// `[auth]` in a node's config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a login token, seconds.
    #[serde(default = "default_ttl")]
    pub token_ttl_s: u64,
    /// Login attempts a source IP may make at once.
    #[serde(default = "default_burst")]
    pub login_burst: u32,
    /// Then one more attempt per this many seconds.
    #[serde(default = "default_refill")]
    pub login_refill_s: u64,
    /// Accept JWTs from an identity provider.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
}

fn default_ttl() -> u64 {
    12 * 3600
}
fn default_burst() -> u32 {
    5
}
fn default_refill() -> u64 {
    12
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl_s: default_ttl(),
            login_burst: default_burst(),
            login_refill_s: default_refill(),
            oidc: None,
        }
    }
}

/// Why auth could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Bad configuration or file contents.
    #[error("{0}")]
    Config(String),
    /// Hashing failed.
    #[error("password hash: {0}")]
    Hash(String),
}

impl AuthError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        AuthError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

struct Inner {
    clock: Clock,
    ttl_ms: i64,
    users: RwLock<UserStore>,
    tokens: Mutex<HashMap<String, Principal>>,
    ingest_token: String,
    limiter: LoginLimiter,
    oidc: Option<OidcVerifier>,
    metrics: ConsoleMetrics,
}

/// A node's authentication state. Cheap to clone.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.0.tokens.lock().len())
            .finish()
    }
}

/// Why a token was refused: the label of `seawatch_auth_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No token.
    Missing,
    /// Unknown or malformed token.
    Invalid,
    /// The token has expired.
    Expired,
    /// An OIDC token with no seawatch role.
    NoRole,
    /// A valid token whose role is too low (403).
    Forbidden,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Invalid => "invalid",
            Rejection::Expired => "expired",
            Rejection::NoRole => "no_role",
            Rejection::Forbidden => "forbidden",
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            Rejection::Missing => (StatusCode::UNAUTHORIZED, "missing bearer token"),
            Rejection::Invalid => (StatusCode::UNAUTHORIZED, "invalid token"),
            Rejection::Expired => (StatusCode::UNAUTHORIZED, "token expired"),
            Rejection::NoRole => (StatusCode::UNAUTHORIZED, "token carries no seawatch role"),
            Rejection::Forbidden => (StatusCode::FORBIDDEN, "role too low"),
        };
        let mut resp = (status, Json(serde_json::json!({ "error": msg }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl Auth {
    /// Opens (or, on first start, creates) the users and the ingest token in `data`.
    pub fn open(
        data: &Path,
        cfg: &AuthConfig,
        clock: Clock,
        metrics: ConsoleMetrics,
    ) -> Result<Self, AuthError> {
        let users = UserStore::open_or_init(data)?;
        let ingest_token = store::ingest_token(data)?;
        let oidc = cfg.oidc.clone().map(OidcVerifier::new).transpose()?;
        Ok(Self(Arc::new(Inner {
            limiter: LoginLimiter::new(
                clock.clone(),
                cfg.login_burst,
                cfg.login_refill_s.saturating_mul(1000),
            ),
            clock,
            ttl_ms: i64::try_from(cfg.token_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX),
            users: RwLock::new(users),
            tokens: Mutex::new(HashMap::new()),
            ingest_token,
            oidc,
            metrics,
        })))
    }

    /// The node's ingest token.
    pub fn ingest_token(&self) -> &str {
        &self.0.ingest_token
    }

    /// The clock tokens expire on.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The console metrics.
    pub fn metrics(&self) -> &ConsoleMetrics {
        &self.0.metrics
    }

    /// Checks `user`/`password` (argon2, off the async threads) and issues a token.
    pub async fn login(&self, user: &str, password: &str) -> Option<(String, Role)> {
        let hash_role = {
            let users = self.0.users.read();
            users.get(user).map(|u| (u.hash.clone(), u.role))
        };
        let (hash, role) = match hash_role {
            Some((h, r)) => (h, Some(r)),
            None => (store::decoy_hash().to_string(), None),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || store::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        let role = role.filter(|_| ok)?;
        Some((self.issue(user, role), role))
    }

    /// Issues a login token for `user` with `role`, expiring after the configured TTL.
    pub fn issue(&self, user: &str, role: Role) -> String {
        let token = format!("sw_{}", store::random_secret(43));
        let now = self.0.clock.now_ms();
        let principal = Principal {
            name: user.to_string(),
            role: Some(role),
            expires_ms: Some(now.saturating_add(self.0.ttl_ms)),
        };
        let mut tokens = self.0.tokens.lock();
        if tokens.len() >= MAX_TOKENS {
            tokens.retain(|_, p| p.expires_ms.is_none_or(|e| e > now));
            if tokens.len() >= MAX_TOKENS {
                let mut by_expiry: Vec<(i64, String)> = tokens
                    .iter()
                    .map(|(t, p)| (p.expires_ms.unwrap_or(i64::MAX), t.clone()))
                    .collect();
                by_expiry.sort_unstable();
                for (_, t) in by_expiry.into_iter().take(MAX_TOKENS / 10) {
                    tokens.remove(&t);
                }
            }
        }
        tokens.insert(token.clone(), principal);
        token
    }

    /// The principal a bearer token stands for.
    pub fn authenticate(&self, token: &str) -> Result<Principal, Rejection> {
        if token.is_empty() {
            return Err(Rejection::Missing);
        }
        if constant_time_eq(token.as_bytes(), self.0.ingest_token.as_bytes()) {
            return Ok(Principal {
                name: "ingest".into(),
                role: None,
                expires_ms: None,
            });
        }
        let now = self.0.clock.now_ms();
        {
            let mut tokens = self.0.tokens.lock();
            if let Some(p) = tokens.get(token) {
                if p.expires_ms.is_some_and(|e| e <= now) {
                    tokens.remove(token);
                    return Err(Rejection::Expired);
                }
                return Ok(p.clone());
            }
        }
        if let Some(oidc) = &self.0.oidc {
            if token.matches('.').count() == 2 {
                return oidc.verify(token, &self.0.clock).map_err(|r| match r {
                    "expired" => Rejection::Expired,
                    "no_role" => Rejection::NoRole,
                    _ => Rejection::Invalid,
                });
            }
        }
        Err(Rejection::Invalid)
    }

    /// Checks a request's token against `access`, counting refusals.
    pub fn check(&self, token: Option<&str>, access: Access) -> Result<Principal, Rejection> {
        let result = match token {
            None => Err(Rejection::Missing),
            Some(t) => self.authenticate(t).and_then(|p| {
                if p.allows(access) {
                    Ok(p)
                } else {
                    Err(Rejection::Forbidden)
                }
            }),
        };
        if let Err(r) = result {
            self.0.metrics.reject(r.as_str());
        }
        result
    }

    /// `router` with every route requiring `access` (401 / 403 per contracts §2); handlers
    /// may take `Extension<Principal>`. The one line that mounts a router behind auth:
    /// `app = app.merge(auth.protect(Role::Viewer, incidents_router))`.
    pub fn protect(&self, access: impl Into<Access>, router: Router) -> Router {
        let state = (self.clone(), access.into());
        router.route_layer(axum::middleware::from_fn_with_state(state, require))
    }

    /// `POST /api/login` and `POST /api/users` (admin: add or change a user).
    pub fn routes(&self) -> Router {
        let public = Router::new()
            .route("/api/login", post(login))
            .with_state(self.clone());
        let admin = self.protect(
            Role::Admin,
            Router::new()
                .route("/api/users", post(upsert_user))
                .with_state(self.clone()),
        );
        public.merge(admin)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request: the `Authorization: Bearer` header, or for a WebSocket
/// upgrade (browsers cannot set headers on one) the `token` query parameter.
pub fn bearer_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, rest) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string());
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return None;
    }
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string())
}

async fn require(
    State((auth, access)): State<(Auth, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = bearer_token(req.headers(), req.uri().query());
    match auth.check(token.as_deref(), access) {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(r) => r.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    user: String,
    password: String,
}

fn bad_request(msg: String) -> Response {
    crate::json_error(StatusCode::BAD_REQUEST, msg)
}

async fn read_json<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_AUTH_BODY)
        .await
        .map_err(|_| bad_request(format!("body larger than {MAX_AUTH_BODY} bytes")))?;
    serde_json::from_slice(&bytes).map_err(|e| bad_request(format!("bad JSON: {e}")))
}

async fn login(State(auth): State<Auth>, req: Request) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Err(wait_ms) = auth.0.limiter.check(ip) {
        auth.0.metrics.login("rate_limited");
        let secs = wait_ms.div_ceil(1000).max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            Json(serde_json::json!({ "error": "too many login attempts", "retry_after_s": secs })),
        )
            .into_response();
    }
    let body: LoginBody = match read_json(req).await {
        Ok(b) => b,
        Err(resp) => {
            auth.0.metrics.login("bad_request");
            return resp;
        }
    };
    match auth.login(&body.user, &body.password).await {
        Some((token, role)) => {
            auth.0.metrics.login("ok");
            Json(serde_json::json!({ "token": token, "role": role.as_str() })).into_response()
        }
        None => {
            auth.0.metrics.login("bad_credentials");
            (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({ "error": "bad credentials" })),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user: String,
    password: String,
    role: Role,
}

async fn upsert_user(
    State(auth): State<Auth>,
    Extension(by): Extension<Principal>,
    req: Request,
) -> Response {
    let body: UserBody = match read_json(req).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let name_ok = !body.user.is_empty()
        && body.user.len() <= 64
        && body
            .user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if !name_ok {
        return bad_request("user: 1 to 64 of [A-Za-z0-9-_.@]".into());
    }
    if body.password.len() < 12 {
        return bad_request("password: at least 12 characters".into());
    }
    let result = {
        let auth = auth.clone();
        tokio::task::spawn_blocking(move || {
            auth.0
                .users
                .write()
                .upsert(&body.user, &body.password, body.role)
                .map(|()| (body.user, body.role))
        })
        .await
    };
    match result {
        Ok(Ok((user, role))) => {
            tracing::info!(by = %by.name, %user, role = role.as_str(), "user saved");
            Json(serde_json::json!({ "user": user, "role": role.as_str() })).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests;

use axum::routing::get;
use axum::{Extension, Router};
use seawatch_runtime::{Clock, Metrics};

use super::*;
use crate::testutil::{http, serve};

fn open(dir: &Path, clock: Clock, cfg: AuthConfig) -> (Auth, std::sync::Arc<Metrics>) {
    let metrics = Metrics::new();
    let cm = ConsoleMetrics::register(&metrics);
    (Auth::open(dir, &cfg, clock, cm).unwrap(), metrics)
}

fn admin_password(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(store::INITIAL_ADMIN_PASSWORD_FILE))
        .unwrap()
        .trim()
        .to_string()
}

async fn whoami(Extension(p): Extension<Principal>) -> String {
    p.name
}

fn app(auth: &Auth) -> Router {
    auth.routes()
        .merge(auth.protect(Role::Viewer, Router::new().route("/api/view", get(whoami))))
        .merge(auth.protect(
            Role::Operator,
            Router::new().route("/api/act", axum::routing::post(whoami)),
        ))
        .merge(auth.protect(
            Access::Ingest,
            Router::new().route("/ingest/x", axum::routing::post(whoami)),
        ))
}

#[tokio::test]
async fn login_roles_401_403_and_expiry_on_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_700_000_000_000);
    let cfg = AuthConfig {
        token_ttl_s: 60,
        login_burst: 100,
        ..AuthConfig::default()
    };
    let (auth, metrics) = open(dir.path(), clock.clone(), cfg);
    let addr = serve(app(&auth)).await;
    let pw = admin_password(dir.path());

    let (code, _) = http(
        addr,
        "POST",
        "/api/login",
        None,
        r#"{"user":"admin","password":"nope"}"#,
    )
    .await;
    assert_eq!(code, 401);
    let (code, _) = http(
        addr,
        "POST",
        "/api/login",
        None,
        r#"{"user":"ghost","password":"nope"}"#,
    )
    .await;
    assert_eq!(code, 401);
    let (code, body) = http(addr, "POST", "/api/login", None, "{not json").await;
    assert_eq!(code, 400, "{body}");

    let (code, body) = http(
        addr,
        "POST",
        "/api/login",
        None,
        &format!(r#"{{"user":"admin","password":"{pw}"}}"#),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["role"], "admin");
    let admin = v["token"].as_str().unwrap().to_string();

    // Admin creates a viewer.
    let (code, body) = http(
        addr,
        "POST",
        "/api/users",
        Some(&admin),
        r#"{"user":"deck","password":"correct horse battery","role":"viewer"}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = http(
        addr,
        "POST",
        "/api/login",
        None,
        r#"{"user":"deck","password":"correct horse battery"}"#,
    )
    .await;
    assert_eq!(code, 200);
    let viewer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(viewer["role"], "viewer");
    let viewer = viewer["token"].as_str().unwrap().to_string();

    assert_eq!(http(addr, "GET", "/api/view", None, "").await.0, 401);
    assert_eq!(
        http(addr, "GET", "/api/view", Some("sw_bogus"), "").await.0,
        401
    );
    assert_eq!(
        http(addr, "GET", "/api/view", Some(&viewer), "").await,
        (200, "deck".into())
    );
    assert_eq!(
        http(addr, "POST", "/api/act", Some(&viewer), "").await.0,
        403
    );
    assert_eq!(
        http(addr, "POST", "/api/act", Some(&admin), "").await.0,
        200
    );
    // A viewer may not create users, nor write telemetry.
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/users",
            Some(&viewer),
            r#"{"user":"x","password":"xxxxxxxxxxxxxx","role":"admin"}"#
        )
        .await
        .0,
        403
    );
    assert_eq!(
        http(addr, "POST", "/ingest/x", Some(&viewer), "").await.0,
        403
    );
    // The ingest token writes telemetry and nothing else.
    let ingest = auth.ingest_token().to_string();
    assert_eq!(
        http(addr, "POST", "/ingest/x", Some(&ingest), "").await,
        (200, "ingest".into())
    );
    assert_eq!(
        http(addr, "GET", "/api/view", Some(&ingest), "").await.0,
        403
    );

    // Tokens expire on the injected clock.
    clock.advance_ms(59_000);
    assert_eq!(
        http(addr, "GET", "/api/view", Some(&viewer), "").await.0,
        200
    );
    clock.advance_ms(1_000);
    assert_eq!(
        http(addr, "GET", "/api/view", Some(&viewer), "").await.0,
        401
    );
    assert_eq!(
        http(addr, "POST", "/ingest/x", Some(&ingest), "").await.0,
        200
    );

    let text = metrics.encode();
    for series in [
        r#"seawatch_auth_logins_total{result="ok"} 2"#,
        r#"seawatch_auth_logins_total{result="bad_credentials"} 2"#,
        r#"seawatch_auth_logins_total{result="bad_request"} 1"#,
        r#"seawatch_auth_rejected_total{reason="expired"} 1"#,
        r#"seawatch_auth_rejected_total{reason="forbidden"} 4"#,
    ] {
        assert!(text.contains(series), "{series} not in\n{text}");
    }
}

#[tokio::test]
async fn login_is_rate_limited_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(0);
    let cfg = AuthConfig {
        login_burst: 3,
        login_refill_s: 10,
        ..AuthConfig::default()
    };
    let (auth, _m) = open(dir.path(), clock.clone(), cfg);
    let addr = serve(auth.routes()).await;
    let bad = r#"{"user":"admin","password":"guess"}"#;
    for _ in 0..3 {
        assert_eq!(http(addr, "POST", "/api/login", None, bad).await.0, 401);
    }
    let (code, body) = http(addr, "POST", "/api/login", None, bad).await;
    assert_eq!(code, 429, "{body}");
    assert!(body.contains("\"retry_after_s\":10"), "{body}");
    // Even the right password waits its turn.
    let good = format!(
        r#"{{"user":"admin","password":"{}"}}"#,
        admin_password(dir.path())
    );
    assert_eq!(http(addr, "POST", "/api/login", None, &good).await.0, 429);
    clock.advance_ms(10_000);
    assert_eq!(http(addr, "POST", "/api/login", None, &good).await.0, 200);
}

#[test]
fn bearer_from_header_or_websocket_query_only() {
    let mut h = HeaderMap::new();
    assert_eq!(bearer_token(&h, Some("token=abc")), None);
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    assert_eq!(bearer_token(&h, Some("x=1&token=abc")), Some("abc".into()));
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer xyz"),
    );
    assert_eq!(bearer_token(&h, Some("token=abc")), Some("xyz".into()));
    h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic xyz"));
    assert_eq!(bearer_token(&h, None), None);
}

/// A deterministic Ed25519 key: PKCS#8 v1 DER from a fixed seed, and its public key.
fn ed25519(seed: [u8; 32]) -> (Vec<u8>, Vec<u8>) {
    use ring::signature::KeyPair;
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    (der, pair.public_key().as_ref().to_vec())
}

fn jwt(der: &[u8], kid: Option<&str>, claims: serde_json::Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_ed_der(der)).unwrap()
}

#[tokio::test]
async fn oidc_tokens_from_jwks_and_pem_files() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let (der, public) = ed25519([7; 32]);
    let (other_der, _) = ed25519([8; 32]);
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&public);
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA"}]})
            .to_string(),
    )
    .unwrap();
    // The same key as a PEM SubjectPublicKeyInfo.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(&public);
    let pem = dir.path().join("key.pem");
    std::fs::write(
        &pem,
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        ),
    )
    .unwrap();
    let now_s = 1_700_000_000i64;
    let clock = Clock::manual(now_s * 1000);
    for (jwks_file, pem_file) in [(Some(jwks.clone()), None), (None, Some(pem.clone()))] {
        let data = tempfile::tempdir().unwrap();
        let cfg = AuthConfig {
            oidc: Some(OidcConfig {
                issuer: "https://sso.test/realms/fleet".into(),
                audience: Some("seawatch".into()),
                jwks_file,
                pem_file,
                algorithms: vec!["EdDSA".into()],
                role_claim: "realm_access.roles".into(),
                leeway_s: 0,
            }),
            ..AuthConfig::default()
        };
        let (auth, _m) = open(data.path(), clock.clone(), cfg);
        let claims = |roles: &[&str], exp: i64, iss: &str| {
            serde_json::json!({"iss": iss, "aud": "seawatch", "exp": exp, "sub": "u-1",
                "preferred_username": "maria", "realm_access": {"roles": roles}})
        };
        let iss = "https://sso.test/realms/fleet";
        let ok = jwt(
            &der,
            Some("k1"),
            claims(&["offline_access", "operator"], now_s + 300, iss),
        );
        let p = auth.check(Some(&ok), Access::Role(Role::Operator)).unwrap();
        assert_eq!((p.name.as_str(), p.role), ("maria", Some(Role::Operator)));
        assert_eq!(
            auth.check(Some(&ok), Access::Role(Role::Admin)),
            Err(Rejection::Forbidden)
        );
        let expired = jwt(&der, Some("k1"), claims(&["admin"], now_s - 1, iss));
        assert_eq!(auth.authenticate(&expired), Err(Rejection::Expired));
        let wrong_iss = jwt(
            &der,
            Some("k1"),
            claims(&["admin"], now_s + 300, "https://evil"),
        );
        assert_eq!(auth.authenticate(&wrong_iss), Err(Rejection::Invalid));
        let wrong_key = jwt(&other_der, Some("k1"), claims(&["admin"], now_s + 300, iss));
        assert_eq!(auth.authenticate(&wrong_key), Err(Rejection::Invalid));
        let no_role = jwt(
            &der,
            Some("k1"),
            claims(&["offline_access"], now_s + 300, iss),
        );
        assert_eq!(auth.authenticate(&no_role), Err(Rejection::NoRole));
        // The token expires as the injected clock passes exp.
        let short = jwt(&der, Some("k1"), claims(&["viewer"], now_s + 10, iss));
        assert!(auth.authenticate(&short).is_ok());
        let later = Clock::manual((now_s + 11) * 1000);
        let (auth_later, _m) = open(
            data.path(),
            later,
            AuthConfig {
                oidc: auth_cfg_oidc(&auth),
                ..AuthConfig::default()
            },
        );
        assert_eq!(auth_later.authenticate(&short), Err(Rejection::Expired));
    }
}

fn auth_cfg_oidc(auth: &Auth) -> Option<OidcConfig> {
    auth.0.oidc.as_ref().map(|o| o.config().clone())
}

//! Optional OIDC: bearer tokens that are JWTs signed by an identity provider (e.g. a
//! Keycloak realm) are accepted when they verify against the configured keys.
//!
//! A ship is offline for hours, so keys come from files (the provider's JWKS document or
//! a PEM public key, copied aboard), never fetched at run time. Expiry and not-before are
//! checked here on the node's injected [`Clock`], not on the system clock.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use seawatch_runtime::Clock;
use serde::Deserialize;

use super::role::{Principal, Role};
use super::AuthError;

/// `[auth.oidc]`: validate JWTs from an identity provider.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Expected `iss` claim, e.g. `https://sso.example/realms/fleet`.
    pub issuer: String,
    /// Expected `aud` claim (not checked when absent).
    #[serde(default)]
    pub audience: Option<String>,
    /// The provider's JWKS document (`{"keys": [...]}`) as a file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// One PEM public key (RSA, EC or Ed25519) as a file.
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
    /// Accepted algorithms (`RS256`, `ES256`, `EdDSA`, ...).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Dotted path of the claim holding role names (Keycloak: `realm_access.roles`).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Allowed clock skew, seconds.
    #[serde(default = "default_leeway")]
    pub leeway_s: u64,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}
fn default_role_claim() -> String {
    "realm_access.roles".into()
}
fn default_leeway() -> u64 {
    30
}

/// Validates provider JWTs against keys loaded from files.
pub struct OidcVerifier {
    cfg: OidcConfig,
    algorithms: Vec<Algorithm>,
    keys: Vec<(Option<String>, DecodingKey)>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.cfg.issuer)
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, AuthError> {
    std::fs::read(path).map_err(|e| AuthError::io(path, e))
}

impl OidcVerifier {
    /// Loads the keys named by `cfg`.
    pub fn new(cfg: OidcConfig) -> Result<Self, AuthError> {
        let mut algorithms = Vec::new();
        for a in &cfg.algorithms {
            algorithms.push(a.parse::<Algorithm>().map_err(|_| {
                AuthError::Config(format!(
                    "auth.oidc.algorithms: unknown algorithm {a:?} (expected e.g. RS256, ES256, EdDSA)"
                ))
            })?);
        }
        let mut keys = Vec::new();
        if let Some(p) = &cfg.jwks_file {
            let set: JwkSet = serde_json::from_slice(&read(p)?).map_err(|e| {
                AuthError::Config(format!("{}: {e} (expected a JWKS document)", p.display()))
            })?;
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                    AuthError::Config(format!("{}: key {:?}: {e}", p.display(), jwk.common.key_id))
                })?;
                keys.push((jwk.common.key_id.clone(), key));
            }
        }
        if let Some(p) = &cfg.pem_file {
            let pem = read(p)?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .or_else(|_| DecodingKey::from_ec_pem(&pem))
                .or_else(|_| DecodingKey::from_ed_pem(&pem))
                .map_err(|e| {
                    AuthError::Config(format!(
                        "{}: {e} (expected an RSA, EC or Ed25519 public key in PEM)",
                        p.display()
                    ))
                })?;
            keys.push((None, key));
        }
        if keys.is_empty() {
            return Err(AuthError::Config(
                "auth.oidc: needs jwks_file or pem_file (keys are read from files; a ship may be offline)".into(),
            ));
        }
        Ok(Self {
            cfg,
            algorithms,
            keys,
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &OidcConfig {
        &self.cfg
    }

    /// The principal of a valid token, or why it is not valid.
    pub fn verify(&self, token: &str, clock: &Clock) -> Result<Principal, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "invalid")?;
        if !self.algorithms.contains(&header.alg) {
            return Err("invalid");
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.cfg.issuer]);
        match &self.cfg.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        // Time claims are checked below on the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        let candidates = self
            .keys
            .iter()
            .filter(|(kid, _)| header.kid.is_none() || kid.is_none() || *kid == header.kid);
        let mut claims = None;
        for (_, key) in candidates {
            if let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation) {
                claims = Some(data.claims);
                break;
            }
        }
        let claims = claims.ok_or("invalid")?;
        let now_s = clock.now_ms().div_euclid(1000);
        let leeway = self.cfg.leeway_s as i64;
        let exp = claims
            .get("exp")
            .and_then(|v| v.as_i64())
            .ok_or("invalid")?;
        if now_s > exp + leeway {
            return Err("expired");
        }
        if let Some(nbf) = claims.get("nbf").and_then(|v| v.as_i64()) {
            if now_s + leeway < nbf {
                return Err("invalid");
            }
        }
        let mut node = &claims;
        for part in self.cfg.role_claim.split('.') {
            node = node.get(part).unwrap_or(&serde_json::Value::Null);
        }
        let role = match node {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(Role::parse)
                .max(),
            serde_json::Value::String(s) => Role::parse(s),
            _ => None,
        }
        .ok_or("no_role")?;
        let name = claims
            .get("preferred_username")
            .or_else(|| claims.get("sub"))
            .and_then(|v| v.as_str())
            .unwrap_or("oidc")
            .to_string();
        Ok(Principal {
            name,
            role: Some(role),
            expires_ms: Some(exp.saturating_mul(1000)),
        })
    }
}

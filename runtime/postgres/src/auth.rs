//! Bearer tokens into verified identities for the HTTP query endpoint: a JWT checked against the configured key (HS256 secret, or RS256 / ES256 public key in PEM), issuer and audience, `exp` / `nbf` with a small leeway, turned into who (`sub`), which tenant (a configurable claim) and which scopes (`scope`).
//!
//! Configuration ([`AuthConfig`], through [`Settings`]: the `[query_auth]` table of the file
//! named by `CAREBUS_CONFIG`, then `CAREBUS_QUERY_AUTH_*` variables):
//!
//! | setting | what | default |
//! |---|---|---|
//! | `algorithm` | `HS256`, `RS256` or `ES256` | `HS256` |
//! | `key` | the HS256 secret (at least 32 bytes) or the PEM public key; meant for the environment (`CAREBUS_QUERY_AUTH_KEY`) | — |
//! | `key_file` | a file holding the same (read once at start) | — |
//! | `issuer` | the required `iss` | required |
//! | `audience` | the required `aud` | required |
//! | `tenant_claim` | the claim naming the caller's tenant | `tenant` |
//! | `leeway_secs` | clock skew allowed on `exp` / `nbf` | `30` |
//!
//! The key is never printed: [`AuthConfig`]'s `Debug` shows whether one is set, errors name
//! the setting, not its value, and a refused token's reason names the check that failed, never
//! the token. A token must carry `sub`, `exp`, `iss`, `aud` and the tenant claim; `nbf` is
//! checked when present. Scopes: [`SCOPE_READ`] to query at all, [`SCOPE_PHI`] to see PHI.

use carebus_core::config::{ConfigError, Settings};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The scope needed to query the endpoint at all.
pub const SCOPE_READ: &str = "events:read";
/// The scope needed to see the values of PHI fields.
pub const SCOPE_PHI: &str = "phi:read";
/// Shortest HS256 secret accepted (bytes): a shorter one can be brute-forced from one token.
pub const MIN_SECRET_LEN: usize = 32;
/// Longest token accepted (bytes).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

pub use carebus_core::config::Secret;

/// How tokens are signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// HMAC-SHA256 with a shared secret.
    #[default]
    Hs256,
    /// RSA PKCS#1 v1.5 with SHA-256; the key is the issuer's RSA public key (PEM).
    Rs256,
    /// ECDSA P-256 with SHA-256; the key is the issuer's EC public key (PEM).
    Es256,
}

impl KeyAlgorithm {
    fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::Hs256 => Algorithm::HS256,
            KeyAlgorithm::Rs256 => Algorithm::RS256,
            KeyAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

/// The query endpoint's token settings; see the module docs for each one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// How tokens are signed.
    pub algorithm: KeyAlgorithm,
    /// The key itself (HS256 secret or PEM public key).
    pub key: Option<Secret>,
    /// A file holding the key, used when `key` is not set.
    pub key_file: Option<PathBuf>,
    /// The required `iss`.
    pub issuer: Option<String>,
    /// The required `aud`.
    pub audience: Option<String>,
    /// The claim naming the caller's tenant.
    pub tenant_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            algorithm: KeyAlgorithm::Hs256,
            key: None,
            key_file: None,
            issuer: None,
            audience: None,
            tenant_claim: "tenant".to_string(),
            leeway_secs: 30,
        }
    }
}

impl Settings for AuthConfig {
    const SECTION: &'static str = "query_auth";
    const ENV_PREFIX: &'static str = "CAREBUS_QUERY_AUTH_";

    fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "algorithm" => {
                self.algorithm = match value.trim().to_ascii_uppercase().as_str() {
                    "HS256" => KeyAlgorithm::Hs256,
                    "RS256" => KeyAlgorithm::Rs256,
                    "ES256" => KeyAlgorithm::Es256,
                    _ => return Err(ConfigError::value(key, "HS256, RS256 or ES256")),
                }
            }
            "key" => self.key = Some(Secret::new(value)),
            "key_file" => self.key_file = Some(PathBuf::from(value.trim())),
            "issuer" => self.issuer = Some(non_empty(key, value)?),
            "audience" => self.audience = Some(non_empty(key, value)?),
            "tenant_claim" => self.tenant_claim = non_empty(key, value)?,
            "leeway_secs" => {
                self.leeway_secs = carebus_core::config::parse(key, value, "whole seconds")?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn properties(&mut self, _table: &str) -> Option<&mut BTreeMap<String, String>> {
        None
    }
}

fn non_empty(key: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    if v.is_empty() {
        Err(ConfigError::value(key, "a non-empty string"))
    } else {
        Ok(v.to_string())
    }
}

/// The configuration cannot make a verifier: a setting is missing or the key is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthSetupError {
    /// A setting is missing or the key file cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The key does not parse as what the algorithm needs.
    #[error(
        "query_auth key: not {expected} ({source}); set CAREBUS_QUERY_AUTH_KEY or query_auth.key_file to it"
    )]
    Key {
        /// What the algorithm needs.
        expected: &'static str,
        /// Why the key was refused (names the format problem, never key bytes).
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

/// Who is calling, as a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`.
    pub subject: String,
    /// The caller's tenant (the configured claim).
    pub tenant: String,
    /// The token's scopes (`scope`, space-separated).
    pub scopes: BTreeSet<String>,
}

impl Identity {
    /// Whether the token grants `scope`.
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Why a request's token was not accepted (an HTTP 401). The texts name the failed check,
/// never the token or its claims' values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("a bearer token is required (Authorization: Bearer <JWT>)")]
    Missing,
    /// The header is there but is not one bearer token.
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    /// The token failed a check.
    #[error("the token is not accepted: {0}")]
    Invalid(String),
}

impl AuthError {
    /// The RFC 6750 error code: `invalid_request` for a missing or malformed header,
    /// `invalid_token` otherwise.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing | AuthError::Malformed => "invalid_request",
            AuthError::Invalid(_) => "invalid_token",
        }
    }
}

/// Verifies bearer tokens with one key. Its `Debug` shows no key.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
    tenant_claim: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("tenant_claim", &self.tenant_claim)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier from the settings (reads `key_file` when `key` is not set).
    pub fn from_config(config: &AuthConfig) -> Result<TokenVerifier, AuthSetupError> {
        let required = |key: &str, what: &str| {
            ConfigError::value(
                format!("query_auth.{key}"),
                format!("{what} (CAREBUS_QUERY_AUTH_{})", key.to_ascii_uppercase()),
            )
        };
        let issuer = config
            .issuer
            .as_deref()
            .ok_or_else(|| required("issuer", "the issuer tokens must name"))?;
        let audience = config
            .audience
            .as_deref()
            .ok_or_else(|| required("audience", "the audience tokens must name"))?;
        let key_text = match (&config.key, &config.key_file) {
            (Some(k), _) => k.expose().to_string(),
            (None, Some(path)) => {
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?
            }
            (None, None) => {
                return Err(required(
                    "key",
                    "the HS256 secret or PEM public key, or query_auth.key_file",
                )
                .into());
            }
        };
        let key = match config.algorithm {
            KeyAlgorithm::Hs256 => {
                let secret = key_text.trim_end_matches(['\r', '\n']);
                if secret.len() < MIN_SECRET_LEN {
                    return Err(ConfigError::value(
                        "query_auth.key",
                        format!("an HS256 secret of at least {MIN_SECRET_LEN} bytes"),
                    )
                    .into());
                }
                DecodingKey::from_secret(secret.as_bytes()).map_err(|source| {
                    AuthSetupError::Key {
                        expected: "an HS256 secret",
                        source,
                    }
                })?
            }
            KeyAlgorithm::Rs256 => {
                DecodingKey::from_rsa_pem(key_text.as_bytes()).map_err(|source| {
                    AuthSetupError::Key {
                        expected: "a PEM RSA public key",
                        source,
                    }
                })?
            }
            KeyAlgorithm::Es256 => {
                DecodingKey::from_ec_pem(key_text.as_bytes()).map_err(|source| {
                    AuthSetupError::Key {
                        expected: "a PEM EC (P-256) public key",
                        source,
                    }
                })?
            }
        };
        let mut validation = Validation::new(config.algorithm.jwt());
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = config.leeway_secs;
        Ok(TokenVerifier {
            key,
            validation,
            tenant_claim: config.tenant_claim.clone(),
        })
    }

    /// Verify the value of an `Authorization` header (`None` when the request has none).
    pub fn verify_header(&self, header: Option<&[u8]>) -> Result<Identity, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let text = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = text.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        let token = token.trim();
        if token.is_empty() || token.contains(' ') {
            return Err(AuthError::Malformed);
        }
        self.verify(token)
    }

    /// Verify one token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Invalid(format!(
                "longer than {MAX_TOKEN_LEN} bytes"
            )));
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(reason(e.kind()).to_string()))?
            .claims;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| plain(s, 256))
            .ok_or_else(|| AuthError::Invalid("`sub` is not a short printable string".into()))?
            .to_string();
        let tenant = claims
            .get(&self.tenant_claim)
            .and_then(Value::as_str)
            .filter(|t| plain(t, 128))
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "the tenant claim `{}` is missing or not a printable string of 1 to 128 bytes",
                    self.tenant_claim
                ))
            })?
            .to_string();
        let scopes = match claims.get("scope") {
            None => BTreeSet::new(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(_) => {
                return Err(AuthError::Invalid(
                    "`scope` is not a space-separated string".into(),
                ));
            }
        };
        Ok(Identity {
            subject,
            tenant,
            scopes,
        })
    }
}

fn plain(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

/// The failed check, in words (never the token's content).
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "the issuer is not the configured one",
        ErrorKind::InvalidAudience => "the audience is not the configured one",
        ErrorKind::InvalidAlgorithm => "it is not signed with the configured algorithm",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "it has no `exp` claim",
            "iss" => "it has no `iss` claim",
            "aud" => "it has no `aud` claim",
            "sub" => "it has no `sub` claim",
            _ => "a required claim is missing",
        },
        ErrorKind::InvalidClaimFormat(_) => "a registered claim has the wrong type",
        _ => "it is not a well-formed JWT",
    }
}

#[cfg(test)]
#[path = "auth/tests.rs"]
mod tests;

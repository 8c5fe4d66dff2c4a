//! Access tokens turned into what a client may follow: HS256 (HMAC-SHA256) JSON Web Tokens naming the patients and care teams a client may see, signed with the service's key.

use super::hub::Audience;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Who holds it (a user or device id; logged, so never a name).
    pub sub: String,
    /// The patients whose notifications it may follow.
    #[serde(default)]
    pub patients: Vec<String>,
    /// The care teams whose notifications it may follow.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

impl Grant {
    /// Whether the grant covers `audience`.
    pub fn allows(&self, audience: &Audience) -> bool {
        match audience {
            Audience::Patient(p) => self.patients.iter().any(|x| x == p),
            Audience::CareTeam(t) => self.teams.iter().any(|x| x == t),
        }
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
#[error("the access token is not valid ({0}): ask for a new one")]
pub struct TokenError(#[source] jsonwebtoken::errors::Error);

/// Signs and checks tokens with one HMAC key.
#[derive(Clone)]
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKey {
    /// The key from its secret bytes.
    pub fn new(secret: &[u8]) -> Result<TokenKey, TokenError> {
        Ok(TokenKey {
            encoding: EncodingKey::from_secret(secret).map_err(TokenError)?,
            decoding: DecodingKey::from_secret(secret).map_err(TokenError)?,
        })
    }

    /// A signed token for `grant` (what an identity service would issue).
    pub fn issue(&self, grant: &Grant) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), grant, &self.encoding)
            .map_err(TokenError)
    }

    /// The grant of `token` when it is signed with this key (HS256 only) and not expired.
    pub fn check(&self, token: &str) -> Result<Grant, TokenError> {
        let validation = Validation::new(Algorithm::HS256);
        jsonwebtoken::decode::<Grant>(token, &self.decoding, &validation)
            .map(|t| t.claims)
            .map_err(TokenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            sub: "app-1".into(),
            patients: vec!["A".into()],
            teams: vec![],
            exp: 4_000_000_000,
        }
    }

    #[test]
    fn a_signed_token_grants_its_patients_only() {
        let key = TokenKey::new(b"secret-of-at-least-32-bytes-long!!").unwrap();
        let g = key.check(&key.issue(&grant()).unwrap()).unwrap();
        assert!(g.allows(&Audience::Patient("A".into())));
        assert!(!g.allows(&Audience::Patient("B".into())));
        assert!(!g.allows(&Audience::CareTeam("A".into())));
    }

    #[test]
    fn a_token_signed_with_another_key_or_expired_is_refused() {
        let key = TokenKey::new(b"secret-of-at-least-32-bytes-long!!").unwrap();
        let other = TokenKey::new(b"another-secret-of-32-bytes-long!!!").unwrap();
        assert!(key.check(&other.issue(&grant()).unwrap()).is_err());
        let expired = Grant { exp: 1, ..grant() };
        assert!(key.check(&key.issue(&expired).unwrap()).is_err());
        assert!(key.check("not a token").is_err());
    }
}

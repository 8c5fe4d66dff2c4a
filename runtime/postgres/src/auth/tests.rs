//! Token checks: each refusal (missing, malformed, wrong signature, expired, not yet valid, wrong issuer or audience, no tenant) and each key kind (HS256 secret, RS256 and ES256 PEM public keys) into accepted or refused identities.

use super::*;
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::json;

// Keys made for these tests only (openssl, throwaway); they protect nothing.
const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxYYnfnFpZHseFGQ5\n1YPhvoeCFlotDKc9/gvk8kkE/72hRANCAAQ3GWaIn7bnBKjj1qx4t0JPf0kBvTfc\no7qinID0xVYL8bkxNQLo++ZTe0ZGImaYNGKpdyxU7JM+uh5sZdqY1lxG\n-----END PRIVATE KEY-----\n";
const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENxlmiJ+25wSo49aseLdCT39JAb03\n3KO6opyA9MVWC/G5MTUC6PvmU3tGRiJmmDRiqXcsVOyTProebGXamNZcRg==\n-----END PUBLIC KEY-----\n";
const RSA_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCdwav4kHoZ2oQq\nZVipRXTXIUod2mqfaGZBoyL/pl2qjEmO5CMqQjhkHVXUaUoU9OP9W0m3A+xJpXtx\nulb6A9QlbUGSwSXDPpLXywE0oUqGoF3g2D5d0F/ca5bDcdxNexOJo14BubGyowFm\nzeRWX7S6Q52y7kflpeCWaEt1iFu5ESulpCK8E65mSLinGV4+N1JLra9wFxF9J6b/\nBCHecnoAJQN9i9CMRSvYrrbhnvjfk4ME3ew5bxoluGUdta85xN1QCmOFc64pz3hB\nmiUUM41703IbmtxfCnlBS33ZzoSmGWeRJrEz48HPB+JDLUFQHo1BQwpB2a2Kuh5S\ndJ5rdGGFAgMBAAECggEABcYss/afzXnyy/V1Kw7sgaJJivGvZOHGmmDs+0P82izz\n1UvS4K1XUIzFUza+XCmBfci9WDpHyANLUySRoemJdow68fLpXa3Y5Jac1u8PYgGV\nJhFsKPVjSNdUR5ePi3N1idxlqLUCBMqUFs3y7Vln7UhjyYSQs55ga8jp+CWTS+D/\nDIxiXMwUQ5O5rDKtvuDWITBfDmpAiRthQXtDLKsXJxKGSYiPzKg+egqECr2D+X/s\nNBqngBZgiluGBTT8E6TNMZpIEGC9z/VAo/2b8n/F+8JmgFoYQ1ZtT4EY0fzWZbuS\nS3hIOYn/2rJD50l7LAWkzaf0F0fF1a9/m5PZUqToMQKBgQDKgjYE5jORLxHVuzSi\n9VMk2clXmlv6YRC3rX3jn46ZsjYFRxwB+fUhBH5zpNUPLGBrFK5natXHvifKtlwk\n7LKZdDgeY7OQsQWdfy+TIj8gRzUhQ2S+/5vp+oWHew/K4l56NouOcHCj6bvs0K6t\nph5R9xoOZN3MuAkjVjiZyQ0a0QKBgQDHbUoAJbW9JiPWJlAnTumQ7xqO+s+BlIjg\nIBVXTlz/lVapeA90XiyYod6qJMv4lgx3DTPbR5Tn7I+Fs6EDjO5RJ+PqL/3wu+IY\nvTau2vWTYcY6kOkhCQUaLsweHXewBMfdQtoib4rEY2BVAu27f3A6grjfV+pxivcQ\nzUgCII0gdQKBgAYObt8mo1QsPDRQLPrSq3HmsYbVLvsF/CICJkmwc+tU0RjHT6cf\nep1KLR34SAb0JM4PCEg/gbU/kqEVYxwXmB/Owf7mrHAfWzOioiGcXJbyijw8b77m\nlhshSu0KWSaQLpMpHnNcGYJNczlZ5F99IFsDMNxNV/TPbDaKVZcD1EiBAoGBAL8n\n9+3KN7kV7PXhhaUYE/Pz7O4uZWbc3JKQzkQAfk4SdJ4+0fmGJ5MqXYeTe9xM36fi\nBNnkdEwWyb+r3ePMW8d4yBN7axsszN1PyTGz+f8Kknsi2gPrZHOjdc5MCqSzAG0L\nHpIxfr8eToFOLFg0IHxFPzX+TGAHhykYzDQVxZDdAoGBAI/3V8edzXFEtMGLb0pG\nb2dR5jZoztlDsFtXaF4LxuOk3nWkTBE549tlYoXuggVxw7c6BOh4FXNIm5G2Iwpu\ncZhq9aALegWvvEbpY/BbiVtG5RRiyoiJvMkq0E6iJuVqCIG7qtDFqWrMa3cbQMn1\n0TmpIoT0wPJlILNsaU4TL9cH\n-----END PRIVATE KEY-----\n";
const RSA_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAncGr+JB6GdqEKmVYqUV0\n1yFKHdpqn2hmQaMi/6ZdqoxJjuQjKkI4ZB1V1GlKFPTj/VtJtwPsSaV7cbpW+gPU\nJW1BksElwz6S18sBNKFKhqBd4Ng+XdBf3GuWw3HcTXsTiaNeAbmxsqMBZs3kVl+0\nukOdsu5H5aXglmhLdYhbuRErpaQivBOuZki4pxlePjdSS62vcBcRfSem/wQh3nJ6\nACUDfYvQjEUr2K624Z7435ODBN3sOW8aJbhlHbWvOcTdUApjhXOuKc94QZolFDON\ne9NyG5rcXwp5QUt92c6EphlnkSaxM+PBzwfiQy1BUB6NQUMKQdmtiroeUnSea3Rh\nhQIDAQAB\n-----END PUBLIC KEY-----\n";
const SECRET: &str = "test-secret-of-at-least-32-bytes!!";

fn config(algorithm: KeyAlgorithm, key: &str) -> AuthConfig {
    AuthConfig {
        algorithm,
        key: Some(Secret::new(key)),
        issuer: Some("https://idp.test".into()),
        audience: Some("carebus-query".into()),
        ..AuthConfig::default()
    }
}

fn claims() -> Value {
    let now = get_current_timestamp();
    json!({
        "sub": "dr-7", "tenant": "hospital-a", "scope": "events:read phi:read",
        "iss": "https://idp.test", "aud": "carebus-query", "exp": now + 300, "nbf": now - 10,
    })
}

fn hs(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[test]
fn an_hs256_token_gives_subject_tenant_and_scopes() {
    let v = TokenVerifier::from_config(&config(KeyAlgorithm::Hs256, SECRET)).unwrap();
    let header = format!("Bearer {}", hs(&claims()));
    let id = v.verify_header(Some(header.as_bytes())).unwrap();
    assert_eq!(id.subject, "dr-7");
    assert_eq!(id.tenant, "hospital-a");
    assert!(id.has(SCOPE_READ) && id.has(SCOPE_PHI));
    assert!(!id.has("events:write"));
}

#[test]
fn every_failed_check_is_refused_naming_the_check_not_the_token() {
    let v = TokenVerifier::from_config(&config(KeyAlgorithm::Hs256, SECRET)).unwrap();
    assert_eq!(v.verify_header(None), Err(AuthError::Missing));
    for bad in [&b"Basic abc"[..], b"Bearer", b"Bearer a b", b"\xff"] {
        assert_eq!(
            v.verify_header(Some(bad)),
            Err(AuthError::Malformed),
            "{bad:?}"
        );
    }
    let now = get_current_timestamp();
    let mut cases = Vec::new();
    let with = |k: &str, val: Value| {
        let mut c = claims();
        c[k] = val;
        c
    };
    let without = |k: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    cases.push((hs(&with("exp", json!(now - 120))), "expired"));
    cases.push((hs(&with("nbf", json!(now + 120))), "not valid yet"));
    cases.push((hs(&with("iss", json!("https://evil.test"))), "issuer"));
    cases.push((hs(&with("aud", json!("someone-else"))), "audience"));
    cases.push((hs(&without("exp")), "exp"));
    cases.push((hs(&without("sub")), "sub"));
    cases.push((hs(&without("tenant")), "tenant"));
    cases.push((hs(&with("tenant", json!(""))), "tenant"));
    cases.push((hs(&with("scope", json!(["events:read"]))), "scope"));
    let other = encode(
        &Header::default(),
        &claims(),
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes").unwrap(),
    )
    .unwrap();
    cases.push((other, "signature"));
    let es = encode(
        &Header::new(Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    cases.push((es, "algorithm"));
    cases.push(("not.a.jwt".to_string(), "well-formed"));
    for (token, why) in cases {
        let err = v.verify(&token).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.code(), "invalid_token");
        assert!(text.contains(why), "{why}: {text}");
        assert!(!text.contains(&token), "the token is not echoed");
    }
    // Within the leeway an expired token still passes.
    assert!(v.verify(&hs(&with("exp", json!(now - 5)))).is_ok());
}

#[test]
fn rs256_and_es256_verify_with_public_keys_from_pem() {
    let rs = TokenVerifier::from_config(&config(KeyAlgorithm::Rs256, RSA_PUBLIC)).unwrap();
    let token = encode(
        &Header::new(Algorithm::RS256),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(rs.verify(&token).unwrap().tenant, "hospital-a");
    // An HS256 token "signed" with the public key text is refused (algorithm confusion).
    let confused = encode(
        &Header::default(),
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()).unwrap(),
    )
    .unwrap();
    assert!(rs.verify(&confused).is_err());

    let es = TokenVerifier::from_config(&config(KeyAlgorithm::Es256, EC_PUBLIC)).unwrap();
    let token = encode(
        &Header::new(Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(es.verify(&token).unwrap().subject, "dr-7");
}

#[test]
fn settings_load_from_toml_and_env_and_never_show_the_key() {
    let mut c = AuthConfig::default();
    c.apply_toml(
        "[query_auth]\nalgorithm = \"es256\"\nissuer = \"https://idp.test\"\naudience = \"q\"\ntenant_claim = \"org\"\nleeway_secs = 5",
    )
    .unwrap()
    .apply_env([("CAREBUS_QUERY_AUTH_KEY".to_string(), EC_PUBLIC.to_string())])
    .unwrap();
    assert_eq!(c.algorithm, KeyAlgorithm::Es256);
    assert_eq!(c.tenant_claim, "org");
    assert_eq!(c.leeway_secs, 5);
    assert!(!format!("{c:?}").contains("BEGIN"), "Debug hides the key");
    let v = TokenVerifier::from_config(&c).unwrap();
    assert!(!format!("{v:?}").contains("BEGIN"));
    assert!(c.apply_toml("[query_auth]\nalgorithm = \"none\"").is_err());

    let short = config(KeyAlgorithm::Hs256, "short");
    let err = TokenVerifier::from_config(&short).unwrap_err().to_string();
    assert!(
        err.contains("at least 32 bytes") && !err.contains("short\""),
        "{err}"
    );
    let not_pem = config(KeyAlgorithm::Rs256, "not a key");
    let err = TokenVerifier::from_config(&not_pem)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("PEM RSA public key") && !err.contains("not a key"),
        "{err}"
    );
    let mut no_issuer = config(KeyAlgorithm::Hs256, SECRET);
    no_issuer.issuer = None;
    let err = TokenVerifier::from_config(&no_issuer)
        .unwrap_err()
        .to_string();
    assert!(err.contains("issuer"), "{err}");
    let mut from_file = config(KeyAlgorithm::Hs256, SECRET);
    from_file.key = None;
    from_file.key_file = Some("/nonexistent/carebus-key".into());
    let err = TokenVerifier::from_config(&from_file)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/carebus-key"), "{err}");
}

//! An OpenSearch (or Elasticsearch) URL and credentials in, HTTP requests out: the bulk API, index templates, ISM policies, index listing and deletion, over one kept-alive HTTP/1.1 connection (hyper).

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
/// HTTP methods of [`OpenSearch::request`].
pub use hyper::Method;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::Mutex;

/// Where the analytics store is and how to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenSearchConfig {
    /// Base URL, `http://host:port` (default `http://127.0.0.1:19200`, the cluster
    /// `scripts/services up opensearch` starts). `user:password@` in it is taken as credentials.
    pub url: String,
    /// Basic-auth user (or from the URL, or `CAREBUS_OPENSEARCH_USER`).
    pub user: Option<String>,
    /// Basic-auth password (or from the URL, or `CAREBUS_OPENSEARCH_PASSWORD`); never printed.
    pub password: Option<String>,
    /// How long one request may take before it counts as failed (default 30 s).
    pub request_timeout: Duration,
}

impl std::fmt::Debug for OpenSearchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSearchConfig")
            .field("url", &without_credentials(&self.url))
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// The cluster `scripts/services up opensearch` starts.
pub const DEFAULT_URL: &str = "http://127.0.0.1:19200";

impl Default for OpenSearchConfig {
    fn default() -> Self {
        OpenSearchConfig {
            url: DEFAULT_URL.into(),
            user: None,
            password: None,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl OpenSearchConfig {
    /// The defaults overridden by `CAREBUS_OPENSEARCH_URL`, `CAREBUS_OPENSEARCH_USER` and
    /// `CAREBUS_OPENSEARCH_PASSWORD` where set.
    pub fn from_env() -> OpenSearchConfig {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut c = OpenSearchConfig::default();
        if let Some(url) = var("CAREBUS_OPENSEARCH_URL") {
            c.url = url;
        }
        c.user = var("CAREBUS_OPENSEARCH_USER");
        c.password = var("CAREBUS_OPENSEARCH_PASSWORD");
        c
    }
}

/// Why a request to OpenSearch failed. Texts name the operation and OpenSearch's error type,
/// never a document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenSearchError {
    /// The URL cannot be used.
    #[error("OpenSearch URL `{url}`: {problem}")]
    BadUrl {
        /// The URL without credentials.
        url: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// No connection, or it broke.
    #[error(
        "{operation}: OpenSearch at {address} is unreachable: {source} (is it running? `./scripts/services up opensearch` starts the test cluster)"
    )]
    Unreachable {
        /// What was being done.
        operation: String,
        /// host:port.
        address: String,
        /// The I/O or HTTP error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No answer within the request timeout.
    #[error("{operation}: OpenSearch did not answer within {timeout:?}")]
    Timeout {
        /// What was being done.
        operation: String,
        /// The limit.
        timeout: Duration,
    },
    /// An answer with an error status.
    #[error("{operation}: OpenSearch answered {status}: {error_type}")]
    Status {
        /// What was being done.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// OpenSearch's `error.type` and `error.reason` (for requests that carry no documents).
        error_type: String,
    },
    /// An answer that is not the JSON expected.
    #[error("{operation}: unexpected answer from OpenSearch: {problem}")]
    Protocol {
        /// What was being done.
        operation: String,
        /// What was unexpected.
        problem: String,
    },
}

impl OpenSearchError {
    /// Whether trying again later may succeed (unreachable, timeout, 429, 5xx).
    pub fn is_retriable(&self) -> bool {
        match self {
            OpenSearchError::Unreachable { .. } | OpenSearchError::Timeout { .. } => true,
            OpenSearchError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A client of one OpenSearch cluster.
pub struct OpenSearch {
    address: String,
    host_header: String,
    base_path: String,
    authorization: Option<String>,
    timeout: Duration,
    connection: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for OpenSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSearch")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// An HTTP answer: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body as JSON.
    pub body: Value,
}

impl OpenSearch {
    /// A client for `config.url` (`http://` only: put a TLS-terminating proxy in front of a
    /// cluster that only speaks HTTPS).
    pub fn new(config: &OpenSearchConfig) -> Result<OpenSearch, OpenSearchError> {
        let bad = |problem| OpenSearchError::BadUrl {
            url: without_credentials(&config.url),
            problem,
        };
        let rest = if let Some(rest) = config.url.strip_prefix("http://") {
            rest
        } else if config.url.starts_with("https://") {
            return Err(bad(
                "https is not supported by this client; reach the cluster over http (e.g. through a TLS-terminating proxy on the same host)",
            ));
        } else {
            return Err(bad("expected http://host:port"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host_port.is_empty() {
            return Err(bad("no host"));
        }
        let address = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:80")
        };
        let (mut user, mut password) = (config.user.clone(), config.password.clone());
        if let Some(u) = userinfo {
            let (u, p) = u.split_once(':').unwrap_or((u, ""));
            user.get_or_insert_with(|| u.to_owned());
            password.get_or_insert_with(|| p.to_owned());
        }
        let authorization = user.map(|u| {
            let pair = format!("{u}:{}", password.unwrap_or_default());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Ok(OpenSearch {
            address,
            host_header: host_port.to_owned(),
            base_path: path.to_owned(),
            authorization,
            timeout: config.request_timeout,
            connection: Mutex::new(None),
        })
    }

    /// `host:port` of the cluster.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Send one request; `body` is JSON or NDJSON text. Any HTTP status is an [`Answer`];
    /// only transport failures are errors.
    pub async fn request(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<Answer, OpenSearchError> {
        match tokio::time::timeout(self.timeout, self.exchange(operation, method, path, body)).await
        {
            Ok(answer) => answer,
            Err(_) => {
                // The connection may hold a half-read answer: start over on a new one.
                *self.connection.lock().await = None;
                Err(OpenSearchError::Timeout {
                    operation: operation.to_owned(),
                    timeout: self.timeout,
                })
            }
        }
    }

    async fn exchange(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<Answer, OpenSearchError> {
        let unreachable =
            |source: Box<dyn std::error::Error + Send + Sync>| OpenSearchError::Unreachable {
                operation: operation.to_owned(),
                address: self.address.clone(),
                source,
            };
        let mut slot = self.connection.lock().await;
        let reusable = match slot.take() {
            Some(mut s) if !s.is_closed() => s.ready().await.is_ok().then_some(s),
            _ => None,
        };
        let mut sender = match reusable {
            Some(s) => s,
            None => {
                let stream = tokio::net::TcpStream::connect(&self.address)
                    .await
                    .map_err(|e| unreachable(Box::new(e)))?;
                let _ = stream.set_nodelay(true);
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .map_err(|e| unreachable(Box::new(e)))?;
                tokio::spawn(async move {
                    // Ends when the sender is dropped or the peer closes; errors surface on
                    // the next request.
                    let _ = connection.await;
                });
                sender
            }
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_path))
            .header(hyper::header::HOST, &self.host_header);
        if let Some(auth) = &self.authorization {
            builder = builder.header(hyper::header::AUTHORIZATION, auth);
        }
        let request = match body {
            Some((content_type, bytes)) => builder
                .header(hyper::header::CONTENT_TYPE, content_type)
                .body(Full::new(bytes)),
            None => builder.body(Full::new(Bytes::new())),
        }
        .map_err(|e| OpenSearchError::Protocol {
            operation: operation.to_owned(),
            problem: e.to_string(),
        })?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(Box::new(e)))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(Box::new(e)))?
            .to_bytes();
        *slot = Some(sender);
        drop(slot);
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| OpenSearchError::Protocol {
                operation: operation.to_owned(),
                problem: format!("the body is not JSON ({e})"),
            })?
        };
        Ok(Answer { status, body })
    }

    /// A request whose answer must be a success (2xx); its error is described by OpenSearch's
    /// `error.type` and `error.reason` (these requests carry no documents).
    pub async fn expect_ok(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, OpenSearchError> {
        let body = body.map(|b| ("application/json", Bytes::from(b.to_string())));
        let answer = self.request(operation, method, path, body).await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(OpenSearchError::Status {
                operation: operation.to_owned(),
                status: answer.status.as_u16(),
                error_type: error_text(&answer.body),
            })
        }
    }

    /// Whether the cluster answers at all (`GET /`).
    pub async fn ping(&self) -> Result<(), OpenSearchError> {
        self.expect_ok("ping", Method::GET, "/", None)
            .await
            .map(drop)
    }

    /// Whether the Index State Management plugin is installed (`GET _plugins/_ism/policies`).
    pub async fn has_ism(&self) -> Result<bool, OpenSearchError> {
        let answer = self
            .request(
                "look for the ISM plugin",
                Method::GET,
                "/_plugins/_ism/policies",
                None,
            )
            .await?;
        Ok(answer.status.is_success())
    }

    /// Send an NDJSON bulk body (`POST _bulk`). The answer's per-item results are the
    /// caller's to read; a non-2xx answer to the whole request is an error.
    pub async fn bulk(&self, ndjson: Bytes) -> Result<Value, OpenSearchError> {
        let answer = self
            .request(
                "bulk index",
                Method::POST,
                "/_bulk",
                Some(("application/x-ndjson", ndjson)),
            )
            .await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            // The whole request failed: no document was indexed; the answer may quote one,
            // so only its error type is kept.
            Err(OpenSearchError::Status {
                operation: "bulk index".into(),
                status: answer.status.as_u16(),
                error_type: answer.body["error"]["type"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_owned(),
            })
        }
    }
}

/// `error.type: error.reason` of an error answer.
fn error_text(body: &Value) -> String {
    match (&body["error"]["type"], &body["error"]["reason"]) {
        (Value::String(t), Value::String(r)) => {
            let mut text = format!("{t}: {r}");
            let mut cause = &body["error"]["caused_by"];
            while let Some(reason) = cause["reason"].as_str() {
                text.push_str(&format!("; caused by: {reason}"));
                cause = &cause["caused_by"];
            }
            text
        }
        (Value::String(t), _) => t.clone(),
        _ => match &body["error"] {
            Value::String(s) => s.clone(),
            _ => "no error description".into(),
        },
    }
}

/// The URL without `user:password@`, for messages.
pub fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_url_or_the_config_and_never_print() {
        let c = OpenSearchConfig {
            url: "http://analyst:s3cret@search.internal:9200/prefix/".into(),
            ..OpenSearchConfig::default()
        };
        let os = OpenSearch::new(&c).unwrap();
        assert_eq!(os.address(), "search.internal:9200");
        assert_eq!(os.base_path, "/prefix");
        let expected = base64::engine::general_purpose::STANDARD.encode("analyst:s3cret");
        assert_eq!(
            os.authorization.as_deref(),
            Some(&*format!("Basic {expected}"))
        );
        assert_eq!(
            without_credentials(&c.url),
            "http://search.internal:9200/prefix/"
        );
        let with_password = OpenSearchConfig {
            password: Some("s3cret".into()),
            ..c
        };
        assert!(!format!("{with_password:?}").contains("s3cret"));
        let https = OpenSearchConfig {
            url: "https://search.internal:9200".into(),
            ..OpenSearchConfig::default()
        };
        let err = OpenSearch::new(&https).unwrap_err().to_string();
        assert!(err.contains("https is not supported"), "{err}");
    }
}

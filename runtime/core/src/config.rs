//! TOML files and `CAREBUS_*` environment variables in, settings of any carebus configuration out: the one loader the publisher, consumer and Kafka configurations share.
//!
//! A configuration implements [`Settings`] — its TOML table, its environment prefix, a `set`
//! for one setting by key and the property tables it passes through — and gets the rest:
//!
//! ```
//! use carebus_core::config::{ConfigError, Settings};
//! use std::collections::BTreeMap;
//!
//! #[derive(Default)]
//! struct Pager {
//!     pages: u32,
//!     properties: BTreeMap<String, String>,
//! }
//!
//! impl Settings for Pager {
//!     const SECTION: &'static str = "pager";
//!     const ENV_PREFIX: &'static str = "CAREBUS_PAGER_";
//!     fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
//!         match key {
//!             "pages" => self.pages = carebus_core::config::parse(key, value, "a whole number")?,
//!             _ => return Ok(false),
//!         }
//!         Ok(true)
//!     }
//!     fn properties(&mut self, table: &str) -> Option<&mut BTreeMap<String, String>> {
//!         (table == "properties").then_some(&mut self.properties)
//!     }
//! }
//!
//! let mut pager = Pager::default();
//! pager
//!     .apply_toml("[pager]\npages = 3\n[pager.properties]\n\"linger.ms\" = 5")?
//!     .apply_env([("CAREBUS_PAGER_PROP_FETCH_MIN_BYTES".to_string(), "1".to_string())])?;
//! assert_eq!(pager.pages, 3);
//! assert_eq!(pager.properties["linger.ms"], "5");
//! assert_eq!(pager.properties["fetch.min.bytes"], "1");
//! assert!(pager.apply_toml("[pager]\npagez = 1").is_err()); // names `pager.pagez`
//! # Ok::<(), ConfigError>(())
//! ```
//!
//! In a file, the configuration's table (`[publisher]`, `[consumer]`, `[kafka]`) holds its
//! settings; sub-tables (`[kafka.properties]`) hold properties passed through untouched. In
//! the environment, `<PREFIX>KEY` sets the setting `key` (lower-cased) and
//! `<PREFIX>PROP_A_B` the property `a.b`. [`Settings::load`] applies the file named by
//! `CAREBUS_CONFIG` (if set), then the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the TOML file [`Settings::load`] reads.
pub const CONFIG_FILE_VAR: &str = "CAREBUS_CONFIG";

/// A setting could not be read: the file, the TOML, or a value. Names the key and what was
/// expected; never holds a value that could be a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file named (by `CAREBUS_CONFIG` or the caller).
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("config {origin} is not valid TOML: {message}")]
    Syntax {
        /// The file path, or `<text>` for TOML passed as a string.
        origin: String,
        /// The TOML parser's message.
        message: String,
    },
    /// A setting has a value it cannot take, or is not a setting of its table.
    #[error("setting `{key}`: expected {expected}")]
    Value {
        /// The setting as its reader wrote it: `section.key` in a file, the variable name in
        /// the environment.
        key: String,
        /// What the setting takes (`"milliseconds as a whole number"`), never the value given.
        expected: String,
    },
}

impl ConfigError {
    /// The same error naming the setting as its reader sees it (`section.key` in a file, the
    /// variable in the environment).
    fn at(self, key: &str) -> ConfigError {
        match self {
            ConfigError::Value { expected, .. } => ConfigError::Value {
                key: key.to_string(),
                expected,
            },
            other => other,
        }
    }

    /// A value error for `key`.
    pub fn value(key: impl Into<String>, expected: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            key: key.into(),
            expected: expected.into(),
        }
    }
}

/// Parse a setting's text, naming the key and what was `expected` when it does not parse.
pub fn parse<N: std::str::FromStr>(
    key: &str,
    value: &str,
    expected: &str,
) -> Result<N, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::value(key, expected))
}

/// A setting in milliseconds as a [`Duration`](std::time::Duration).
pub fn millis(key: &str, value: &str) -> Result<std::time::Duration, ConfigError> {
    parse(key, value, "milliseconds as a whole number").map(std::time::Duration::from_millis)
}

/// A secret setting (a password, a signing secret, a key): its `Debug` never shows the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Read a secret from `path` (a file holding only it; one trailing line break is not part
    /// of it). The error names the file, never its content.
    pub fn from_file(path: &std::path::Path) -> Result<Secret, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        Ok(Secret(text.strip_suffix('\r').unwrap_or(text).to_string()))
    }

    /// The secret itself, to hand to what needs it (never to a log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([hidden])")
    }
}

/// A comma-separated list setting (blank items dropped).
pub fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A configuration the shared loader can fill from TOML and the environment.
pub trait Settings {
    /// Its table in a TOML file, e.g. `publisher` for `[publisher]`.
    const SECTION: &'static str;
    /// Its environment prefix, e.g. `CAREBUS_CONSUMER_`.
    const ENV_PREFIX: &'static str;
    /// Names after the prefix that are not settings of this configuration.
    const ENV_SKIP: &'static [&'static str] = &[];

    /// Set one setting by its key; `Ok(false)` when the key is not one of this configuration's.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError>;

    /// The property map a sub-table (`properties`, or e.g. `producer` for Kafka) fills;
    /// `None` when the table is not one.
    fn properties(&mut self, table: &str) -> Option<&mut BTreeMap<String, String>>;

    /// Apply this configuration's table of TOML text (other tables are left alone); an unknown
    /// key is an error naming `section.key`.
    fn apply_toml(&mut self, text: &str) -> Result<&mut Self, ConfigError>
    where
        Self: Sized,
    {
        apply_toml_text(self, text, "<text>")?;
        Ok(self)
    }

    /// Apply this configuration's table of a TOML file.
    fn apply_file(&mut self, path: impl AsRef<Path>) -> Result<&mut Self, ConfigError>
    where
        Self: Sized,
    {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        apply_toml_text(self, &text, &path.display().to_string())?;
        Ok(self)
    }

    /// Apply `<PREFIX>*` variables from `vars` (pass `std::env::vars()`); a variable whose name
    /// is not a setting of this configuration is left alone (it may belong to another).
    fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<&mut Self, ConfigError>
    where
        Self: Sized,
    {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(Self::ENV_PREFIX) else {
                continue;
            };
            if let Some(prop) = rest.strip_prefix("PROP_") {
                if let Some(props) = self.properties("properties") {
                    props.insert(prop.to_ascii_lowercase().replace('_', "."), value);
                }
            } else if !Self::ENV_SKIP.contains(&rest) {
                self.set(&rest.to_ascii_lowercase(), &value)
                    .map_err(|e| e.at(&name))?;
            }
        }
        Ok(self)
    }

    /// Apply the file named by `CAREBUS_CONFIG` (if set), then the environment.
    fn load(mut self) -> Result<Self, ConfigError>
    where
        Self: Sized,
    {
        if let Some(path) = std::env::var_os(CONFIG_FILE_VAR) {
            self.apply_file(path)?;
        }
        self.apply_env(std::env::vars())?;
        Ok(self)
    }

    /// Set a property passed through untouched (a librdkafka property for Kafka).
    fn property(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self
    where
        Self: Sized,
    {
        if let Some(props) = self.properties("properties") {
            props.insert(name.into(), value.into());
        }
        self
    }
}

fn apply_toml_text<S: Settings>(s: &mut S, text: &str, origin: &str) -> Result<(), ConfigError> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            origin: origin.to_string(),
            message: e.message().to_string(),
        })?;
    let Some(table) = doc.get(S::SECTION).and_then(|v| v.as_table()) else {
        return Ok(());
    };
    for (key, value) in table {
        if let toml::Value::Table(props) = value {
            let section = S::SECTION;
            let target = s.properties(key).ok_or_else(|| {
                ConfigError::value(
                    format!("{section}.{key}"),
                    "a setting, not a table (see this configuration's documentation)",
                )
            })?;
            for (k, v) in props {
                target.insert(k.clone(), scalar(&format!("{section}.{key}.{k}"), v)?);
            }
        } else if key == "properties" || s.properties(key).is_some() {
            return Err(ConfigError::value(
                format!("{}.{key}", S::SECTION),
                "a table of properties",
            ));
        } else if !s
            .set(key, &setting_text(value))
            .map_err(|e| e.at(&format!("{}.{key}", S::SECTION)))?
        {
            return Err(ConfigError::value(
                format!("{}.{key}", S::SECTION),
                format!(
                    "a known setting of [{}] (see its configuration's documentation)",
                    S::SECTION
                ),
            ));
        }
    }
    Ok(())
}

/// A TOML value as the text a setting takes: strings as they are, arrays joined by commas,
/// anything else as TOML writes it.
fn setting_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// A property value: a string, number or boolean.
fn scalar(key: &str, v: &toml::Value) -> Result<String, ConfigError> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
            Ok(v.to_string())
        }
        _ => Err(ConfigError::value(key, "a string, number or boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug)]
    struct Two {
        a: u32,
        properties: BTreeMap<String, String>,
        producer: BTreeMap<String, String>,
    }

    impl Settings for Two {
        const SECTION: &'static str = "two";
        const ENV_PREFIX: &'static str = "CAREBUS_TWO_";
        const ENV_SKIP: &'static [&'static str] = &["CONFIG"];
        fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
            match key {
                "a" => self.a = parse(key, value, "a whole number")?,
                _ => return Ok(false),
            }
            Ok(true)
        }
        fn properties(&mut self, table: &str) -> Option<&mut BTreeMap<String, String>> {
            match table {
                "properties" => Some(&mut self.properties),
                "producer" => Some(&mut self.producer),
                _ => None,
            }
        }
    }

    fn key_of(r: Result<&mut Two, ConfigError>) -> String {
        match r {
            Err(ConfigError::Value { key, .. }) => key,
            other => panic!("expected a value error, got {other:?}"),
        }
    }

    #[test]
    fn tables_settings_and_properties() {
        let mut t = Two::default();
        t.apply_toml(
            "[other]\nx = 1\n[two]\na = 7\n[two.properties]\n\"linger.ms\" = 5\n[two.producer]\nacks = \"all\"",
        )
        .unwrap();
        assert_eq!(t.a, 7);
        assert_eq!(t.properties["linger.ms"], "5");
        assert_eq!(t.producer["acks"], "all");
        assert_eq!(key_of(t.apply_toml("[two]\nb = 1")), "two.b");
        assert_eq!(key_of(t.apply_toml("[two]\na = \"x\"")), "two.a");
        assert_eq!(
            key_of(t.apply_toml("[two]\nproperties = 3")),
            "two.properties"
        );
        assert_eq!(
            key_of(t.apply_toml("[two.consumer]\nx = 1")),
            "two.consumer"
        );
        assert_eq!(
            key_of(t.apply_toml("[two.properties]\nx = [1]")),
            "two.properties.x"
        );
        assert!(matches!(
            t.apply_toml("[two"),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn environment_settings_properties_and_others_left_alone() {
        let mut t = Two::default();
        let vars = [
            ("CAREBUS_TWO_A", "3"),
            ("CAREBUS_TWO_PROP_FETCH_MIN_BYTES", "1"),
            ("CAREBUS_TWO_CONFIG", "ignored"),
            ("CAREBUS_TWO_UNKNOWN", "ignored"),
            ("CAREBUS_OTHER_A", "9"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        t.apply_env(vars).unwrap();
        assert_eq!(t.a, 3);
        assert_eq!(t.properties["fetch.min.bytes"], "1");
        assert_eq!(
            key_of(t.apply_env([("CAREBUS_TWO_A".to_string(), "many".to_string())])),
            "CAREBUS_TWO_A"
        );
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = Two::default()
            .apply_file("/nonexistent/carebus.toml")
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/carebus.toml"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}

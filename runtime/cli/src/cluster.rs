//! The cluster options every carebus Kafka command shares (`--bootstrap`, security, `-X KEY=VALUE`) turned into a bootstrap address and librdkafka properties.

use std::collections::BTreeMap;

/// Where the cluster is and how to talk to it; `#[command(flatten)]` it into a command.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Kafka bootstrap servers (host:port,...).
    #[arg(
        long,
        env = "CAREBUS_KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:19092",
        global = true
    )]
    pub bootstrap: String,
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long, env = "CAREBUS_KAFKA_SECURITY_PROTOCOL", global = true)]
    pub security_protocol: Option<String>,
    /// SASL username (SCRAM-SHA-512 unless -X sasl.mechanisms says otherwise).
    #[arg(long, env = "CAREBUS_KAFKA_SASL_USERNAME", global = true)]
    pub sasl_username: Option<String>,
    /// File holding only the SASL password.
    #[arg(long, env = "CAREBUS_KAFKA_SASL_PASSWORD_FILE", global = true)]
    pub sasl_password_file: Option<std::path::PathBuf>,
    /// PEM file of the CA that signed the brokers' certificates.
    #[arg(long, env = "CAREBUS_KAFKA_SSL_CA_LOCATION", global = true)]
    pub ssl_ca_location: Option<std::path::PathBuf>,
    /// Extra librdkafka property, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub property: Vec<String>,
}

impl ClusterArgs {
    /// The security options and the `-X` properties by name (`-X` wins); the error names the
    /// `-X` that is not `KEY=VALUE` or the password file that cannot be read.
    pub fn properties(&self) -> Result<BTreeMap<String, String>, String> {
        let password = match &self.sasl_password_file {
            Some(path) => {
                Some(carebus::config::Secret::from_file(path).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let security = carebus::kafka::KafkaSecurity {
            protocol: self.security_protocol.clone(),
            sasl_mechanism: None,
            username: self.sasl_username.clone(),
            password,
            ca_location: self.ssl_ca_location.clone(),
        };
        let mut out: BTreeMap<String, String> = security
            .properties()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for p in &self.property {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("-X takes KEY=VALUE, got `{p}`"))?;
            out.insert(k.to_string(), v.to_string());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(property: &[&str]) -> ClusterArgs {
        ClusterArgs {
            bootstrap: "127.0.0.1:19092".into(),
            security_protocol: None,
            sasl_username: None,
            sasl_password_file: None,
            ssl_ca_location: None,
            property: property.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn properties_split_at_the_first_equals_sign() {
        let p = args(&["security.protocol=SSL", "sasl.password=a=b"])
            .properties()
            .unwrap();
        assert_eq!(p["security.protocol"], "SSL");
        assert_eq!(p["sasl.password"], "a=b");
    }

    #[test]
    fn a_property_without_equals_sign_is_named_in_the_error() {
        let err = args(&["acks=all", "linger.ms"]).properties().unwrap_err();
        assert!(err.contains("`linger.ms`"), "{err}");
    }
}

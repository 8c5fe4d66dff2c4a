//! The cluster options every carebus Kafka command shares (`--bootstrap`, `-X KEY=VALUE`) turned into a bootstrap address and librdkafka properties.

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
    /// Extra librdkafka property, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_name = "KEY=VALUE", global = true)]
    pub property: Vec<String>,
}

impl ClusterArgs {
    /// The `-X` properties by name; the error names the one that is not `KEY=VALUE`.
    pub fn properties(&self) -> Result<BTreeMap<String, String>, String> {
        self.property
            .iter()
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("-X takes KEY=VALUE, got `{p}`"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(property: &[&str]) -> ClusterArgs {
        ClusterArgs {
            bootstrap: "127.0.0.1:19092".into(),
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

//! The publisher's outbox configuration turned into refusals and limits: no key, a key file, another key after a restart, a full outbox, the settings from TOML and the environment.

use crate::common::handlers::eventually;
use crate::common::*;
use crate::publisher::{outage, temp_dir};
use carebus::Settings;
use carebus::publisher::OutboxKey;
use carebus::{Delivery, PublishError, PublishOptions, Publisher, PublisherConfig};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The `Storage` error of a publisher that could not be built, as text.
fn refused(result: Result<Publisher<crate::publisher::Flaky>, PublishError>) -> String {
    match result {
        Ok(_) => panic!("the publisher was built"),
        Err(e @ PublishError::Storage { what: "outbox", .. }) => e.to_string(),
        Err(e) => panic!("expected an outbox error, got {e:?}"),
    }
}

#[tokio::test]
async fn an_outbox_without_a_key_is_refused_with_how_to_set_one() {
    let (_bus, flaky, dir, config) = outage("outbox-no-key");
    let config = PublisherConfig {
        outbox_key: None,
        ..config
    };
    let text = refused(Publisher::new(flaky, config));
    for hint in ["no key", "CAREBUS_OUTBOX_KEY", "outbox_key_file", "base64"] {
        assert!(text.contains(hint), "{hint} in: {text}");
    }
    assert!(
        !dir.join("outbox.redb").exists(),
        "nothing written without a key"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_key_comes_from_a_file_and_a_restart_with_another_key_fails_clearly() {
    let (_bus, flaky, dir, config) = outage("outbox-key-file");
    let key_file = dir.join("outbox.key");
    let key = OutboxKey::generate();
    std::fs::write(&key_file, format!("{}\n", key.to_base64())).unwrap();
    let config = PublisherConfig {
        outbox_key: None,
        outbox_key_file: Some(key_file.clone()),
        ..config
    };
    let publisher = Publisher::new(flaky.clone(), config.clone()).unwrap();
    let queued = publisher
        .publish_event(PatientDischarged::new("p-1", 1), PublishOptions::default())
        .await
        .unwrap();
    assert!(queued.is_queued(), "{queued:?}");
    publisher.close().await;
    drop(publisher);

    // Another key: refused, and the record stays for the right one.
    let other = PublisherConfig {
        outbox_key: Some(OutboxKey::generate()),
        ..config.clone()
    };
    let text = refused(Publisher::new(flaky.clone(), other));
    assert!(text.contains("another key"), "{text}");
    assert!(!text.contains(&key.to_base64()), "no key material: {text}");
    let publisher = Publisher::new(flaky.clone(), config.clone()).unwrap();
    assert_eq!(publisher.outbox_len(), 1);
    publisher.close().await;
    drop(publisher);

    // A key file that holds no key, and one that is missing.
    std::fs::write(&key_file, "c2hvcnQ=").unwrap();
    let text = refused(Publisher::new(flaky.clone(), config.clone()));
    assert!(
        text.contains("32 bytes") && text.contains("outbox.key"),
        "{text}"
    );
    std::fs::remove_file(&key_file).unwrap();
    let text = refused(Publisher::new(flaky, config));
    assert!(text.contains("cannot read the outbox key file"), "{text}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_full_outbox_fails_the_publish_clearly_and_delivers_what_it_holds() {
    let (bus, flaky, dir, config) = outage("outbox-full");
    let config = PublisherConfig {
        outbox_max_bytes: 4_000,
        ..config
    };
    let publisher = Publisher::new(flaky.clone(), config).unwrap();
    let mut queued = Vec::new();
    let full = loop {
        match publisher
            .publish_event(
                PatientDischarged::new("p-1", queued.len() as i64),
                PublishOptions::default(),
            )
            .await
        {
            Ok(Delivery::Queued { event_id, .. }) => queued.push(event_id),
            Ok(other) => panic!("the transport is down: {other:?}"),
            Err(e) => break e,
        }
        assert!(queued.len() < 100, "the limit was never reached");
    };
    assert!(!queued.is_empty());
    let PublishError::OutboxFull {
        used_bytes,
        limit_bytes,
        ref topic,
        ..
    } = full
    else {
        panic!("expected OutboxFull, got {full:?}");
    };
    assert_eq!(limit_bytes, 4_000);
    assert!(used_bytes <= limit_bytes && used_bytes > 0);
    assert_eq!(topic, TOPIC);
    let text = full.to_string();
    for hint in ["outbox is full", "4000 bytes", "CAREBUS_OUTBOX_MAX_BYTES"] {
        assert!(text.contains(hint), "{hint} in: {text}");
    }
    assert!(!text.contains("p-1"), "no event data: {text}");
    assert_eq!(
        publisher.outbox_len(),
        queued.len(),
        "the refused one is not kept"
    );

    flaky.down.store(false, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(10), || publisher.outbox_len() == 0).await);
    let delivered: Vec<String> = bus
        .topic_records(TOPIC)
        .iter()
        .map(|r| {
            carebus::transport::header_str(&r.headers, carebus::envelope::headers::ID)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        delivered, queued,
        "what the outbox held, delivered in order"
    );
    let after = publisher
        .publish_event(PatientDischarged::new("p-1", 99), PublishOptions::default())
        .await
        .unwrap();
    assert!(matches!(after, Delivery::Delivered(_)), "{after:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn outbox_settings_come_from_toml_and_the_environment_without_echoing_the_key() {
    let key = OutboxKey::generate();
    let dir = temp_dir("outbox-settings");
    let mut config = PublisherConfig::default();
    config
        .apply_toml(&format!(
            "[publisher]\noutbox_dir = \"{}\"\noutbox_key = \"{}\"\noutbox_max_bytes = 5000\n",
            dir.display(),
            key.to_base64()
        ))
        .unwrap();
    assert_eq!(config.outbox_key.as_ref(), Some(&key));
    assert_eq!(config.outbox_max_bytes, 5_000);
    assert!(
        !format!("{config:?}").contains(&key.to_base64()),
        "Debug hides the key"
    );
    config
        .apply_env([
            ("CAREBUS_OUTBOX_MAX_BYTES".to_string(), "6000".to_string()),
            (
                "CAREBUS_OUTBOX_KEY_FILE".to_string(),
                "/run/secrets/outbox".to_string(),
            ),
        ])
        .unwrap();
    assert_eq!(config.outbox_max_bytes, 6_000);
    assert_eq!(
        config.outbox_key_file.as_deref(),
        Some(std::path::Path::new("/run/secrets/outbox"))
    );
    let secret = "c2VjcmV0LWJ1dC1zaG9ydA==";
    let err = config
        .apply_env([("CAREBUS_OUTBOX_KEY".to_string(), secret.to_string())])
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("CAREBUS_OUTBOX_KEY") && text.contains("32 bytes"),
        "{text}"
    );
    assert!(
        !text.contains(secret),
        "the refused text is not echoed: {text}"
    );
    assert_eq!(PublisherConfig::default().outbox_max_bytes, 1 << 30);
    std::fs::remove_dir_all(dir).ok();
}

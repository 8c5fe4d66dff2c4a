//! The topics spec (IR topics) in, a `TOPICS` table of `carebus_core::TopicSpec` out: the one description of each topic — and of the dead-letter and retry topics carebus writes on its behalf — that services, the in-process bus and `carebus-topics` read.

use super::Ctx;
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::BTreeSet;

/// How long dead-letter records are kept: long enough to be looked at and redriven.
const DEAD_LETTER_RETENTION_MS: i64 = 30 * 86_400_000;

/// One `TopicSpec` literal.
struct SpecTokens<'t> {
    name: &'t str,
    doc: Option<&'t str>,
    partitions: u32,
    replication_factor: u16,
    retention_ms: Option<i64>,
    compacted: bool,
    min_insync_replicas: Option<u16>,
    key: &'t str,
    events: &'t [&'t str],
    configs: &'t [(String, String)],
    derived_from: Option<&'t str>,
}

impl SpecTokens<'_> {
    fn tokens(&self) -> TokenStream {
        let some = |t: TokenStream| quote!(::core::option::Option::Some(#t));
        let none = || quote!(::core::option::Option::None);
        let name = self.name;
        let doc = self.doc.map_or_else(none, |d| some(quote!(#d)));
        // The loader checked both are positive; Kafka's admin API counts in i32.
        let partitions = i32::try_from(self.partitions).unwrap_or(i32::MAX);
        let rf = i32::from(self.replication_factor);
        let retention = self.retention_ms.map_or_else(none, |ms| some(quote!(#ms)));
        let cleanup = if self.compacted {
            quote!(::carebus_core::CleanupPolicy::Compact)
        } else {
            quote!(::carebus_core::CleanupPolicy::Delete)
        };
        let min_isr = self.min_insync_replicas.map_or_else(none, |n| {
            let n = i32::from(n);
            some(quote!(#n))
        });
        let key = self.key;
        let events = self.events.iter();
        let configs = self.configs.iter().map(|(k, v)| quote!((#k, #v)));
        let derived_from = self.derived_from.map_or_else(none, |t| some(quote!(#t)));
        quote! {
            ::carebus_core::TopicSpec {
                name: #name,
                doc: #doc,
                partitions: #partitions,
                replication_factor: #rf,
                retention_ms: #retention,
                cleanup_policy: #cleanup,
                min_insync_replicas: #min_isr,
                key: #key,
                events: &[#(#events),*],
                configs: &[#(#configs),*],
                derived_from: #derived_from,
            }
        }
    }
}

/// `pub static TOPICS: &[::carebus_core::TopicSpec<'static>] = &[...];`: each topic in
/// topic-name order followed by its dead-letter and retry topics, then the publishers'
/// dead-letter topic.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let mut specs = Vec::new();
    let mut all_events = BTreeSet::new();
    for t in &ctx.model.topics {
        let events: BTreeSet<&str> = ctx
            .model
            .events
            .iter()
            .filter(|e| e.topic == t.name)
            .map(|e| e.name.as_str())
            .collect();
        all_events.extend(events.iter().copied());
        let events: Vec<&str> = events.into_iter().collect();
        let own = SpecTokens {
            name: &t.name,
            doc: t.doc.as_deref(),
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            retention_ms: t.retention_ms,
            compacted: t.compacted,
            min_insync_replicas: t.min_insync_replicas,
            key: &t.key,
            events: &events,
            configs: &t.configs,
            derived_from: None,
        };
        specs.push(own.tokens());
        if let Some(dlq) = t.dead_letter_topic() {
            let doc = format!(
                "Records of `{}` its consumers could not handle, with the reason in their headers.",
                t.name
            );
            specs.push(
                SpecTokens {
                    name: &dlq,
                    doc: Some(&doc),
                    retention_ms: Some(DEAD_LETTER_RETENTION_MS),
                    compacted: false,
                    derived_from: Some(&t.name),
                    ..own
                }
                .tokens(),
            );
        }
        for (level, retry) in t.retry_topics().iter().enumerate() {
            let doc = format!(
                "Records of `{}` waiting for retry attempt {}.",
                t.name,
                level + 1
            );
            specs.push(
                SpecTokens {
                    name: retry,
                    doc: Some(&doc),
                    compacted: false,
                    derived_from: Some(&t.name),
                    ..own
                }
                .tokens(),
            );
        }
    }
    let topics = &ctx.model.topics;
    if !topics.is_empty() {
        let all_events: Vec<&str> = all_events.into_iter().collect();
        let no_configs = Vec::new();
        specs.push(
            SpecTokens {
                name: crate::ir::PUBLISH_DEAD_LETTER_TOPIC,
                doc: Some("Events the transport refused for good when they were published, with the reason in their headers."),
                partitions: topics.iter().map(|t| t.partitions).max().unwrap_or(1).min(12),
                replication_factor: topics.iter().map(|t| t.replication_factor).max().unwrap_or(1),
                retention_ms: Some(DEAD_LETTER_RETENTION_MS),
                compacted: false,
                min_insync_replicas: topics.iter().filter_map(|t| t.min_insync_replicas).max(),
                key: "aggregate id",
                events: &all_events,
                configs: &no_configs,
                derived_from: None,
            }
            .tokens(),
        );
    }
    quote! {
        /// Every Kafka topic carebus uses: the topics of the spec (`schemas/topics.toml`), the
        /// dead-letter and retry topics derived from each, and the publishers' dead-letter
        /// topic. What `carebus-topics` creates and checks, and what the in-process bus creates.
        pub static TOPICS: &[::carebus_core::TopicSpec<'static>] = &[#(#specs),*];
    }
}

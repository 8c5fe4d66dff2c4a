//! The topics spec (IR topics) in, a `TOPICS` table of `carebus_core::TopicSpec` out: the one description of each topic that services, the in-process bus and `carebus-topics` read.

use super::Ctx;
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::BTreeSet;

/// `pub static TOPICS: &[::carebus_core::TopicSpec<'static>] = &[...];` in topic-name order.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let topics = ctx.model.topics.iter().map(|t| {
        let name = &t.name;
        let doc = match &t.doc {
            Some(d) => quote!(::core::option::Option::Some(#d)),
            None => quote!(::core::option::Option::None),
        };
        // The loader checked both are positive; Kafka's admin API counts in i32.
        let partitions = i32::try_from(t.partitions).unwrap_or(i32::MAX);
        let rf = i32::from(t.replication_factor);
        let retention = match t.retention_ms {
            Some(ms) => quote!(::core::option::Option::Some(#ms)),
            None => quote!(::core::option::Option::None),
        };
        let cleanup = if t.compacted {
            quote!(::carebus_core::CleanupPolicy::Compact)
        } else {
            quote!(::carebus_core::CleanupPolicy::Delete)
        };
        let min_isr = match t.min_insync_replicas {
            Some(n) => {
                let n = i32::from(n);
                quote!(::core::option::Option::Some(#n))
            }
            None => quote!(::core::option::Option::None),
        };
        let key = &t.key;
        let events: BTreeSet<&str> = ctx
            .model
            .events
            .iter()
            .filter(|e| e.topic == t.name)
            .map(|e| e.name.as_str())
            .collect();
        let events = events.iter();
        let configs = t.configs.iter().map(|(k, v)| quote!((#k, #v)));
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
            }
        }
    });
    quote! {
        /// Every Kafka topic of the topics spec (`schemas/topics.toml`): what `carebus-topics`
        /// creates and checks, and what the in-process bus creates.
        pub static TOPICS: &[::carebus_core::TopicSpec<'static>] = &[#(#topics),*];
    }
}

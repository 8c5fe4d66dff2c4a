//! The topics spec (IR topics) in, a `TOPICS` table of `carebus::TopicSpec` out, so services and tools create topics from generated code.

use super::Ctx;
use proc_macro2::TokenStream;
use quote::quote;

/// `pub static TOPICS: &[::carebus_core::TopicSpec] = &[...];` in topic-name order.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let topics = ctx.model.topics.iter().map(|t| {
        let name = &t.name;
        let partitions = t.partitions;
        let rf = t.replication_factor;
        let retention = match t.retention_ms {
            Some(ms) => quote!(::core::option::Option::Some(#ms)),
            None => quote!(::core::option::Option::None),
        };
        let compacted = t.compacted;
        let min_isr = match t.min_insync_replicas {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        let configs = t.configs.iter().map(|(k, v)| quote!((#k, #v)));
        quote! {
            ::carebus_core::TopicSpec {
                name: #name,
                partitions: #partitions,
                replication_factor: #rf,
                retention_ms: #retention,
                compacted: #compacted,
                min_insync_replicas: #min_isr,
                configs: &[#(#configs),*],
            }
        }
    });
    quote! {
        /// Every Kafka topic of the topics spec (`schemas/topics.toml`).
        pub static TOPICS: &[::carebus_core::TopicSpec] = &[#(#topics),*];
    }
}

//! Topics and their events in, per-topic event enums (`TopicEvents`), typed handler traits with their dispatchers, typed publisher traits, and the registry over all topics (`EVENTS`, `AnyEvent`, `decode`) out.

use super::{Ctx, ident, upcast};
use crate::ir::Event;
use heck::ToSnakeCase;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// One topic with its events (every version), in model order.
struct TopicGroup<'m> {
    name: String,
    stem: String,
    doc: Option<&'m str>,
    events: Vec<&'m Event>,
}

/// The Rust stem of a topic: its middle segment(s) in UpperCamelCase
/// (`healthcare.patients.events` → `Patients`, `healthcare.ai.events` → `Ai`).
pub fn topic_stem(topic: &str) -> String {
    let segments: Vec<&str> = topic.split('.').collect();
    let middle = if segments.len() >= 3 {
        segments[1..segments.len() - 1].join("_")
    } else {
        topic.replace('.', "_")
    };
    ident::camel(&middle)
}

fn groups<'m>(ctx: &Ctx<'m>) -> Vec<TopicGroup<'m>> {
    let mut names: Vec<String> = ctx.model.topics.iter().map(|t| t.name.clone()).collect();
    let mut extra: Vec<String> = ctx
        .model
        .events
        .iter()
        .map(|e| e.topic.clone())
        .filter(|t| !names.contains(t))
        .collect();
    extra.sort();
    extra.dedup();
    names.extend(extra);
    names
        .into_iter()
        .map(|name| TopicGroup {
            stem: topic_stem(&name),
            doc: ctx.model.topic(&name).and_then(|t| t.doc.as_deref()),
            events: ctx
                .model
                .events
                .iter()
                .filter(|e| e.topic == name)
                .collect(),
            name,
        })
        .filter(|g| !g.events.is_empty())
        .collect()
}

pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let groups = groups(ctx);
    let mut out = TokenStream::new();
    for g in &groups {
        out.extend(topic_enum(ctx, g));
        out.extend(handler(ctx, g));
        out.extend(publisher(ctx, g));
    }
    out.extend(registry(ctx, &groups));
    out
}

fn type_ident(ctx: &Ctx<'_>, e: &Event) -> Ident {
    ctx.event_def(e).ident.clone()
}

fn topic_enum(ctx: &Ctx<'_>, g: &TopicGroup<'_>) -> TokenStream {
    let name = format_ident!("{}Event", g.stem);
    let topic = &g.name;
    let types: Vec<Ident> = g.events.iter().map(|e| type_ident(ctx, e)).collect();
    let variants = g.events.iter().zip(&types).map(|(e, t)| {
        let doc = format!(" `{}` version {}.", e.name, e.version);
        quote! { #[doc = #doc] #t(#t), }
    });
    let by_version = g.events.iter().zip(&types).map(|(e, t)| {
        let (event_type, version) = (&e.name, super::int(e.version));
        quote! {
            (#event_type, #version) => <#t as ::carebus_core::DomainEvent>::decode_payload(payload).map(Self::#t),
        }
    });
    let by_version_json = g.events.iter().zip(&types).map(|(e, t)| {
        let (event_type, version) = (&e.name, super::int(e.version));
        quote! {
            (#event_type, #version) => <#t as ::carebus_core::DomainEvent>::from_json(data).map(Self::#t),
        }
    });
    let by_fingerprint = types.iter().map(|t| {
        quote! {
            if fingerprint == #t::INFO.fingerprint {
                return <#t as ::carebus_core::DomainEvent>::decode_payload(payload).map(Self::#t);
            }
        }
    });
    let doc = format!(" Every event version carried by topic `{topic}`.");
    let topic_doc = super::doc_attrs(g.doc);
    let gap = if g.doc.is_some() {
        quote!(#[doc = ""])
    } else {
        TokenStream::new()
    };
    let t = &types;
    quote! {
        #[doc = #doc]
        #gap
        #topic_doc
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)] // events differ in size; boxing would cost every decode
        pub enum #name { #(#variants)* }

        impl ::carebus_core::TopicEvents for #name {
            const TOPIC: &'static str = #topic;
            const EVENTS: &'static [::carebus_core::EventInfo] = &[#(#t::INFO),*];

            fn decode(event_type: &str, version: u32, payload: &[u8]) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                match (event_type, version) {
                    #(#by_version)*
                    _ => ::std::result::Result::Err(::carebus_core::topic::unknown_event(Self::EVENTS, event_type, version)),
                }
            }
            fn decode_json(event_type: &str, version: u32, data: &::carebus_core::__private::serde_json::Value) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                match (event_type, version) {
                    #(#by_version_json)*
                    _ => ::std::result::Result::Err(::carebus_core::topic::unknown_event(Self::EVENTS, event_type, version)),
                }
            }
            fn decode_fingerprint(fingerprint: u64, payload: &[u8]) -> ::std::result::Result<Self, ::carebus_core::DecodeError> {
                #(#by_fingerprint)*
                ::std::result::Result::Err(::carebus_core::DecodeError::UnknownFingerprint { fingerprint })
            }
            fn info(&self) -> &'static ::carebus_core::EventInfo {
                match self { #( Self::#t(_) => &#t::INFO, )* }
            }
            fn aggregate_id(&self) -> ::std::string::String {
                match self { #( Self::#t(event) => ::carebus_core::DomainEvent::aggregate_id(event), )* }
            }
            fn encode_payload(&self, out: &mut ::std::vec::Vec<u8>) {
                match self { #( Self::#t(event) => ::carebus_core::DomainEvent::encode_payload(event, out), )* }
            }
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                match self { #( Self::#t(event) => ::carebus_core::DomainEvent::to_json(event), )* }
            }
        }

        #(
            impl ::std::convert::From<#t> for #name {
                fn from(event: #t) -> Self {
                    Self::#t(event)
                }
            }
        )*
    }
}

/// The handler method of an event version: `on_patient_created`, or `on_patient_created_v1`
/// for an old version that cannot be upcast.
fn handler_method(e: &Event, newest: bool) -> Ident {
    let base = format!("on_{}", e.name.to_snake_case());
    ident::ident(&ident::snake(&if newest {
        base
    } else {
        format!("{base}_v{}", e.version)
    }))
}

fn handler(ctx: &Ctx<'_>, g: &TopicGroup<'_>) -> TokenStream {
    let trait_name = format_ident!("{}Handler", g.stem);
    let dispatcher = format_ident!("{}Dispatcher", g.stem);
    let enum_name = format_ident!("{}Event", g.stem);
    let mut methods = Vec::new();
    let mut arms = Vec::new();
    for e in &g.events {
        let t = type_ident(ctx, e);
        match upcast::newest_of(ctx, e) {
            None => {
                let m = handler_method(e, true);
                let mut doc = format!(" `{}` (version {}", e.name, e.version);
                let older: Vec<String> = ctx
                    .model
                    .versions(&e.name)
                    .iter()
                    .filter(|o| o.version != e.version && upcast::upcast(ctx, o, e).is_ok())
                    .map(|o| format!("v{}", o.version))
                    .collect();
                if !older.is_empty() {
                    doc.push_str(&format!(
                        "; {} events are upcast to it first",
                        older.join(", ")
                    ));
                }
                doc.push_str(").");
                let dep = super::deprecated_doc(e.deprecated.as_deref(), true);
                methods.push(quote! {
                    #[doc = #doc]
                    #dep
                    fn #m(&self, ctx: &::carebus_core::HandlerContext, event: #t)
                        -> impl ::core::future::Future<Output = ::carebus_core::HandlerResult> + Send;
                });
                arms.push(quote! { #enum_name::#t(event) => self.0.#m(ctx, event).await, });
            }
            Some(newest) => {
                match upcast::upcast(ctx, e, newest) {
                    Ok(_) => {
                        let m = handler_method(newest, true);
                        let nt = type_ident(ctx, newest);
                        arms.push(quote! { #enum_name::#t(event) => self.0.#m(ctx, #nt::from(event)).await, });
                    }
                    Err(reason) => {
                        let m = handler_method(e, false);
                        let doc = format!(
                            " `{}` version {}, which cannot be upcast to version {}: {reason}.",
                            e.name, e.version, newest.version
                        );
                        methods.push(quote! {
                        #[doc = #doc]
                        fn #m(&self, ctx: &::carebus_core::HandlerContext, event: #t)
                            -> impl ::core::future::Future<Output = ::carebus_core::HandlerResult> + Send;
                    });
                        arms.push(quote! { #enum_name::#t(event) => self.0.#m(ctx, event).await, });
                    }
                }
            }
        }
    }
    let trait_doc = format!(
        " Handles the events of topic `{}`: one method per event type, given the newest version (older versions are upcast before the call). Implement the methods with `async fn`; wrap the handler in [`{dispatcher}`] to consume the topic.",
        g.name
    );
    let dispatcher_doc = format!(
        " Adapts a [`{trait_name}`] to `::carebus_core::TopicHandler` for topic `{}`.",
        g.name
    );
    quote! {
        #[doc = #trait_doc]
        pub trait #trait_name: Send + Sync + 'static {
            #(#methods)*
        }

        #[doc = #dispatcher_doc]
        #[derive(Clone, Debug, Default)]
        pub struct #dispatcher<H>(pub H);

        impl<H: #trait_name> ::carebus_core::TopicHandler for #dispatcher<H> {
            type Events = #enum_name;

            async fn handle(&self, ctx: &::carebus_core::HandlerContext, event: #enum_name) -> ::carebus_core::HandlerResult {
                match event { #(#arms)* }
            }
        }
    }
}

fn publisher(ctx: &Ctx<'_>, g: &TopicGroup<'_>) -> TokenStream {
    let trait_name = format_ident!("{}Publisher", g.stem);
    let methods = g.events.iter().filter(|e| upcast::newest_of(ctx, e).is_none()).map(|e| {
        let t = type_ident(ctx, e);
        let m = ident::ident(&ident::snake(&format!("publish_{}", e.name.to_snake_case())));
        let doc = format!(" Publish `{}` (version {}) to `{}`.", e.name, e.version, g.name);
        let dep = super::deprecated_doc(e.deprecated.as_deref(), true);
        quote! {
            #[doc = #doc]
            #dep
            fn #m(&self, event: #t, options: ::carebus_core::PublishOptions)
                -> impl ::core::future::Future<Output = ::std::result::Result<::carebus_core::Delivery, ::carebus_core::PublishError>> + Send
            {
                ::carebus_core::Publish::publish(self, event, options)
            }
        }
    });
    let doc = format!(
        " Typed publishing to topic `{}`: one method per event type (newest version), available on every `::carebus_core::Publish`.",
        g.name
    );
    quote! {
        #[doc = #doc]
        pub trait #trait_name: ::carebus_core::Publish {
            #(#methods)*
        }

        impl<P: ::carebus_core::Publish + ?Sized> #trait_name for P {}
    }
}

fn registry(ctx: &Ctx<'_>, groups: &[TopicGroup<'_>]) -> TokenStream {
    let all: Vec<Ident> = ctx
        .model
        .events
        .iter()
        .map(|e| type_ident(ctx, e))
        .collect();
    let stems: Vec<Ident> = groups.iter().map(|g| ident::ident(&g.stem)).collect();
    let enums: Vec<Ident> = groups
        .iter()
        .map(|g| format_ident!("{}Event", g.stem))
        .collect();
    let by_type = groups.iter().zip(stems.iter().zip(&enums)).map(|(g, (stem, en))| {
        let mut names: Vec<&str> = g.events.iter().map(|e| e.name.as_str()).collect();
        names.dedup();
        quote! {
            #(#names)|* => <#en as ::carebus_core::TopicEvents>::decode(event_type, version, payload).map(AnyEvent::#stem),
        }
    });
    let variant_docs = groups
        .iter()
        .map(|g| format!(" An event of topic `{}`.", g.name));
    let (s1, e1, s2, e2, s3) = (&stems, &enums, &stems, &enums, &stems);
    quote! {
        /// Every event version of every topic.
        pub static EVENTS: &[::carebus_core::EventInfo] = &[#(#all::INFO),*];

        /// An event of any topic.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)] // events differ in size; boxing would cost every decode
        pub enum AnyEvent {
            #( #[doc = #variant_docs] #s1(#e1), )*
        }

        impl AnyEvent {
            /// Facts about the event version held.
            pub fn info(&self) -> &'static ::carebus_core::EventInfo {
                match self { #( AnyEvent::#s3(events) => ::carebus_core::TopicEvents::info(events), )* }
            }
        }

        /// Decode a payload given its event type and version (from the envelope headers).
        pub fn decode(event_type: &str, version: u32, payload: &[u8]) -> ::std::result::Result<AnyEvent, ::carebus_core::DecodeError> {
            match event_type {
                #(#by_type)*
                _ => ::std::result::Result::Err(::carebus_core::topic::unknown_event(EVENTS, event_type, version)),
            }
        }

        /// Decode a payload given its schema fingerprint (from single-object framing).
        pub fn decode_fingerprint(fingerprint: u64, payload: &[u8]) -> ::std::result::Result<AnyEvent, ::carebus_core::DecodeError> {
            #(
                if <#e2 as ::carebus_core::TopicEvents>::EVENTS.iter().any(|info| info.fingerprint == fingerprint) {
                    return <#e2 as ::carebus_core::TopicEvents>::decode_fingerprint(fingerprint, payload).map(AnyEvent::#s2);
                }
            )*
            ::std::result::Result::Err(::carebus_core::DecodeError::UnknownFingerprint { fingerprint })
        }
    }
}

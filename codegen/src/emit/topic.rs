//! Topics and their events in, per-topic event enums (`TopicEvents`), typed handler traits with their dispatchers, typed publisher traits, and the registry over all topics (`EVENTS`, `AnyEvent`, `decode`) out.

use super::{Ctx, TypeRef, ident};
use crate::ir::{Event, RustTopic};
use crate::rust_names;
use proc_macro2::{Ident, TokenStream};
use quote::quote;

/// One topic with its events (every version), in model order.
struct TopicGroup<'m> {
    name: String,
    rust: RustTopic,
    doc: Option<&'m str>,
    events: Vec<&'m Event>,
}

impl TopicGroup<'_> {
    /// Whether an event version of the topic is deprecated (code naming its type allows the lint).
    fn touches_deprecated(&self) -> bool {
        self.events.iter().any(|e| e.deprecated.is_some())
    }
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
        .map(|name| {
            let spec = ctx.model.topic(&name);
            TopicGroup {
                // A topic missing from the spec (a model built by hand) is named the same way.
                rust: spec.map_or_else(|| rust_names::topic(&name), |t| t.rust.clone()),
                doc: spec.and_then(|t| t.doc.as_deref()),
                events: ctx
                    .model
                    .events
                    .iter()
                    .filter(|e| e.topic == name)
                    .collect(),
                name,
            }
        })
        .filter(|g| !g.events.is_empty())
        .collect()
}

pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let groups = groups(ctx);
    let mut out = TokenStream::new();
    for g in &groups {
        out.extend(topic_enum(g));
        out.extend(handler(ctx, g));
        out.extend(publisher(g));
    }
    out.extend(registry(ctx, &groups));
    out
}

/// The event version's struct, by path from the root.
fn event_type(e: &Event) -> TypeRef {
    TypeRef::of(&e.record.rust)
}

fn topic_enum(g: &TopicGroup<'_>) -> TokenStream {
    let name = ident::ident(&g.rust.events_enum);
    let topic = &g.name;
    let types: Vec<TypeRef> = g.events.iter().map(|e| event_type(e)).collect();
    // Each variant is named after its event type (`PatientCreatedV1(...)`).
    let v: Vec<Ident> = types.iter().map(TypeRef::ident).collect();
    let variants = g
        .events
        .iter()
        .zip(types.iter().zip(&v))
        .map(|(e, (t, v))| {
            let doc = format!(" `{}` version {}.", e.name, e.version);
            quote! { #[doc = #doc] #v(#t), }
        });
    let by_version = g.events.iter().zip(types.iter().zip(&v)).map(|(e, (t, v))| {
        let (event_type, version) = (&e.name, super::int(e.version));
        quote! {
            (#event_type, #version) => <#t as ::carebus_core::DomainEvent>::decode_payload(payload).map(Self::#v),
        }
    });
    let by_version_json = g.events.iter().zip(types.iter().zip(&v)).map(|(e, (t, v))| {
        let (event_type, version) = (&e.name, super::int(e.version));
        quote! {
            (#event_type, #version) => <#t as ::carebus_core::DomainEvent>::from_json(data).map(Self::#v),
        }
    });
    let by_fingerprint = types.iter().zip(&v).map(|(t, v)| {
        quote! {
            if fingerprint == #t::INFO.fingerprint {
                return <#t as ::carebus_core::DomainEvent>::decode_payload(payload).map(Self::#v);
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
    let allow = super::allow_deprecated(g.touches_deprecated());
    quote! {
        #[doc = #doc]
        #gap
        #topic_doc
        #allow
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)] // events differ in size; boxing would cost every decode
        pub enum #name { #(#variants)* }

        #allow
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
                match self { #( Self::#v(_) => &#t::INFO, )* }
            }
            fn aggregate_id(&self) -> ::std::string::String {
                match self { #( Self::#v(event) => ::carebus_core::DomainEvent::aggregate_id(event), )* }
            }
            fn encode_payload(&self, out: &mut ::std::vec::Vec<u8>) {
                match self { #( Self::#v(event) => ::carebus_core::DomainEvent::encode_payload(event, out), )* }
            }
            fn to_json(&self) -> ::carebus_core::__private::serde_json::Value {
                match self { #( Self::#v(event) => ::carebus_core::DomainEvent::to_json(event), )* }
            }
        }

        #(
            #allow
            impl ::std::convert::From<#t> for #name {
                fn from(event: #t) -> Self {
                    Self::#v(event)
                }
            }
        )*
    }
}

fn handler(ctx: &Ctx<'_>, g: &TopicGroup<'_>) -> TokenStream {
    let trait_name = ident::ident(&g.rust.handler_trait);
    let dispatcher = ident::ident(&g.rust.dispatcher);
    let enum_name = ident::ident(&g.rust.events_enum);
    let mut methods = Vec::new();
    let mut arms = Vec::new();
    for e in &g.events {
        let t = event_type(e);
        let v = t.ident();
        let Some(method) = &e.rust.handler_method else {
            // An older version upcast to the newest: handled by the newest's method.
            let Some((m, nt)) = ctx.model.newest(&e.name).and_then(|n| {
                let m = n.rust.handler_method.as_deref()?;
                Some((ident::ident(m), event_type(n)))
            }) else {
                continue;
            };
            arms.push(quote! { #enum_name::#v(event) => self.0.#m(ctx, #nt::from(event)).await, });
            continue;
        };
        let m = ident::ident(method);
        let newest = ctx.model.newest(&e.name).filter(|n| n.version != e.version);
        let mut doc = match newest {
            None => {
                let older: Vec<String> = ctx
                    .model
                    .versions(&e.name)
                    .iter()
                    .filter(|o| o.version != e.version && o.rust.handler_method.is_none())
                    .map(|o| format!("v{}", o.version))
                    .collect();
                let upcast = if older.is_empty() {
                    String::new()
                } else {
                    format!("; {} events are upcast to it first", older.join(", "))
                };
                format!(" `{}` (version {}{upcast}).", e.name, e.version)
            }
            Some(newest) => {
                let reason = match super::upcast::upcast(ctx, e, newest) {
                    Err(reason) => format!(": {reason}"),
                    Ok(_) => String::new(),
                };
                format!(
                    " `{}` version {}, which cannot be upcast to version {}{reason}.",
                    e.name, e.version, newest.version
                )
            }
        };
        doc.push_str(" Unless implemented, passes the event to [`Self::unhandled`].");
        let dep = super::deprecated_attr(e.deprecated.as_deref());
        methods.push(quote! {
            #[doc = #doc]
            #dep
            fn #m(&self, ctx: &::carebus_core::HandlerContext, event: #t)
                -> impl ::core::future::Future<Output = ::carebus_core::HandlerResult> + Send
            {
                self.unhandled(ctx, #enum_name::#v(event))
            }
        });
        arms.push(quote! { #enum_name::#v(event) => self.0.#m(ctx, event).await, });
    }
    let trait_doc = format!(
        " Handles the events of topic `{}`: one method per event type, given the newest version (older versions are upcast before the call). Implement the methods of the events you handle with `async fn`; the others go to [`{trait_name}::unhandled`], which acknowledges them unless you implement it too. Wrap the handler in [`{dispatcher}`] to consume the topic.",
        g.name
    );
    let dispatcher_doc = format!(
        " Adapts a [`{trait_name}`] to `::carebus_core::TopicHandler` for topic `{}`.",
        g.name
    );
    let allow = super::allow_deprecated(g.touches_deprecated());
    quote! {
        #[doc = #trait_doc]
        #allow
        pub trait #trait_name: Send + Sync + 'static {
            #(#methods)*

            /// Every event whose method this handler does not implement. By default it
            /// acknowledges the event (`Ok(())`): a consumer implements only the events it
            /// handles, and an event added to the topic does not break its build.
            fn unhandled(&self, ctx: &::carebus_core::HandlerContext, event: #enum_name)
                -> impl ::core::future::Future<Output = ::carebus_core::HandlerResult> + Send
            {
                let _ = (ctx, event);
                ::core::future::ready(::std::result::Result::Ok(()))
            }
        }

        #[doc = #dispatcher_doc]
        #[derive(Clone, Debug, Default)]
        pub struct #dispatcher<H>(pub H);

        impl<H: #trait_name> ::carebus_core::TopicHandler for #dispatcher<H> {
            type Events = #enum_name;

            #allow
            async fn handle(&self, ctx: &::carebus_core::HandlerContext, event: #enum_name) -> ::carebus_core::HandlerResult {
                match event { #(#arms)* }
            }
        }
    }
}

fn publisher(g: &TopicGroup<'_>) -> TokenStream {
    let trait_name = ident::ident(&g.rust.publisher_trait);
    let methods = g.events.iter().filter_map(|e| {
        let m = ident::ident(e.rust.publish_method.as_deref()?);
        let t = event_type(e);
        let doc = format!(" Publish `{}` (version {}) to `{}`.", e.name, e.version, g.name);
        let dep = super::deprecated_attr(e.deprecated.as_deref());
        Some(quote! {
            #[doc = #doc]
            #dep
            fn #m(&self, event: #t, options: ::carebus_core::PublishOptions)
                -> impl ::core::future::Future<Output = ::std::result::Result<::carebus_core::Delivery, ::carebus_core::PublishError>> + Send
            {
                ::carebus_core::Publish::publish(self, event, options)
            }
        })
    });
    let doc = format!(
        " Typed publishing to topic `{}`: one method per event type (newest version), available on every `::carebus_core::Publish`.",
        g.name
    );
    let allow = super::allow_deprecated(g.touches_deprecated());
    quote! {
        #[doc = #doc]
        #allow
        pub trait #trait_name: ::carebus_core::Publish {
            #(#methods)*
        }

        impl<P: ::carebus_core::Publish + ?Sized> #trait_name for P {}
    }
}

fn registry(ctx: &Ctx<'_>, groups: &[TopicGroup<'_>]) -> TokenStream {
    let all: Vec<TypeRef> = ctx.model.events.iter().map(event_type).collect();
    let stems: Vec<Ident> = groups
        .iter()
        .map(|g| ident::ident(&g.rust.any_event_variant))
        .collect();
    let enums: Vec<Ident> = groups
        .iter()
        .map(|g| ident::ident(&g.rust.events_enum))
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
    // A schema set without events (shared types only) still gets the registry, empty.
    let info_body = if groups.is_empty() {
        quote! { match *self {} }
    } else {
        quote! { match self { #( AnyEvent::#s3(events) => ::carebus_core::TopicEvents::info(events), )* } }
    };
    let decode_body = if groups.is_empty() {
        quote! {
            let _ = payload;
            ::std::result::Result::Err(::carebus_core::topic::unknown_event(EVENTS, event_type, version))
        }
    } else {
        quote! {
            match event_type {
                #(#by_type)*
                _ => ::std::result::Result::Err(::carebus_core::topic::unknown_event(EVENTS, event_type, version)),
            }
        }
    };
    let unused_payload = if groups.is_empty() {
        quote! { let _ = payload; }
    } else {
        TokenStream::new()
    };
    let allow = super::allow_deprecated(groups.iter().any(TopicGroup::touches_deprecated));
    quote! {
        /// Every event version of every topic.
        #allow
        pub static EVENTS: &[::carebus_core::EventInfo] = &[#(#all::INFO),*];

        /// The de-identification plan of every event version: what reaches analytics.
        #allow
        pub static ANALYTICS: &[::carebus_core::deidentify::EventPlan] = &[#(
            ::carebus_core::deidentify::EventPlan {
                event_type: <#all as ::carebus_core::DomainEvent>::EVENT_TYPE,
                version: <#all as ::carebus_core::DomainEvent>::EVENT_VERSION,
                topic: <#all as ::carebus_core::DomainEvent>::TOPIC,
                fields: <#all as ::carebus_core::DomainEvent>::ANALYTICS,
            }
        ),*];

        /// An event of any topic.
        #[derive(Clone, Debug, PartialEq)]
        #[allow(clippy::large_enum_variant)] // events differ in size; boxing would cost every decode
        pub enum AnyEvent {
            #( #[doc = #variant_docs] #s1(#e1), )*
        }

        impl AnyEvent {
            /// Facts about the event version held.
            pub fn info(&self) -> &'static ::carebus_core::EventInfo {
                #info_body
            }
        }

        /// Decode a payload given its event type and version (from the envelope headers).
        pub fn decode(event_type: &str, version: u32, payload: &[u8]) -> ::std::result::Result<AnyEvent, ::carebus_core::DecodeError> {
            #decode_body
        }

        /// Decode a payload given its schema fingerprint (from single-object framing).
        pub fn decode_fingerprint(fingerprint: u64, payload: &[u8]) -> ::std::result::Result<AnyEvent, ::carebus_core::DecodeError> {
            #unused_payload
            #(
                if <#e2 as ::carebus_core::TopicEvents>::EVENTS.iter().any(|info| info.fingerprint == fingerprint) {
                    return <#e2 as ::carebus_core::TopicEvents>::decode_fingerprint(fingerprint, payload).map(AnyEvent::#s2);
                }
            )*
            ::std::result::Result::Err(::carebus_core::DecodeError::UnknownFingerprint { fingerprint })
        }
    }
}

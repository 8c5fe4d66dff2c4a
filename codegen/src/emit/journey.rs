//! IR journeys in, a `journeys` module out: per journey a typed state enum, the context custom code sees, the trait of its custom guards and actions (required by the constructor when the journey has any, so a missing implementation is a compile error), and its checked definitions embedded as JSON.

use super::Ctx;
use super::ident::{camel_ident, snake_ident};
use crate::ir::journey::{Journey, StateKind};
use proc_macro2::TokenStream;
use quote::quote;

/// The `journeys` module, or nothing when the model has no journeys.
pub fn items(ctx: &Ctx<'_>) -> TokenStream {
    let mut names: Vec<&str> = ctx.model.journeys.iter().map(|j| j.name.as_str()).collect();
    names.dedup();
    if names.is_empty() {
        return TokenStream::new();
    }
    let modules = names.iter().map(|name| {
        let versions: Vec<&Journey> = ctx
            .model
            .journeys
            .iter()
            .filter(|j| j.name == *name)
            .collect();
        journey(&versions)
    });
    quote! {
        /// The patient journeys of `schemas/journeys/`, one module per journey (its newest
        /// version typed; every version's definition embedded). Run them with the journey
        /// engine (crate `carebus-journey`).
        pub mod journeys {
            #(#modules)*
        }
    }
}

fn journey(versions: &[&Journey]) -> TokenStream {
    let Some(newest) = versions.iter().max_by_key(|j| j.version) else {
        return TokenStream::new();
    };
    let module = snake_ident(&newest.name);
    let name = &newest.name;
    let version = newest.version;
    // Source positions are for diagnostics, not for the engine.
    let definitions = versions.iter().map(|j| {
        let mut v = serde_json::to_value(j).unwrap_or_default();
        strip_sources(&mut v);
        v.to_string()
    });
    let doc = format!(
        " {} (`{}`, version {}, from {}). {}",
        newest.title,
        newest.name,
        newest.version,
        newest.source.file,
        newest.doc.as_deref().unwrap_or("").trim()
    );
    let variants = newest.states.iter().map(|s| {
        let v = camel_ident(&s.name);
        let kind = match s.kind {
            StateKind::Initial => "Initial state",
            StateKind::Intermediate => "State",
            StateKind::Final => "Final state",
        };
        let d = format!(
            " {kind} `{}`: {}. {}",
            s.name,
            s.title,
            s.doc.as_deref().unwrap_or("").trim()
        );
        quote! { #[doc = #d] #v, }
    });
    let all = newest.states.iter().map(|s| camel_ident(&s.name));
    let to_name = newest.states.iter().map(|s| {
        let v = camel_ident(&s.name);
        let n = &s.name;
        quote! { State::#v => #n, }
    });
    let from_name = newest.states.iter().map(|s| {
        let v = camel_ident(&s.name);
        let n = &s.name;
        quote! { #n => ::core::option::Option::Some(State::#v), }
    });
    let finals: Vec<_> = newest
        .states
        .iter()
        .filter(|s| s.kind == StateKind::Final)
        .map(|s| camel_ident(&s.name))
        .collect();
    let is_final = if finals.is_empty() {
        quote!(false)
    } else {
        quote!(matches!(self, #(State::#finals)|*))
    };
    let custom = !newest.custom_guards.is_empty() || !newest.custom_actions.is_empty();
    let value = quote!(::carebus_core::__private::serde_json::Value);
    let hooks = if custom {
        let guard_methods = newest.custom_guards.iter().map(|g| {
            let m = snake_ident(g);
            let d = format!(" Custom guard `{g}`: whether the transitions that name it may run for this event (its JSON form).");
            quote! { #[doc = #d] fn #m(&self, ctx: &Context<'_>, event: &#value) -> bool; }
        });
        let action_methods = newest.custom_actions.iter().map(|a| {
            let m = snake_ident(a);
            let d = format!(" Custom action `{a}`: the declarative actions it amounts to for this event (its JSON form).");
            quote! { #[doc = #d] fn #m(&self, ctx: &Context<'_>, event: &#value) -> ::std::vec::Vec<::carebus_core::journey::Action>; }
        });
        let guard_arms = newest.custom_guards.iter().map(|g| {
            let m = snake_ident(g);
            quote! { #g => ::core::option::Option::Some(self.0.#m(&ctx, event)), }
        });
        let action_arms = newest.custom_actions.iter().map(|a| {
            let m = snake_ident(a);
            quote! { #a => ::core::option::Option::Some(self.0.#m(&ctx, event)), }
        });
        quote! {
            /// The custom guards and actions of this journey, implemented by the team that owns it.
            pub trait Custom: ::core::marker::Send + ::core::marker::Sync + 'static {
                #(#guard_methods)*
                #(#action_methods)*
            }

            struct Adapter<T>(T);

            impl<T: Custom> ::carebus_core::journey::Hooks for Adapter<T> {
                fn guard(&self, name: &str, instance: &::carebus_core::journey::InstanceView<'_>, event: &#value) -> ::core::option::Option<bool> {
                    let ctx = Context::of(instance);
                    match name {
                        #(#guard_arms)*
                        _ => ::core::option::Option::None,
                    }
                }
                fn action(&self, name: &str, instance: &::carebus_core::journey::InstanceView<'_>, event: &#value) -> ::core::option::Option<::std::vec::Vec<::carebus_core::journey::Action>> {
                    let ctx = Context::of(instance);
                    match name {
                        #(#action_arms)*
                        _ => ::core::option::Option::None,
                    }
                }
            }

            /// Every version of the journey, oldest first, with `custom` as its guards and actions.
            pub fn journeys<T: Custom>(custom: T) -> ::core::result::Result<::std::vec::Vec<::carebus_core::journey::Journey>, ::carebus_core::__private::serde_json::Error> {
                let hooks: ::std::sync::Arc<dyn ::carebus_core::journey::Hooks> = ::std::sync::Arc::new(Adapter(custom));
                DEFINITIONS
                    .iter()
                    .map(|json| {
                        ::core::result::Result::Ok(::carebus_core::journey::Journey {
                            definition: ::std::sync::Arc::new(::carebus_core::journey::Definition::from_json(json)?),
                            hooks: hooks.clone(),
                        })
                    })
                    .collect()
            }
        }
    } else {
        quote! {
            /// Every version of the journey, oldest first (it has no custom guards or actions).
            pub fn journeys() -> ::core::result::Result<::std::vec::Vec<::carebus_core::journey::Journey>, ::carebus_core::__private::serde_json::Error> {
                DEFINITIONS
                    .iter()
                    .map(|json| ::carebus_core::journey::Journey::from_json(json, ::carebus_core::journey::NoHooks))
                    .collect()
            }
        }
    };
    quote! {
        #[doc = #doc]
        pub mod #module {
            /// The journey's name.
            pub const NAME: &str = #name;
            /// Its newest version.
            pub const VERSION: u32 = #version;
            /// Every version's checked definition (JSON), oldest first.
            pub const DEFINITIONS: &[&str] = &[#(#definitions),*];

            /// The states of the newest version.
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            pub enum State {
                #(#variants)*
            }

            impl State {
                /// Every state, in definition order.
                pub const ALL: &'static [State] = &[#(State::#all),*];
                /// The state's name in the definition (and in the instance table).
                pub fn name(self) -> &'static str {
                    match self { #(#to_name)* }
                }
                /// The state named `name`, if the newest version has it.
                pub fn from_name(name: &str) -> ::core::option::Option<State> {
                    match name {
                        #(#from_name)*
                        _ => ::core::option::Option::None,
                    }
                }
                /// Whether the journey is finished in this state.
                pub fn is_final(self) -> bool {
                    #is_final
                }
            }

            /// What custom guards and actions see of an instance.
            #[derive(Clone, Copy, Debug)]
            pub struct Context<'a> {
                /// The instance id (the `journeyId` of its events).
                pub instance_id: ::carebus_core::Uuid,
                /// Its correlation key (the patient id).
                pub key: &'a str,
                /// Its current state; `None` when it is in a state of an older version.
                pub state: ::core::option::Option<State>,
                /// The definition version it runs on.
                pub definition_version: u32,
            }

            impl<'a> Context<'a> {
                /// The typed view of an engine instance.
                pub fn of(instance: &::carebus_core::journey::InstanceView<'a>) -> Context<'a> {
                    Context {
                        instance_id: instance.id,
                        key: instance.key,
                        state: State::from_name(instance.state),
                        definition_version: instance.definition_version,
                    }
                }
            }

            #hooks
        }
    }
}

fn strip_sources(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("source");
            m.values_mut().for_each(strip_sources);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_sources),
        _ => {}
    }
}

//! Two Avro schemas (writer, reader) turned into the list of places where the reader cannot read the writer's data, following the specification's "Schema Resolution".
//!
//! Decisions beyond the specification, all documented in [`super`]:
//! - Logical types: the underlying type decides resolution (uuid is a string, date an int,
//!   timestamps longs, decimal bytes). A reader that drops the logical type (uuid → string)
//!   is fine; a reader that adds or changes one (timestamp-millis → timestamp-micros,
//!   decimal(10,2) → decimal(12,4), string → uuid) is reported as
//!   [`Rule::LogicalTypeChanged`], because the values would silently change meaning.
//! - A reader union resolves a writer type into its best branch: the first branch of the
//!   same kind and name, else the first branch the writer type promotes to.
//! - A record pair is checked once; later occurrences (and recursion) are not re-reported.

use super::{Incompatibility, Rule, Schema};
use crate::ir::{Enum, Fixed, NamedType, ProtoScalar, Record, Source, Type};
use std::collections::HashSet;

/// Can `reader` read data written with `writer`? Returns every reason it cannot; empty = yes.
pub fn can_read(writer: Schema<'_>, reader: Schema<'_>) -> Vec<Incompatibility> {
    let mut r = Resolver {
        writer_types: writer.types,
        reader_types: reader.types,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    let at = At {
        path: reader.record.name.clone(),
        writer: &writer.record.source,
        reader: &reader.record.source,
    };
    if names_match(
        &writer.record.name,
        &reader.record.name,
        &reader.record.aliases,
    ) {
        r.record(&at, writer.record, reader.record);
    } else {
        r.push(
            &at,
            Rule::NameChanged {
                kind: "record",
                writer: writer.record.name.clone(),
                reader: reader.record.name.clone(),
            },
        );
    }
    r.out
}

/// A type as resolution sees it: named references looked up, logical types kept beside
/// their underlying primitive.
#[derive(Clone, Copy)]
enum Node<'a> {
    Prim(Prim, &'a Type),
    Array(&'a Type),
    Map(&'a Type),
    Union(&'a [Type]),
    Record(&'a Record),
    Enum(&'a Enum),
    Fixed(&'a Fixed),
    Proto(ProtoScalar),
    Unresolved(&'a str),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prim {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
}

fn node<'a>(ty: &'a Type, types: &'a [NamedType]) -> Node<'a> {
    let prim = |p| Node::Prim(p, ty);
    match ty {
        Type::Null => prim(Prim::Null),
        Type::Boolean => prim(Prim::Boolean),
        Type::Int | Type::Date | Type::TimeMillis => prim(Prim::Int),
        Type::Long
        | Type::TimestampMillis
        | Type::TimestampMicros
        | Type::TimestampNanos
        | Type::TimeMicros
        | Type::LocalTimestampMillis
        | Type::LocalTimestampMicros
        | Type::LocalTimestampNanos => prim(Prim::Long),
        Type::Float => prim(Prim::Float),
        Type::Double => prim(Prim::Double),
        Type::Bytes | Type::Decimal { .. } | Type::BigDecimal => prim(Prim::Bytes),
        Type::String | Type::Uuid => prim(Prim::String),
        Type::Array { items } => Node::Array(items),
        Type::Map { values } => Node::Map(values),
        Type::Union { branches } => Node::Union(branches),
        Type::Proto { scalar } => Node::Proto(*scalar),
        Type::Named { name } => match types.iter().find(|t| t.full_name() == *name) {
            Some(NamedType::Record(r)) => Node::Record(r),
            Some(NamedType::Enum(e)) => Node::Enum(e),
            Some(NamedType::Fixed(f)) => Node::Fixed(f),
            None => Node::Unresolved(name),
        },
    }
}

/// The logical type annotation of a primitive, if any (the type itself when it has one).
fn logical(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Uuid
        | Type::Date
        | Type::TimeMillis
        | Type::TimeMicros
        | Type::TimestampMillis
        | Type::TimestampMicros
        | Type::TimestampNanos
        | Type::LocalTimestampMillis
        | Type::LocalTimestampMicros
        | Type::LocalTimestampNanos
        | Type::Decimal { .. }
        | Type::BigDecimal => Some(ty),
        _ => None,
    }
}

fn promotes(w: Prim, r: Prim) -> bool {
    use Prim::*;
    w == r
        || matches!(
            (w, r),
            (Int, Long | Float | Double)
                | (Long, Float | Double)
                | (Float, Double)
                | (String, Bytes)
                | (Bytes, String)
        )
}

/// Unqualified writer name matches the reader's name or one of the reader's aliases
/// (an alias may be written qualified; its last segment counts). Writer aliases play no part.
fn names_match(writer: &str, reader: &str, reader_aliases: &[String]) -> bool {
    let short = |n: &str| n.rsplit('.').next().unwrap_or(n).to_string();
    let writer = short(writer);
    writer == short(reader) || reader_aliases.iter().any(|a| short(a) == writer)
}

/// Where resolution is: the path from the event record, and the nearest source on each side.
struct At<'a> {
    path: String,
    writer: &'a Source,
    reader: &'a Source,
}

struct Resolver<'a> {
    writer_types: &'a [NamedType],
    reader_types: &'a [NamedType],
    seen: HashSet<(String, String)>,
    out: Vec<Incompatibility>,
}

impl<'a> Resolver<'a> {
    fn push(&mut self, at: &At<'_>, rule: Rule) {
        self.out.push(Incompatibility {
            path: at.path.clone(),
            rule,
            writer_source: at.writer.clone(),
            reader_source: at.reader.clone(),
        });
    }

    fn record(&mut self, at: &At<'_>, w: &'a Record, r: &'a Record) {
        if !self.seen.insert((w.full_name(), r.full_name())) {
            return;
        }
        for rf in &r.fields {
            let wf = w
                .fields
                .iter()
                .find(|f| f.name == rf.name)
                .or_else(|| w.fields.iter().find(|f| rf.aliases.contains(&f.name)));
            let path = format!("{}.{}", at.path, rf.name);
            match wf {
                Some(wf) => {
                    let child = At {
                        path,
                        writer: &wf.source,
                        reader: &rf.source,
                    };
                    self.resolve(&child, &wf.ty, &rf.ty);
                }
                None if rf.default.is_none() => {
                    let child = At {
                        path,
                        writer: &w.source,
                        reader: &rf.source,
                    };
                    self.push(
                        &child,
                        Rule::FieldWithoutDefault {
                            field: rf.name.clone(),
                        },
                    );
                }
                None => {}
            }
        }
    }

    fn resolve(&mut self, at: &At<'_>, w: &'a Type, r: &'a Type) {
        let wn = node(w, self.writer_types);
        let rn = node(r, self.reader_types);
        match (wn, rn) {
            (Node::Unresolved(name), _) | (_, Node::Unresolved(name)) => self.push(
                at,
                Rule::UnknownNamedType {
                    name: name.to_string(),
                },
            ),
            (Node::Union(branches), _) => {
                for b in branches {
                    let target = match rn {
                        Node::Union(rb) => self.best_branch(b, rb),
                        _ => self
                            .matches(node(b, self.writer_types), rn, false)
                            .then_some(r),
                    };
                    match target {
                        Some(t) => self.resolve(at, b, t),
                        None => self.push(
                            at,
                            Rule::UnionBranchUnreadable {
                                branch: b.to_string(),
                            },
                        ),
                    }
                }
            }
            (_, Node::Union(rb)) => match self.best_branch(w, rb) {
                Some(t) => self.resolve(at, w, t),
                None => self.push(
                    at,
                    Rule::NoMatchingUnionBranch {
                        writer: w.to_string(),
                    },
                ),
            },
            (Node::Prim(wp, wt), Node::Prim(rp, rt)) => {
                if !promotes(wp, rp) {
                    self.push(at, not_promotable(w, r));
                } else if let Some(rl) = logical(rt).filter(|rl| logical(wt) != Some(*rl)) {
                    self.push(
                        at,
                        Rule::LogicalTypeChanged {
                            writer: wt.to_string(),
                            reader: rl.to_string(),
                        },
                    );
                }
            }
            (Node::Array(wi), Node::Array(ri)) => {
                let child = At {
                    path: format!("{}[]", at.path),
                    ..*at
                };
                self.resolve(&child, wi, ri);
            }
            (Node::Map(wv), Node::Map(rv)) => {
                let child = At {
                    path: format!("{}{{}}", at.path),
                    ..*at
                };
                self.resolve(&child, wv, rv);
            }
            (Node::Record(wr), Node::Record(rr)) => {
                if names_match(&wr.name, &rr.name, &rr.aliases) {
                    self.record(at, wr, rr);
                } else {
                    self.push(at, renamed("record", &wr.name, &rr.name));
                }
            }
            (Node::Enum(we), Node::Enum(re)) => self.enumeration(at, we, re),
            (Node::Fixed(wf), Node::Fixed(rf)) => {
                if !names_match(&wf.name, &rf.name, &rf.aliases) {
                    self.push(at, renamed("fixed", &wf.name, &rf.name));
                } else if wf.size != rf.size {
                    let at = At {
                        writer: &wf.source,
                        reader: &rf.source,
                        path: at.path.clone(),
                    };
                    self.push(
                        &at,
                        Rule::FixedSizeChanged {
                            name: rf.name.clone(),
                            writer: wf.size,
                            reader: rf.size,
                        },
                    );
                }
            }
            (Node::Proto(a), Node::Proto(b)) if a == b => {}
            _ => self.push(at, not_promotable(w, r)),
        }
    }

    fn enumeration(&mut self, at: &At<'_>, w: &Enum, r: &Enum) {
        if !names_match(&w.name, &r.name, &r.aliases) {
            self.push(at, renamed("enum", &w.name, &r.name));
            return;
        }
        let has_default = r
            .default
            .as_ref()
            .is_some_and(|d| r.symbols.iter().any(|s| &s.name == d));
        let missing: Vec<String> = w
            .symbols
            .iter()
            .filter(|ws| !r.symbols.iter().any(|rs| rs.name == ws.name))
            .map(|ws| ws.name.clone())
            .collect();
        if !missing.is_empty() && !has_default {
            let at = At {
                path: at.path.clone(),
                writer: &w.source,
                reader: &r.source,
            };
            self.push(
                &at,
                Rule::EnumSymbolsMissing {
                    name: r.name.clone(),
                    symbols: missing,
                },
            );
        }
    }

    /// The reader branch a writer type resolves into: same kind and name first, then the
    /// first one it promotes to.
    fn best_branch(&self, w: &'a Type, branches: &'a [Type]) -> Option<&'a Type> {
        let wn = node(w, self.writer_types);
        [true, false].into_iter().find_map(|exact| {
            branches
                .iter()
                .find(|b| self.matches(wn, node(b, self.reader_types), exact))
        })
    }

    /// The specification's shallow "match" used to select a union branch. `exact` asks
    /// for the same primitive (not a promotion).
    fn matches(&self, w: Node<'_>, r: Node<'_>, exact: bool) -> bool {
        match (w, r) {
            (Node::Prim(wp, _), Node::Prim(rp, _)) => wp == rp || (!exact && promotes(wp, rp)),
            (Node::Array(_), Node::Array(_)) | (Node::Map(_), Node::Map(_)) => true,
            (Node::Record(a), Node::Record(b)) => names_match(&a.name, &b.name, &b.aliases),
            (Node::Enum(a), Node::Enum(b)) => names_match(&a.name, &b.name, &b.aliases),
            (Node::Fixed(a), Node::Fixed(b)) => names_match(&a.name, &b.name, &b.aliases),
            (Node::Proto(a), Node::Proto(b)) => a == b,
            _ => false,
        }
    }
}

fn not_promotable(w: &Type, r: &Type) -> Rule {
    Rule::TypeNotPromotable {
        writer: w.to_string(),
        reader: r.to_string(),
    }
}

fn renamed(kind: &'static str, writer: &str, reader: &str) -> Rule {
    Rule::NameChanged {
        kind,
        writer: writer.to_string(),
        reader: reader.to_string(),
    }
}

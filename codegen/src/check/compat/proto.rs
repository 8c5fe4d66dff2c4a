//! Two revisions of a Protobuf message (as IR with field numbers) turned into the wire-format breaks between them, after Buf's WIRE category.
//!
//! Rules: a field number must keep a wire-compatible type (Buf's groups: int32, int64,
//! uint32, uint64, bool and enums share the varint encoding; sint32/sint64; fixed32/sfixed32;
//! fixed64/sfixed64; string/bytes; messages compared field by field; repeated stays
//! repeated); a field number must keep its field name (stricter than WIRE, as carebus also
//! emits a JSON form, where names are the keys); an enum value keeps its number and a number
//! keeps its value name. Removed fields are not reported: the IR does not carry `reserved`,
//! so reuse of a removed number is caught instead, by checking against every recorded
//! revision.

use super::{Incompatibility, Rule, Schema};
use crate::ir::{Enum, NamedType, ProtoScalar, Record, Source, Type};
use std::collections::HashSet;

/// Wire breaks between an `old` and a `new` revision of one message. The reported source is
/// the new field's; `writer_source` is the old one's.
pub fn wire_breaks(old: Schema<'_>, new: Schema<'_>) -> Vec<Incompatibility> {
    let mut c = Comparer {
        old_types: old.types,
        new_types: new.types,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    c.message(&new.record.name, old.record, new.record);
    c.out
}

/// What a type looks like on the wire.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint,
    ZigZag,
    Fixed32,
    Fixed64,
    Float,
    Double,
    Length,
    Message(&'a Record),
    Enum(&'a Enum),
    Repeated(&'a Type),
    Map(&'a Type),
    /// Anything else (logical types from well-known types): compared by name.
    Other(&'a Type),
}

fn wire<'a>(ty: &'a Type, types: &'a [NamedType]) -> Wire<'a> {
    let ty = ty.optional_inner().unwrap_or(ty);
    match ty {
        Type::Boolean | Type::Int | Type::Long => Wire::Varint,
        Type::Proto { scalar } => match scalar {
            ProtoScalar::Uint32 | ProtoScalar::Uint64 => Wire::Varint,
            ProtoScalar::Sint32 | ProtoScalar::Sint64 => Wire::ZigZag,
            ProtoScalar::Fixed32 | ProtoScalar::Sfixed32 => Wire::Fixed32,
            ProtoScalar::Fixed64 | ProtoScalar::Sfixed64 => Wire::Fixed64,
        },
        Type::Float => Wire::Float,
        Type::Double => Wire::Double,
        Type::String | Type::Bytes => Wire::Length,
        Type::Array { items } => Wire::Repeated(items),
        Type::Map { values } => Wire::Map(values),
        Type::Named { name } => match types.iter().find(|t| t.full_name() == *name) {
            Some(NamedType::Record(r)) => Wire::Message(r),
            Some(NamedType::Enum(e)) => Wire::Enum(e),
            _ => Wire::Other(ty),
        },
        _ => Wire::Other(ty),
    }
}

struct Comparer<'a> {
    old_types: &'a [NamedType],
    new_types: &'a [NamedType],
    seen: HashSet<(String, String)>,
    out: Vec<Incompatibility>,
}

impl<'a> Comparer<'a> {
    fn push(&mut self, path: String, old: &Source, new: &Source, rule: Rule) {
        self.out.push(Incompatibility {
            path,
            rule,
            writer_source: old.clone(),
            reader_source: new.clone(),
        });
    }

    fn message(&mut self, path: &str, old: &'a Record, new: &'a Record) {
        if !self.seen.insert((old.full_name(), new.full_name())) {
            return;
        }
        for nf in &new.fields {
            let Some(number) = nf.proto_number else {
                continue;
            };
            let Some(of) = old.fields.iter().find(|f| f.proto_number == Some(number)) else {
                continue;
            };
            let path = format!("{path}.{}", nf.name);
            if of.name != nf.name {
                let rule = Rule::FieldNumberReused {
                    number,
                    old: of.name.clone(),
                    new: nf.name.clone(),
                };
                self.push(path.clone(), &of.source, &nf.source, rule);
            }
            if let Err((o, n)) = self.same_wire(&path, &of.ty, &nf.ty) {
                let rule = Rule::FieldNumberTypeChanged {
                    number,
                    old: o.to_string(),
                    new: n.to_string(),
                };
                self.push(path, &of.source, &nf.source, rule);
            }
        }
    }

    /// Ok when `old` and `new` encode alike (nested messages and enums are compared in
    /// place, reporting their own breaks); Err with the two types otherwise.
    fn same_wire(
        &mut self,
        path: &str,
        old: &'a Type,
        new: &'a Type,
    ) -> Result<(), (&'a Type, &'a Type)> {
        match (wire(old, self.old_types), wire(new, self.new_types)) {
            (Wire::Varint | Wire::Enum(_), Wire::Varint)
            | (Wire::Varint, Wire::Enum(_))
            | (Wire::ZigZag, Wire::ZigZag)
            | (Wire::Fixed32, Wire::Fixed32)
            | (Wire::Fixed64, Wire::Fixed64)
            | (Wire::Float, Wire::Float)
            | (Wire::Double, Wire::Double)
            | (Wire::Length, Wire::Length) => Ok(()),
            (Wire::Enum(o), Wire::Enum(n)) => {
                self.enumeration(path, o, n);
                Ok(())
            }
            (Wire::Message(o), Wire::Message(n)) => {
                self.message(path, o, n);
                Ok(())
            }
            (Wire::Repeated(o), Wire::Repeated(n)) => self.same_wire(path, o, n),
            (Wire::Map(o), Wire::Map(n)) => self.same_wire(path, o, n),
            (Wire::Other(o), Wire::Other(n)) if o == n => Ok(()),
            _ => Err((old, new)),
        }
    }

    fn enumeration(&mut self, path: &str, old: &Enum, new: &Enum) {
        if !self.seen.insert((old.full_name(), new.full_name())) {
            return;
        }
        for ns in &new.symbols {
            if let Some(os) = old.symbols.iter().find(|s| s.name == ns.name) {
                if os.number != ns.number {
                    let rule = Rule::EnumValueNumberChanged {
                        name: new.name.clone(),
                        symbol: ns.name.clone(),
                        old: os.number,
                        new: ns.number,
                    };
                    self.push(path.to_string(), &old.source, &new.source, rule);
                }
            } else if let Some(os) = old.symbols.iter().find(|s| s.number == ns.number) {
                let rule = Rule::EnumValueNumberReused {
                    name: new.name.clone(),
                    number: ns.number,
                    old: os.name.clone(),
                    new: ns.name.clone(),
                };
                self.push(path.to_string(), &old.source, &new.source, rule);
            }
        }
    }
}

//! An IR type in, its one text spelling out (`string?`, `array<uuid>`, `map<string, decimal(10,2)>`), read by diagnostics and the catalog.

use super::Type;

/// The one text spelling of a type, read by diagnostics and the catalog: primitives and
/// logical types by their Avro names (`string`, `timestamp-millis`, `decimal(10,2)`),
/// `array<T>`, `map<string, T>`, `T?` for an optional union, `A | B` for other unions, named
/// types by their unqualified name, Protobuf scalars by their Protobuf names.
impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Type::Null => f.write_str("null"),
            Type::Boolean => f.write_str("boolean"),
            Type::Int => f.write_str("int"),
            Type::Long => f.write_str("long"),
            Type::Float => f.write_str("float"),
            Type::Double => f.write_str("double"),
            Type::Bytes => f.write_str("bytes"),
            Type::String => f.write_str("string"),
            Type::Uuid => f.write_str("uuid"),
            Type::Date => f.write_str("date"),
            Type::TimestampMillis => f.write_str("timestamp-millis"),
            Type::TimestampMicros => f.write_str("timestamp-micros"),
            Type::TimestampNanos => f.write_str("timestamp-nanos"),
            Type::TimeMillis => f.write_str("time-millis"),
            Type::TimeMicros => f.write_str("time-micros"),
            Type::LocalTimestampMillis => f.write_str("local-timestamp-millis"),
            Type::LocalTimestampMicros => f.write_str("local-timestamp-micros"),
            Type::LocalTimestampNanos => f.write_str("local-timestamp-nanos"),
            Type::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            Type::BigDecimal => f.write_str("big-decimal"),
            Type::Array { items } => write!(f, "array<{items}>"),
            Type::Map { values } => write!(f, "map<string, {values}>"),
            Type::Union { branches } => match self.optional_inner() {
                Some(inner) => write!(f, "{inner}?"),
                None => {
                    for (i, b) in branches.iter().enumerate() {
                        if i > 0 {
                            f.write_str(" | ")?;
                        }
                        write!(f, "{b}")?;
                    }
                    Ok(())
                }
            },
            Type::Named { name } => f.write_str(name.rsplit('.').next().unwrap_or(name)),
            Type::Proto { scalar } => f.write_str(scalar.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ProtoScalar;
    use super::*;

    #[test]
    fn types_have_one_spelling() {
        let named = |n: &str| Type::Named { name: n.into() };
        let table = [
            (
                Type::Union {
                    branches: vec![Type::Null, Type::Uuid],
                },
                "uuid?",
            ),
            (
                Type::Union {
                    branches: vec![Type::String, Type::Null],
                },
                "string?",
            ),
            (
                Type::Union {
                    branches: vec![Type::String, Type::Long, named("healthcare.common.Coding")],
                },
                "string | long | Coding",
            ),
            (
                Type::Map {
                    values: Box::new(Type::Decimal {
                        precision: 10,
                        scale: 2,
                    }),
                },
                "map<string, decimal(10,2)>",
            ),
            (
                Type::Array {
                    items: Box::new(Type::Proto {
                        scalar: ProtoScalar::Sint64,
                    }),
                },
                "array<sint64>",
            ),
        ];
        for (ty, text) in table {
            assert_eq!(ty.to_string(), text);
        }
    }
}

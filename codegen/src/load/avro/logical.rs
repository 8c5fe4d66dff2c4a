//! `logicalType` annotations in (on primitive types, fixed types and fields), IR types out: the logical type when it is one of the specification's and valid, else the underlying type and a located `ignored-logical-type` warning, as the Avro specification says ("Language implementations must ignore unknown logical types when reading, and should use the underlying Avro type. If a logical type is invalid, for example a decimal with scale greater than its precision, then implementations should ignore the logical type and use the underlying Avro type").

use super::Cx;
use crate::diagnostic::{DiagnosticKind, suggest};
use crate::ir::{FixedLogical, Type};
use crate::load::json::{self, Json, Spanned};

/// The specification's logical types and the underlying types each may annotate.
const LOGICAL_TYPES: &[(&str, &str)] = &[
    ("decimal", "bytes or fixed"),
    ("big-decimal", "bytes"),
    ("uuid", "string or fixed of size 16"),
    ("date", "int"),
    ("time-millis", "int"),
    ("time-micros", "long"),
    ("timestamp-millis", "long"),
    ("timestamp-micros", "long"),
    ("timestamp-nanos", "long"),
    ("local-timestamp-millis", "long"),
    ("local-timestamp-micros", "long"),
    ("local-timestamp-nanos", "long"),
    ("duration", "fixed of size 12"),
];

/// The most digits a carebus `Decimal` (a 128-bit unscaled integer) holds.
const MAX_DECIMAL_PRECISION: u64 = 38;

/// The most decimal digits a fixed of `size` bytes holds, as the specification computes it:
/// `floor(log10(2^(8 * size - 1) - 1))`.
pub fn max_fixed_precision(size: u32) -> u32 {
    if size == 0 {
        return 0;
    }
    // log10(2^(8n-1) - 1) differs from (8n-1)·log10(2) only below the floor's step for n >= 1.
    ((8.0 * size as f64 - 1.0) * std::f64::consts::LOG10_2).floor() as u32
}

/// The `logicalType` name an IR type carries, if any.
pub fn logical_name(ty: &Type) -> Option<&'static str> {
    Some(match ty {
        Type::Uuid => "uuid",
        Type::Date => "date",
        Type::TimeMillis => "time-millis",
        Type::TimeMicros => "time-micros",
        Type::TimestampMillis => "timestamp-millis",
        Type::TimestampMicros => "timestamp-micros",
        Type::TimestampNanos => "timestamp-nanos",
        Type::LocalTimestampMillis => "local-timestamp-millis",
        Type::LocalTimestampMicros => "local-timestamp-micros",
        Type::LocalTimestampNanos => "local-timestamp-nanos",
        Type::Decimal { .. } => "decimal",
        Type::BigDecimal => "big-decimal",
        _ => return None,
    })
}

/// The Avro type a logical type annotates (the type itself for the others): what a union's
/// "one branch per type" rule compares.
pub fn underlying(ty: &Type) -> &Type {
    match ty {
        Type::Uuid => &Type::String,
        Type::Date | Type::TimeMillis => &Type::Int,
        Type::TimeMicros
        | Type::TimestampMillis
        | Type::TimestampMicros
        | Type::TimestampNanos
        | Type::LocalTimestampMillis
        | Type::LocalTimestampMicros
        | Type::LocalTimestampNanos => &Type::Long,
        Type::Decimal { .. } | Type::BigDecimal => &Type::Bytes,
        other => other,
    }
}

impl Cx {
    fn warn_logical(&mut self, pos: json::Pos, msg: String, help: String) {
        self.err(DiagnosticKind::IgnoredLogicalType, pos, msg, help);
    }

    /// Where a node's `logicalType` is written (the node itself when it has none).
    fn logical_pos(node: &Spanned) -> json::Pos {
        node.get("logicalType").map_or(node.pos, |m| m.value.pos)
    }

    /// The type of `{"type": <prim>, "logicalType": ...}`: `base` is the primitive's own type.
    pub(super) fn logical_primitive(&mut self, node: &Spanned, prim: &str, base: Type) -> Type {
        let Some(m) = node.get("logicalType") else {
            return base;
        };
        let Some(l) = m.value.as_str() else {
            self.warn_logical(
                m.value.pos,
                format!("`logicalType` must be a string; ignored, the type is `{prim}`"),
                "write e.g. \"logicalType\": \"timestamp-millis\", or remove it".into(),
            );
            return base;
        };
        let ty = match (l, prim) {
            ("uuid", "string") => Type::Uuid,
            ("date", "int") => Type::Date,
            ("time-millis", "int") => Type::TimeMillis,
            ("time-micros", "long") => Type::TimeMicros,
            ("timestamp-millis", "long") => Type::TimestampMillis,
            ("timestamp-micros", "long") => Type::TimestampMicros,
            ("timestamp-nanos", "long") => Type::TimestampNanos,
            ("local-timestamp-millis", "long") => Type::LocalTimestampMillis,
            ("local-timestamp-micros", "long") => Type::LocalTimestampMicros,
            ("local-timestamp-nanos", "long") => Type::LocalTimestampNanos,
            ("decimal", "bytes") => return self.decimal(node, prim).unwrap_or(base),
            ("big-decimal", "bytes") => Type::BigDecimal,
            _ => {
                self.unknown_or_misplaced(node, l, prim);
                return base;
            }
        };
        for k in ["precision", "scale"] {
            if let Some(m) = node.get(k) {
                self.warn_logical(
                    m.key_pos,
                    format!("`{k}` has no meaning on a `{l}`; ignored"),
                    format!("remove `{k}` (only decimals have one)"),
                );
            }
        }
        ty
    }

    /// A `logicalType` on a fixed of `size` bytes: the logical type when valid there (the
    /// generated fixed then converts its bytes to and from `carebus::Uuid`, `carebus::Decimal`
    /// or `carebus::TimePeriod`), else a warning and the plain fixed.
    pub(super) fn logical_fixed(&mut self, node: &Spanned, size: u32) -> Option<FixedLogical> {
        let m = node.get("logicalType")?;
        let Some(l) = m.value.as_str() else {
            self.warn_logical(
                m.value.pos,
                "`logicalType` must be a string; ignored, the type is the fixed".into(),
                "write e.g. \"logicalType\": \"duration\", or remove it".into(),
            );
            return None;
        };
        let want = match l {
            "decimal" => {
                let Type::Decimal { precision, scale } = self.decimal(node, "fixed")? else {
                    return None;
                };
                // The specification: precision <= floor(log10(2^(8 * size - 1) - 1)).
                let most = max_fixed_precision(size);
                if precision > most {
                    let pos = node.get("precision").map_or(node.pos, |m| m.value.pos);
                    self.warn_logical(
                        pos,
                        format!("decimal precision {precision} does not fit a fixed of {size} bytes (at most {most} digits); the logical type is ignored, the type is the fixed"),
                        format!("raise \"size\" or lower \"precision\" to {most}"),
                    );
                    return None;
                }
                return Some(FixedLogical::Decimal { precision, scale });
            }
            "uuid" => 16,
            "duration" => 12,
            _ => {
                self.unknown_or_misplaced(node, l, "fixed");
                return None;
            }
        };
        if size != want {
            self.warn_logical(
                Self::logical_pos(node),
                format!("logical type `{l}` needs a fixed of size {want}, not {size}; ignored, the type is the fixed"),
                format!("write \"size\": {want}, or remove `logicalType`"),
            );
            return None;
        }
        Some(if l == "uuid" {
            FixedLogical::Uuid
        } else {
            FixedLogical::Duration
        })
    }

    /// A decimal's precision and scale, checked as the specification says; `None` (after a
    /// warning) when invalid or wider than carebus's `Decimal`.
    fn decimal(&mut self, node: &Spanned, under: &str) -> Option<Type> {
        let whole = |k: &str| -> Option<Result<i128, json::Pos>> {
            let m = node.get(k)?;
            Some(match &m.value.value {
                Json::Number(n) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or(0) as i128),
                Json::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0) as i128),
                _ => Err(m.value.pos),
            })
        };
        let example = format!(
            "write e.g. {{\"type\": \"{under}\", \"logicalType\": \"decimal\", \"precision\": 10, \"scale\": 2}}"
        );
        let precision = match whole("precision") {
            Some(Ok(p)) if p > 0 => p,
            Some(Ok(p)) => {
                let pos = node.get("precision").map_or(node.pos, |m| m.value.pos);
                self.warn_logical(
                    pos,
                    format!("decimal precision {p} is invalid (it must be greater than 0); the logical type is ignored, the type is `{under}`"),
                    example,
                );
                return None;
            }
            Some(Err(pos)) => {
                self.warn_logical(
                    pos,
                    format!("decimal `precision` must be a whole number; the logical type is ignored, the type is `{under}`"),
                    example,
                );
                return None;
            }
            None => {
                self.warn_logical(
                    Self::logical_pos(node),
                    format!("decimal without `precision` is invalid; the logical type is ignored, the type is `{under}`"),
                    example,
                );
                return None;
            }
        };
        let scale = match whole("scale") {
            None => 0,
            Some(Ok(s)) if (0..=precision).contains(&s) => s,
            Some(r) => {
                let pos = r.err().or_else(|| node.get("scale").map(|m| m.value.pos));
                self.warn_logical(
                    pos.unwrap_or(node.pos),
                    format!("decimal `scale` must be a whole number from 0 to the precision ({precision}); the logical type is ignored, the type is `{under}`"),
                    example,
                );
                return None;
            }
        };
        if precision > MAX_DECIMAL_PRECISION as i128 {
            let pos = node.get("precision").map_or(node.pos, |m| m.value.pos);
            self.warn_logical(
                pos,
                format!("decimal precision {precision} is more than the {MAX_DECIMAL_PRECISION} digits a carebus `Decimal` holds; the logical type is ignored, the type is `{under}`"),
                format!("use a precision up to {MAX_DECIMAL_PRECISION} for a `carebus::Decimal`, or keep the raw two's-complement bytes"),
            );
            return None;
        }
        Some(Type::Decimal {
            precision: precision as u32,
            scale: scale as u32,
        })
    }

    /// Warn about a logical type that is not the specification's, or is one of them on the
    /// wrong underlying type.
    fn unknown_or_misplaced(&mut self, node: &Spanned, l: &str, under: &str) {
        let pos = Self::logical_pos(node);
        match LOGICAL_TYPES.iter().find(|(name, _)| *name == l) {
            Some((_, on)) => self.warn_logical(
                pos,
                format!("logical type `{l}` annotates {on}, not `{under}`; ignored, the type is `{under}`"),
                format!("change the type to {on}, or remove `logicalType`"),
            ),
            None => {
                let help = match suggest(l, LOGICAL_TYPES.iter().map(|(n, _)| *n)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "the Avro logical types are {}; every Avro reader ignores others",
                        LOGICAL_TYPES
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.warn_logical(
                    pos,
                    format!("unknown logical type `{l}`; ignored, the type is `{under}`"),
                    help,
                );
            }
        }
    }

    /// `logicalType` written on a field rather than on its type. Avro reads logical types
    /// from types only, so it is ignored; harmless (accepted silently) when the field's type
    /// already is that logical type, else reported: readers that honour it would see a
    /// different value than Avro does.
    pub(super) fn field_logical(&mut self, node: &Spanned, name: &str, ty: &Type) {
        let Some(m) = node.get("logicalType") else {
            for k in ["precision", "scale"] {
                if let Some(m) = node.get(k) {
                    self.warn_logical(
                        m.key_pos,
                        format!("`{k}` on field `{name}` has no meaning; ignored"),
                        format!("a decimal's `{k}` belongs on its type: {{\"type\": {{\"type\": \"bytes\", \"logicalType\": \"decimal\", \"{k}\": ...}}}}"),
                    );
                }
            }
            return;
        };
        let inner = ty.optional_inner().unwrap_or(ty);
        let written = m.value.as_str();
        let same = written.is_some() && written == logical_name(inner);
        let decimal_agrees = match inner {
            Type::Decimal { precision, scale } => {
                let num = |k: &str| match node.get(k).map(|m| &m.value.value) {
                    Some(Json::Number(n)) => n.as_u64(),
                    _ => None,
                };
                num("precision").is_none_or(|p| p == *precision as u64)
                    && num("scale").is_none_or(|s| s == *scale as u64)
            }
            _ => node.get("precision").is_none() && node.get("scale").is_none(),
        };
        if same && decimal_agrees {
            return;
        }
        let shown = written.unwrap_or("(not a string)");
        let (on, spelled) = match LOGICAL_TYPES.iter().find(|(n, _)| Some(*n) == written) {
            Some((_, on)) => (
                *on,
                format!("{{\"type\": {{\"type\": <{on}>, \"logicalType\": \"{shown}\"}}}}"),
            ),
            None => ("", String::new()),
        };
        let help = if on.is_empty() {
            "remove it: Avro reads logical types from types, never from fields".to_string()
        } else {
            format!(
                "Avro reads logical types from types, never from fields: write the field's type as {spelled}, or remove the field's `logicalType`"
            )
        };
        self.warn_logical(
            m.value.pos,
            format!(
                "`logicalType` `{shown}` on field `{name}` is ignored (the field's type is `{ty}`); readers that honour it would read a different value"
            ),
            help,
        );
    }
}

#[cfg(test)]
mod tests {
    /// The specification's table: 1 byte 2 digits, 4 bytes 9, 8 bytes 18, 16 bytes 38.
    #[test]
    fn fixed_precision_follows_the_specification() {
        let got: Vec<u32> = [1, 2, 4, 8, 16, 20]
            .map(super::max_fixed_precision)
            .to_vec();
        assert_eq!(got, vec![2, 4, 9, 18, 38, 47]);
    }
}

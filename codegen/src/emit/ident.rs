//! Schema names in, Rust identifiers out: snake_case / UpperCamelCase via heck, keywords as raw identifiers, leading digits prefixed.

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span};

/// Every Rust keyword (strict, reserved and edition-2018+/2024 ones).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers; they get a `_` suffix instead.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Turn an already-cased name into a valid identifier text: empty → `_`-prefixed fallback,
/// leading digit → `_` prefix, keyword → `r#kw` (or `kw_` where raw is impossible).
fn sanitize(cased: String, empty: &str) -> String {
    let cased: String = cased
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cased.is_empty() {
        return empty.to_string();
    }
    if cased.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("_{cased}");
    }
    if NOT_RAW.contains(&cased.as_str()) {
        return format!("{cased}_");
    }
    if KEYWORDS.contains(&cased.as_str()) {
        return format!("r#{cased}");
    }
    cased
}

/// The text of a field / method / module name: `patientId` → `patient_id`, `type` → `r#type`.
pub fn snake(name: &str) -> String {
    sanitize(name.to_snake_case(), "field_")
}

/// The text of a type / variant name: `lab_result` → `LabResult`, `HIGH` → `High`.
pub fn camel(name: &str) -> String {
    sanitize(name.to_upper_camel_case(), "Unnamed")
}

/// An identifier from sanitized text (handles the `r#` prefix). Text that is no identifier
/// (empty, or not sanitized) is sanitized here rather than panicking.
pub fn ident(text: &str) -> Ident {
    let valid = |t: &str| syn::parse_str::<Ident>(t).is_ok();
    match text.strip_prefix("r#") {
        Some(raw) if valid(text) => Ident::new_raw(raw, Span::call_site()),
        None if valid(text) => Ident::new(text, Span::call_site()),
        _ => {
            let clean = sanitize(text.to_string(), "unnamed");
            let clean = if valid(&clean) && !clean.starts_with("r#") {
                clean
            } else {
                "unnamed".to_string()
            };
            Ident::new(&clean, Span::call_site())
        }
    }
}

/// Field or method identifier for a schema name.
pub fn snake_ident(name: &str) -> Ident {
    ident(&snake(name))
}

/// Type or variant identifier for a schema name.
pub fn camel_ident(name: &str) -> Ident {
    ident(&camel(name))
}

/// The field identifier of `name` among a record's `fields`: its snake_case form, with a
/// `_2`, `_3`, ... suffix when an earlier field maps to the same identifier (`self` and `Self`
/// both become `self_`).
pub fn field_ident(fields: &[crate::ir::Field], name: &str) -> Ident {
    let mut taken: Vec<String> = Vec::new();
    for f in fields {
        let base = snake(&f.name);
        let mut text = base.clone();
        let mut n = 2;
        while taken.contains(&text) {
            text = format!("{}_{n}", unraw(&base).trim_end_matches('_'));
            n += 1;
        }
        if f.name == name {
            return ident(&text);
        }
        taken.push(text);
    }
    snake_ident(name)
}

/// The name serde sees for an identifier (without `r#`).
pub fn unraw(text: &str) -> &str {
    text.strip_prefix("r#").unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_table() {
        let table = [
            ("patientId", "patient_id"),
            ("PatientID", "patient_id"),
            ("HTTPStatus", "http_status"),
            ("type", "r#type"),
            ("match", "r#match"),
            ("async", "r#async"),
            ("gen", "r#gen"),
            ("self", "self_"),
            ("super", "super_"),
            ("crate", "crate_"),
            ("Self", "self_"),
            ("1stLine", "_1st_line"),
            ("2", "_2"),
            ("_", "field_"),
            ("", "field_"),
            ("addressLine1", "address_line1"),
            ("dose-unit", "dose_unit"),
        ];
        for (input, expected) in table {
            assert_eq!(snake(input), expected, "snake({input:?})");
            // Every output must be a valid identifier.
            syn::parse_str::<syn::Ident>(&snake(input)).unwrap();
        }
    }

    #[test]
    fn upper_camel_case_table() {
        let table = [
            ("PatientCreated", "PatientCreated"),
            ("lab_result", "LabResult"),
            ("HIGH", "High"),
            ("CRITICAL_HIGH", "CriticalHigh"),
            ("Self", "Self_"),
            ("self", "Self_"),
            ("1stClass", "_1stClass"),
            ("", "Unnamed"),
            ("ICD10CM", "Icd10cm"),
        ];
        for (input, expected) in table {
            assert_eq!(camel(input), expected, "camel({input:?})");
            syn::parse_str::<syn::Ident>(unraw(&camel(input))).unwrap();
        }
    }

    #[test]
    fn colliding_field_names_get_a_suffix() {
        let field = |name: &str| crate::ir::Field {
            rust: Default::default(),
            name: name.into(),
            doc: None,
            ty: crate::ir::Type::Int,
            default: None,
            aliases: vec![],
            classification: Default::default(),
            examples: vec![],
            deprecated: None,
            proto_number: None,
            classified: false,
            analytics: None,
            source: Default::default(),
        };
        let fields = [field("self"), field("Self"), field("type"), field("Type")];
        let ids: Vec<String> = fields
            .iter()
            .map(|f| field_ident(&fields, &f.name).to_string())
            .collect();
        assert_eq!(ids, ["self_", "self_2", "r#type", "type_2"]);
    }

    #[test]
    fn text_that_is_no_identifier_is_sanitized_not_a_panic() {
        assert_eq!(ident("").to_string(), "unnamed");
        assert_eq!(ident("_").to_string(), "__");
        assert_eq!(ident("a-b").to_string(), "a_b");
        assert_eq!(ident("r#type").to_string(), "r#type");
    }

    #[test]
    fn raw_identifiers_print_with_prefix() {
        assert_eq!(snake_ident("type").to_string(), "r#type");
        assert_eq!(unraw("r#type"), "type");
        assert_eq!(snake_ident("patientId").to_string(), "patient_id");
    }
}

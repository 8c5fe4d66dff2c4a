//! JSON text in, a tree of values that remember their line and column out — so schema diagnostics can point at the offending token.
//!
//! serde_json reports positions only for syntax errors; the loader also needs them for
//! semantic errors (an unknown type name, a bad default), hence this small parser. It accepts
//! exactly RFC 8259 JSON, limits nesting depth, and never panics.

use crate::diagnostic::{Diagnostic, DiagnosticKind};
use crate::ir::Source;

/// A position in a file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// A JSON value with the position of its first character.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    pub pos: Pos,
    pub value: Json,
}

/// An object member: key (with its own position) and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: Spanned,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Spanned>),
    /// Members in file order; duplicates are rejected by the parser.
    Object(Vec<Member>),
}

impl Spanned {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&[Member]> {
        match &self.value {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Spanned]> {
        match &self.value {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }
    /// The member named `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Member> {
        self.as_object()?.iter().find(|m| m.key == key)
    }
    /// Convert to a plain serde_json value (positions dropped).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => Value::Array(a.iter().map(Spanned::to_value).collect()),
            Json::Object(m) => Value::Object(
                m.iter()
                    .map(|m| (m.key.clone(), m.value.to_value()))
                    .collect(),
            ),
        }
    }
    /// A short description of the JSON kind, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

const MAX_DEPTH: usize = 128;

/// Parse `text` (the content of `file`) into a spanned tree, or a syntax diagnostic.
pub fn parse(file: &str, text: &str) -> Result<Spanned, Diagnostic> {
    let mut p = Parser {
        file,
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.chars.len() {
        return Err(p.err(
            "unexpected text after the JSON value",
            "a schema file holds exactly one JSON value; remove what follows it",
        ));
    }
    Ok(v)
}

struct Parser<'a> {
    file: &'a str,
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

impl Parser<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }
    fn err(&self, msg: &str, help: &str) -> Diagnostic {
        Diagnostic::new(
            DiagnosticKind::Syntax,
            Source::new(self.file, self.line, self.col),
            format!("invalid JSON: {msg}"),
        )
        .help(help)
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }
    fn expect(&mut self, c: char, help: &str) -> Result<(), Diagnostic> {
        if self.peek() == Some(c) {
            self.bump();
            Ok(())
        } else {
            let found = self
                .peek()
                .map_or_else(|| "end of file".to_string(), |f| format!("`{f}`"));
            Err(self.err(&format!("expected `{c}`, found {found}"), help))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Spanned, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(self.err(
                "nesting deeper than 128 levels",
                "flatten the schema; nothing legitimate nests this deep",
            ));
        }
        let pos = self.pos();
        let value = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => Json::String(self.string()?),
            Some('t') => self.literal("true", Json::Bool(true))?,
            Some('f') => self.literal("false", Json::Bool(false))?,
            Some('n') => self.literal("null", Json::Null)?,
            Some(c) if c == '-' || c.is_ascii_digit() => self.number()?,
            Some(c) => {
                return Err(self.err(
                    &format!("unexpected `{c}`"),
                    "expected a value: an object, array, string (in double quotes), number, true, false or null",
                ));
            }
            None => {
                return Err(self.err(
                    "unexpected end of file",
                    "the file is truncated or empty; complete the JSON value",
                ));
            }
        };
        Ok(Spanned { pos, value })
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, Diagnostic> {
        for expected in word.chars() {
            if self.peek() != Some(expected) {
                return Err(self.err(
                    &format!("unknown literal (expected `{word}`)"),
                    "strings need double quotes; the only bare words in JSON are true, false and null",
                ));
            }
            self.bump();
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Json, Diagnostic> {
        let start = self.i;
        let start_pos = (self.line, self.col);
        if self.peek() == Some('-') {
            self.bump();
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        {
            self.bump();
        }
        let text: String = self.chars[start..self.i].iter().collect();
        match serde_json::from_str::<serde_json::Number>(&text) {
            Ok(n) => Ok(Json::Number(n)),
            Err(_) => {
                self.line = start_pos.0;
                self.col = start_pos.1;
                Err(self.err(
                    &format!("`{text}` is not a valid number"),
                    "write numbers like 12, -3, 0.5 or 1e6 (no leading zeros or trailing dots)",
                ))
            }
        }
    }

    fn string(&mut self) -> Result<String, Diagnostic> {
        self.expect('"', "strings start with a double quote")?;
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err("unterminated string", "add the closing double quote")),
                Some('"') => return Ok(out),
                Some('\\') => {
                    match self.bump() {
                        Some('"') => out.push('"'),
                        Some('\\') => out.push('\\'),
                        Some('/') => out.push('/'),
                        Some('b') => out.push('\u{8}'),
                        Some('f') => out.push('\u{c}'),
                        Some('n') => out.push('\n'),
                        Some('r') => out.push('\r'),
                        Some('t') => out.push('\t'),
                        Some('u') => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if self.bump() != Some('\\') || self.bump() != Some('u') {
                                    return Err(self.err("unpaired surrogate in \\u escape", "write the full UTF-16 surrogate pair or the character itself"));
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err(
                                        "invalid low surrogate in \\u escape",
                                        "write the character itself",
                                    ));
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else {
                                char::from_u32(hi)
                            };
                            match c {
                                Some(c) => out.push(c),
                                None => {
                                    return Err(self
                                        .err("invalid \\u escape", "write the character itself"));
                                }
                            }
                        }
                        _ => {
                            return Err(self.err(
                                "invalid escape sequence",
                                "valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
                            ));
                        }
                    }
                }
                Some(c) if (c as u32) < 0x20 => {
                    return Err(self.err(
                        "control character inside a string",
                        "escape it (e.g. \\n) or remove it",
                    ));
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Diagnostic> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = self.bump().and_then(|c| c.to_digit(16));
            match d {
                Some(d) => v = v * 16 + d,
                None => {
                    return Err(self.err(
                        "\\u needs four hex digits",
                        "write \\u followed by four hex digits, e.g. \\u00e9",
                    ));
                }
            }
        }
        Ok(v)
    }

    fn array(&mut self, depth: usize) -> Result<Json, Diagnostic> {
        self.expect('[', "")?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(Json::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                    self.ws();
                    if self.peek() == Some(']') {
                        return Err(
                            self.err("trailing comma in array", "remove the comma before `]`")
                        );
                    }
                }
                Some(']') => {
                    self.bump();
                    return Ok(Json::Array(items));
                }
                _ => {
                    return Err(self.err(
                        "expected `,` or `]` in array",
                        "separate items with commas and close the array with `]`",
                    ));
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, Diagnostic> {
        self.expect('{', "")?;
        let mut members: Vec<Member> = Vec::new();
        self.ws();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(Json::Object(members));
        }
        loop {
            self.ws();
            let key_pos = self.pos();
            if self.peek() != Some('"') {
                return Err(self.err(
                    "expected a member name in double quotes",
                    "object keys must be strings, e.g. \"name\": ...; check for a trailing comma",
                ));
            }
            let key = self.string()?;
            if members.iter().any(|m| m.key == key) {
                return Err(Diagnostic::new(
                    DiagnosticKind::DuplicateName,
                    Source::new(self.file, key_pos.line, key_pos.column),
                    format!("duplicate key `{key}` in the same object"),
                )
                .help("JSON readers disagree on which value wins; keep one"));
            }
            self.ws();
            self.expect(':', "put `:` between a member's name and its value")?;
            self.ws();
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_pos,
                value,
            });
            self.ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                    self.ws();
                    if self.peek() == Some('}') {
                        return Err(
                            self.err("trailing comma in object", "remove the comma before `}`")
                        );
                    }
                }
                Some('}') => {
                    self.bump();
                    return Ok(Json::Object(members));
                }
                _ => {
                    return Err(self.err(
                        "expected `,` or `}` in object",
                        "separate members with commas and close the object with `}`",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_values() {
        let v = parse("f.json", "{\n  \"a\": [1, \"x\"],\n  \"b\": null\n}").unwrap();
        let a = v.get("a").unwrap();
        assert_eq!(a.key_pos, Pos { line: 2, column: 3 });
        assert_eq!(a.value.pos, Pos { line: 2, column: 8 });
        assert_eq!(
            a.value.as_array().unwrap()[1].pos,
            Pos {
                line: 2,
                column: 12
            }
        );
        assert_eq!(v.get("b").unwrap().value.value, Json::Null);
    }

    #[test]
    fn syntax_errors_carry_position_and_help() {
        let e = parse("f.json", "{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!(e.kind, DiagnosticKind::Syntax);
        assert_eq!((e.source.line, e.source.column), (3, 1));
        assert!(e.message.contains("trailing comma"), "{}", e.message);
        let e = parse("f.json", "{\"a\": \"b\" \"c\": 1}").unwrap_err();
        assert!(e.message.contains("expected `,` or `}`"));
        let e = parse("f.json", "{\"a\": 1, \"a\": 2}").unwrap_err();
        assert_eq!(e.kind, DiagnosticKind::DuplicateName);
    }

    #[test]
    fn hostile_input_never_panics() {
        let deep = "[".repeat(10_000);
        assert!(parse("f", &deep).is_err());
        for s in [
            "",
            "\"\\u12",
            "\"\\ud800\"",
            "-",
            "01",
            "1.",
            "{\"a\"",
            "\u{0}",
            "nul",
            "[1,]",
            "\"\u{1}\"",
        ] {
            assert!(parse("f", s).is_err(), "{s:?} should be an error");
        }
        assert_eq!(
            parse("f", "\"\\ud83d\\ude00\"").unwrap().as_str(),
            Some("😀")
        );
    }
}

//! Broken `.proto` files in, one diagnostic per problem kind out (file:line:column, message, help); never a panic.

use crate::proto_harness::*;

/// The diagnostics for `schema` saved as `healthcare/ai/broken.proto` next to the options.
fn problems(schema: &str) -> Vec<Diagnostic> {
    let dir = scratch_dir();
    let file = dir.join("healthcare/ai/broken.proto");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, schema).unwrap();
    match load_proto(&[file], &[dir]) {
        Ok(out) => panic!("expected diagnostics, loaded {} events", out.events.len()),
        Err(d) => d.0,
    }
}

fn only(schema: &str, kind: DiagnosticKind) -> Diagnostic {
    let found = problems(schema);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, kind, "{found:#?}");
    assert!(
        found[0].source.file.ends_with("healthcare/ai/broken.proto"),
        "{}",
        found[0].source
    );
    found.into_iter().next().unwrap()
}

const HEAD: &str =
    "syntax = \"proto3\";\npackage healthcare.ai;\nimport \"carebus/options.proto\";\n";

fn event(options: &str, fields: &str) -> String {
    format!("{HEAD}message Scanned {{\n{options}\n{fields}\n}}\n")
}

const OPTIONS: &str = "  option (carebus.topic) = \"healthcare.ai.events\";\n  option (carebus.aggregate_type) = \"Analysis\";";

#[test]
fn syntax_error_points_at_line_and_column() {
    let d = only(
        &format!("{HEAD}message Scanned {{\n  string id = 1\n  string b = 2;\n}}\n"),
        DiagnosticKind::ProtobufSyntax,
    );
    assert_eq!((d.source.line, d.source.column), (6, 3), "{d}");
    assert!(d.message.contains("Protobuf syntax error"), "{d}");
    assert!(d.message.contains("expected ';'"), "{d}");
    assert!(d.help.is_some());
    let rendered = d.render(Some(&std::fs::read_to_string(&d.source.file).unwrap()));
    assert!(rendered.contains("6 |   string b = 2;"), "{rendered}");
}

#[test]
fn misspelled_option_is_an_unknown_annotation_with_a_suggestion() {
    let d = only(
        &event(
            &format!("{OPTIONS}\n  option (carebus.agregate_id) = \"id\";"),
            "  string id = 1;",
        ),
        DiagnosticKind::UnknownAnnotation,
    );
    assert!(d.message.contains("carebus.agregate_id"), "{d}");
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean `(carebus.aggregate_id)`?")
    );
    assert_eq!(d.source.line, 7, "{d}");
}

#[test]
fn missing_aggregate_id() {
    let d = only(
        &event(OPTIONS, "  string id = 1;"),
        DiagnosticKind::MissingAggregateId,
    );
    assert!(d.message.contains("has no `(carebus.aggregate_id)`"), "{d}");
    assert!(d.help.as_deref().unwrap().contains("id"), "{d:?}");
    assert_eq!((d.source.line, d.source.column), (4, 1));
}

#[test]
fn aggregate_id_naming_no_field() {
    let d = only(
        &event(
            &format!("{OPTIONS}\n  option (carebus.aggregate_id) = \"scan_idd\";"),
            "  string scan_id = 1;",
        ),
        DiagnosticKind::MissingAggregateId,
    );
    assert!(
        d.message.contains("`scan_idd`, which is not a field"),
        "{d}"
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `scan_id`?"));
}

#[test]
fn bad_classification_value() {
    let d = only(
        &event(
            &format!("{OPTIONS}\n  option (carebus.aggregate_id) = \"id\";"),
            "  string id = 1 [(carebus.classification) = \"phii\"];",
        ),
        DiagnosticKind::BadAnnotation,
    );
    assert!(d.message.contains("unknown classification `phii`"), "{d}");
    assert_eq!(d.help.as_deref(), Some("did you mean `phi`?"));
    assert_eq!(d.source.line, 8, "{d}");
}

#[test]
fn bad_compatibility_version_and_examples() {
    let found = problems(&event(
        &format!(
            "{OPTIONS}\n  option (carebus.aggregate_id) = \"id\";\n  option (carebus.compatibility) = \"BACKWARDS\";\n  option (carebus.event_version) = 0;"
        ),
        "  string id = 1 [(carebus.examples) = \"not json\"];",
    ));
    let kinds: Vec<_> = found.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [DiagnosticKind::BadAnnotation; 3], "{found:#?}");
    assert!(
        found
            .iter()
            .any(|d| d.help.as_deref() == Some("did you mean `BACKWARD`?"))
    );
    assert!(
        found
            .iter()
            .any(|d| d.message.contains("must be 1 or more"))
    );
    assert!(found.iter().any(|d| d.message.contains("is not JSON")));
}

#[test]
fn event_options_without_topic() {
    let d = only(
        &format!(
            "{HEAD}message Scanned {{\n  option (carebus.aggregate_id) = \"id\";\n  string id = 1;\n}}\n"
        ),
        DiagnosticKind::BadAnnotation,
    );
    assert!(d.message.contains("no `(carebus.topic)`"), "{d}");
}

#[test]
fn unknown_type_and_unsupported_shapes() {
    let d = only(&event("", "  Strnig id = 1;"), DiagnosticKind::UnknownType);
    assert!(d.message.contains("Strnig"), "{d}");
    assert_eq!(d.help.as_deref(), Some("did you mean `string`?"));
    assert_eq!((d.source.line, d.source.column), (6, 3));

    let d = only(
        &event("", "  map<int32, string> by_id = 1;"),
        DiagnosticKind::InvalidSchema,
    );
    assert!(d.message.contains("only string keys"), "{d}");

    let d = only(
        &format!(
            "{HEAD}import \"google/protobuf/duration.proto\";\nmessage Scanned {{\n  google.protobuf.Duration took = 1;\n}}\n"
        ),
        DiagnosticKind::InvalidSchema,
    );
    assert!(d.message.contains("google.protobuf.Duration"), "{d}");

    let d = only(
        &event(
            "",
            "  oneof result {\n    string text = 1;\n    int32 code = 2;\n  }",
        ),
        DiagnosticKind::InvalidSchema,
    );
    assert!(d.message.contains("oneof result"), "{d}");
    assert_eq!(d.source.line, 6, "{d}");
}

#[test]
fn missing_file_is_an_io_diagnostic() {
    let dir = scratch_dir();
    let err = load_proto(&[dir.join("healthcare/nope.proto")], &[dir]).unwrap_err();
    assert_eq!(err.0[0].kind, DiagnosticKind::Io, "{err}");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "\u{0}\u{1}\u{2}",
        "syntax = \"proto3\"; message {",
        "syntax = \"proto2\"; package x; message A { required int32 a = 1; }",
        "message A { A a = 1; }",
        "syntax = \"proto3\"; package a.b; enum E { X = 1; }",
        "syntax = \"proto3\"; import \"missing.proto\";",
        "syntax = \"proto3\"; message A { option (carebus.topic) = 5; }",
    ] {
        let dir = scratch_dir();
        let file = dir.join("g.proto");
        std::fs::write(&file, text).unwrap();
        let _ = load_proto(&[file], &[dir]);
    }
}

#[test]
fn option_in_the_wrong_place_or_with_the_wrong_type() {
    let d = only(
        &event(
            "  option (carebus.classification) = \"phi\";",
            "  string id = 1;",
        ),
        DiagnosticKind::BadAnnotation,
    );
    assert_eq!(
        d.message,
        "`(carebus.classification)` is a field option, used here on a message"
    );
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .contains("[(carebus.classification) = ...]")
    );
    assert_eq!(d.source.line, 5, "{d}");

    let d = only(
        &event("", "  string id = 1 [(carebus.topic) = \"x\"];"),
        DiagnosticKind::BadAnnotation,
    );
    assert_eq!(
        d.message,
        "`(carebus.topic)` is a message option, used here on a field"
    );

    let d = only(
        &event(
            "  option (carebus.event_version) = \"2\";",
            "  string id = 1;",
        ),
        DiagnosticKind::BadAnnotation,
    );
    assert_eq!(
        d.message,
        "`(carebus.event_version)` takes a value of type int32"
    );
}

#[test]
fn a_message_that_would_contain_itself() {
    // `Node.next` is required and leads back to `Node`: no finite value. `A`/`B` recurse
    // through an `optional` field and `Node.children` through a repeated one: both fine
    // (generated with a `Box`, as prost does).
    let found = problems(&format!(
        "{HEAD}message Node {{\n  Node next = 1;\n  repeated Node children = 2;\n}}\n\
         message A {{\n  optional B b = 1;\n}}\nmessage B {{\n  A a = 1;\n}}\n"
    ));
    let got: Vec<_> = found.iter().map(|d| (d.kind, d.source.line)).collect();
    assert_eq!(got, [(DiagnosticKind::InfiniteRecord, 5)], "{found:#?}");
    assert!(found[0].message.contains("field `next`"), "{}", found[0]);
    let help = found[0].help.as_deref().unwrap_or_default();
    assert!(
        help.contains("optional") && help.contains("repeated"),
        "{help}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Schema-shaped noise: fragments of valid syntax in random order and amounts.
    #[test]
    fn schema_shaped_noise_never_panics(parts in proptest::collection::vec(
        proptest::sample::select(vec![
            "message ", "A", "B", " {", "}", ";", " = ", "1", "-1", "string ", "int32 ",
            "repeated ", "optional ", "map<string, A> ", "oneof o {", "enum E {", "E_X = 0;",
            "option (carebus.topic) = \"t\";", "option (carebus.aggregate_id) = \"a\";",
            "[(carebus.classification) = \"phi\"]", "[(carebus.examples) = \"{\"]",
            "import \"carebus/options.proto\";", "package p.q;", "syntax = \"proto3\";",
            "\n", "// c\n", "/*", "\"", "\u{e9}", "reserved 2;", "a ", "b ",
        ]),
        0..40,
    )) {
        let dir = scratch_dir();
        let file = dir.join("noise.proto");
        std::fs::write(&file, parts.concat()).unwrap();
        let _ = load_proto(&[file], std::slice::from_ref(&dir));
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_broken_import_is_reported_once() {
    let dir = scratch_dir();
    let common = dir.join("healthcare/common/codes.proto");
    std::fs::create_dir_all(common.parent().unwrap()).unwrap();
    std::fs::write(
        &common,
        "syntax = \"proto3\";\npackage healthcare.common;\nmessage Code { string code = 1 }\n",
    )
    .unwrap();
    let mut files = vec![common];
    for name in ["a", "b"] {
        let file = dir.join(format!("healthcare/{name}/{name}.proto"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            format!("syntax = \"proto3\";\npackage healthcare.{name};\nimport \"healthcare/common/codes.proto\";\nmessage M {{ healthcare.common.Code c = 1; }}\n"),
        )
        .unwrap();
        files.push(file);
    }
    let d = load_proto(&files, &[dir]).unwrap_err();
    assert_eq!(d.len(), 1, "{d}");
    assert_eq!(d.0[0].kind, DiagnosticKind::ProtobufSyntax);
    assert!(
        d.0[0]
            .source
            .file
            .ends_with("healthcare/common/codes.proto"),
        "{d}"
    );
    assert_eq!((d.0[0].source.line, d.0[0].source.column), (3, 32), "{d}");
}

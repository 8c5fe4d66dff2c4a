//! Broken journey files in, located diagnostics out (file:line:column, the source line with a caret, a help line), snapshotted per problem kind; plus the journey lock's gate against stranding running instances.

use carebus_codegen::diagnostic::{DiagnosticKind, Diagnostics};
use carebus_codegen::ir::Model;
use carebus_codegen::ir::journey::Journey;
use carebus_codegen::journey_lock::{self, JourneyHistory, JourneyVersion};
use std::path::Path;
use std::sync::OnceLock;

const FILE: &str = "schemas/journeys/follow_up.toml";

/// The real domain model (events of `schemas/`).
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        carebus_codegen::load::load_dir(&dir).unwrap_or_else(|d| panic!("{}", d.render()))
    })
}

/// A journey that loads cleanly; the tests break one thing in it at a time.
const VALID: &str = r#"name = "follow-up"
version = 1
doc = "A follow-up visit after a completed appointment that asked for one."

[start]
event = "AppointmentCompleted"
when = [{ field = "followUpRequired", eq = true }]

[correlate]
AppointmentCompleted = "patientId"
AppointmentScheduled = "patientId"
PatientDeactivated = "patientId"

[[state]]
name = "to-book"
kind = "initial"
sla = "7d"
timeouts = [{ timer = "nudge", after = "2d" }]

[[state]]
name = "booked"

[[state]]
name = "done"
kind = "final"
outcome = "COMPLETED"

[[state]]
name = "dropped"
kind = "final"
outcome = "CANCELLED"

[[transition]]
from = "to-book"
on = "timer:nudge"
to = "to-book"
actions = [{ publish = "follow-up-reminder", type = "SEND_SMS" }]

[[transition]]
from = "to-book"
on = "AppointmentScheduled"
to = "booked"
when = [{ field = "visitMode", in = ["IN_PERSON", "VIDEO"] }]

[[transition]]
from = "booked"
on = "AppointmentCompleted"
to = "done"

[[transition]]
from = ["to-book", "booked"]
on = "PatientDeactivated"
to = "dropped"
when = [{ field = "reason", ne = "MERGED" }]
"#;

fn load(text: &str) -> Result<Journey, Diagnostics> {
    carebus_codegen::load::journey::load(FILE, text, model())
}

/// The rendered diagnostics of `text`, which must fail to load.
fn rendered(text: &str) -> (Vec<DiagnosticKind>, String) {
    match load(text) {
        Ok(j) => panic!("expected diagnostics, loaded journey `{}`", j.name),
        Err(d) => (
            d.iter().map(|d| d.kind).collect(),
            d.render_with(|_| Some(text.to_string())),
        ),
    }
}

fn broken(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "the valid journey has no `{from}`");
    VALID.replacen(from, to, 1)
}

#[test]
fn the_valid_journey_loads_with_its_guards_resolved() {
    let j = load(VALID).unwrap_or_else(|d| panic!("{}", d.render_with(|_| Some(VALID.into()))));
    assert_eq!(j.states.len(), 4);
    assert_eq!(j.start.when[0].path, ["followUpRequired"]);
    assert_eq!(j.states[0].sla_ms, Some(7 * 86_400_000));
    assert_eq!(j.fingerprint.len(), 16);
}

#[test]
fn unknown_event_type() {
    let (kinds, text) = rendered(&broken(
        "on = \"AppointmentScheduled\"",
        "on = \"AppointmentSchedueld\"",
    ));
    assert_eq!(kinds, [DiagnosticKind::UnknownType]);
    insta::assert_snapshot!("journey_unknown_event", text);
}

#[test]
fn unknown_field_in_a_guard() {
    let (kinds, text) = rendered(&broken("field = \"visitMode\"", "field = \"visitMod\""));
    assert_eq!(kinds, [DiagnosticKind::UnknownType]);
    insta::assert_snapshot!("journey_unknown_field", text);
}

#[test]
fn guard_value_that_is_not_a_symbol_of_the_enum() {
    let (kinds, text) = rendered(&broken(
        "\"IN_PERSON\", \"VIDEO\"",
        "\"IN_PERSON\", \"VIDEO_CALL\"",
    ));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    assert!(text.contains("can never be `VIDEO_CALL`"), "{text}");
    insta::assert_snapshot!("journey_impossible_symbol", text);
}

#[test]
fn guard_comparing_a_boolean_with_a_string_or_ordering_an_enum() {
    let (_, text) = rendered(&broken("eq = true", "eq = \"yes\""));
    assert!(
        text.contains("is a boolean; it can never equal \"yes\""),
        "{text}"
    );
    let (_, text) = rendered(&broken("ne = \"MERGED\"", "gt = 2"));
    insta::assert_snapshot!("journey_ordering_an_enum", text);
}

#[test]
fn correlation_field_missing_or_of_the_wrong_type() {
    let (kinds, text) = rendered(&broken(
        "AppointmentScheduled = \"patientId\"",
        "AppointmentScheduled = \"patient\"",
    ));
    assert_eq!(kinds, [DiagnosticKind::UnknownType]);
    insta::assert_snapshot!("journey_correlation_missing", text);
    let (kinds, text) = rendered(&broken(
        "AppointmentCompleted = \"patientId\"",
        "AppointmentCompleted = \"followUpInDays\"",
    ));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    insta::assert_snapshot!("journey_correlation_wrong_type", text);
}

#[test]
fn an_event_read_without_a_correlation_field() {
    let (kinds, text) = rendered(&broken("PatientDeactivated = \"patientId\"\n", ""));
    assert_eq!(kinds, [DiagnosticKind::MissingAggregateId]);
    insta::assert_snapshot!("journey_uncorrelated_event", text);
}

#[test]
fn unreachable_state() {
    let (kinds, text) = rendered(&broken(
        "[[state]]\nname = \"booked\"",
        "[[state]]\nname = \"waitlisted\"\n\n[[state]]\nname = \"booked\"",
    ));
    assert_eq!(kinds, [DiagnosticKind::UnreachableState]);
    insta::assert_snapshot!("journey_unreachable_state", text);
}

#[test]
fn non_final_state_without_a_way_out() {
    // `booked` is entered, but neither completing nor deactivation leaves it any more.
    let text = broken("from = [\"to-book\", \"booked\"]", "from = [\"to-book\"]").replacen(
        "from = \"booked\"\non = \"AppointmentCompleted\"",
        "from = \"to-book\"\non = \"AppointmentCompleted\"",
        1,
    );
    let (kinds, text) = rendered(&text);
    assert_eq!(kinds, [DiagnosticKind::DeadEnd]);
    insta::assert_snapshot!("journey_dead_end", text);
}

#[test]
fn timers_never_handled_or_cancelled_unknown() {
    let (kinds, text) = rendered(&broken("on = \"timer:nudge\"", "on = \"timer:nudg\""));
    assert_eq!(
        kinds,
        [
            DiagnosticKind::UnhandledTimer,
            DiagnosticKind::UnhandledTimer
        ]
    );
    insta::assert_snapshot!("journey_timer_unhandled", text);
    let (kinds, text) = rendered(&broken(
        "to = \"booked\"\n",
        "to = \"booked\"\nactions = [{ schedule = \"chase\", after = \"1d\" }, { cancel = \"chaser\" }]\n",
    ));
    assert_eq!(
        kinds,
        [
            DiagnosticKind::UnhandledTimer,
            DiagnosticKind::UnhandledTimer
        ]
    );
    insta::assert_snapshot!("journey_timer_scheduled_never_handled", text);
}

#[test]
fn action_symbols_and_durations_are_checked() {
    let (_, text) = rendered(&broken("type = \"SEND_SMS\"", "type = \"SEND_SMSS\""));
    assert!(
        text.contains("`SEND_SMSS` is not a symbol of `actionType` of `ActionTriggered`"),
        "{text}"
    );
    assert!(text.contains("did you mean `SEND_SMS`?"), "{text}");
    let (_, text) = rendered(&broken("after = \"2d\"", "after = \"2 days\""));
    insta::assert_snapshot!("journey_bad_duration", text);
}

#[test]
fn unknown_keys_and_syntax_errors_are_located() {
    let (kinds, text) = rendered(&broken("sla = \"7d\"", "deadline = \"7d\""));
    assert_eq!(kinds, [DiagnosticKind::UnknownAnnotation]);
    insta::assert_snapshot!("journey_unknown_key", text);
}

/// The valid journey as a saga: booking is a step, deactivation fails it.
fn saga() -> String {
    broken("version = 1\n", "version = 1\nsaga = true\n")
        .replacen(
            "to = \"booked\"\nwhen = [{ field = \"visitMode\", in = [\"IN_PERSON\", \"VIDEO\"] }]\n",
            "to = \"booked\"\nwhen = [{ field = \"visitMode\", in = [\"IN_PERSON\", \"VIDEO\"] }]\n\
             step = \"slot\"\n\
             compensate = [{ publish = \"release-slot\", type = \"SCHEDULE_APPOINTMENT\" }]\n\
             compensation = { confirmed_by = \"AppointmentCancelled\", retry_after = \"1h\", attempts = 2 }\n",
            1,
        )
        .replacen(
            "to = \"dropped\"\nwhen = [{ field = \"reason\", ne = \"MERGED\" }]\n",
            "to = \"dropped\"\nwhen = [{ field = \"reason\", ne = \"MERGED\" }]\nfails = true\n",
            1,
        )
        .replacen(
            "outcome = \"CANCELLED\"\n",
            "outcome = \"CANCELLED\"\ncompensated = true\n",
            1,
        )
        .replacen(
            "PatientDeactivated = \"patientId\"\n",
            "PatientDeactivated = \"patientId\"\nAppointmentCancelled = \"patientId\"\n",
            1,
        )
}

#[test]
fn a_saga_step_loads_with_its_compensation() {
    let text = saga();
    let j = load(&text).unwrap_or_else(|d| panic!("{}", d.render_with(|_| Some(text.clone()))));
    let step = &j.transitions[1];
    assert_eq!(step.step.as_deref(), Some("slot"));
    let c = step.compensation.as_ref().expect("compensation");
    assert_eq!(
        (c.confirmed_by.as_str(), c.retry_after_ms, c.attempts),
        ("AppointmentCancelled", 3_600_000, 2)
    );
    assert!(j.events().contains(&"AppointmentCancelled".to_string()));
}

#[test]
fn saga_syntax_is_checked() {
    // The confirmation event is read, so it needs a correlation field.
    let (kinds, text) = rendered(&saga().replacen("AppointmentCancelled = \"patientId\"\n", "", 1));
    assert_eq!(kinds, [DiagnosticKind::MissingAggregateId]);
    insta::assert_snapshot!("journey_saga_uncorrelated_confirmation", text);
    // An unknown confirmation event, a bad duration, zero attempts.
    let (kinds, text) = rendered(&saga().replacen(
        "confirmed_by = \"AppointmentCancelled\", retry_after = \"1h\", attempts = 2",
        "confirmed_by = \"AppointmentCanceled\", retry_after = \"hourly\", attempts = 0",
        1,
    ));
    assert_eq!(
        kinds,
        [
            DiagnosticKind::UnknownType,
            DiagnosticKind::InvalidSchema,
            DiagnosticKind::InvalidSchema
        ]
    );
    insta::assert_snapshot!("journey_saga_bad_compensation", text);
    // A step name and compensation settings on a transition with nothing to compensate, and a
    // saga that never fails.
    let (kinds, text) = rendered(
        &saga()
            .replacen(
                "compensate = [{ publish = \"release-slot\", type = \"SCHEDULE_APPOINTMENT\" }]\n",
                "",
                1,
            )
            .replacen("fails = true\n", "", 1),
    );
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    insta::assert_snapshot!("journey_saga_step_without_compensation", text);
    let (kinds, text) = rendered(&saga().replacen("fails = true\n", "", 1));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
    assert!(
        text.contains("has steps but no failing transition"),
        "{text}"
    );
    let (kinds, _) = rendered(&saga().replacen("step = \"slot\"", "step = \"Slot_1\"", 1));
    assert_eq!(kinds, [DiagnosticKind::InvalidSchema]);
}

fn history(states: &[&str]) -> JourneyHistory {
    let mut h = JourneyHistory::default();
    h.journeys.insert(
        "follow-up".into(),
        vec![JourneyVersion {
            version: 1,
            fingerprint: "0000000000000000".into(),
            states: states.iter().map(|s| s.to_string()).collect(),
        }],
    );
    h
}

#[test]
fn a_removed_state_strands_running_instances_unless_migrated() {
    let v2 = broken("version = 1", "version = 2");
    let mut model = model().clone();
    model.journeys = vec![load(&v2).unwrap()];
    let recorded = history(&["booked", "to-book", "waitlisted"]);
    let (_, diags) = journey_lock::gate(&model, &recorded);
    assert_eq!(diags.len(), 1, "{diags}");
    assert_eq!(diags.0[0].kind, DiagnosticKind::StrandedInstances);
    insta::assert_snapshot!(
        "journey_stranded_instances",
        diags.render_with(|_| Some(v2.clone()))
    );

    let migrated = format!("{v2}\n[migrate]\nwaitlisted = \"to-book\"\n");
    model.journeys = vec![load(&migrated).unwrap()];
    let (next, diags) = journey_lock::gate(&model, &recorded);
    assert!(diags.is_empty(), "{diags}");
    // Both versions recorded; the new one with its own states.
    let versions = &next.journeys["follow-up"];
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(versions[1].states, ["booked", "to-book"]);
}

#[test]
fn an_unrecorded_journey_is_a_stale_lock() {
    let mut model = model().clone();
    model.journeys = vec![load(VALID).unwrap()];
    let recorded = JourneyHistory::default();
    let (next, diags) = journey_lock::gate(&model, &recorded);
    assert!(diags.is_empty());
    let stale = journey_lock::stale(
        &model,
        &recorded,
        &next,
        "schemas/journey-history.lock",
        "run the lock command",
    );
    assert_eq!(stale.len(), 1);
    assert_eq!(stale.0[0].kind, DiagnosticKind::StaleLock);
    assert!(
        stale.0[0]
            .message
            .contains("journey `follow-up` version 1 is not recorded")
    );
}

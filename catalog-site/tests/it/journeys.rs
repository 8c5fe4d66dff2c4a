//! The repository's schemas (with schemas/journeys) in, the catalog's journey pages checked: one page per journey with its state diagram and each transition's consumed and produced events, linked from the overview and from the event pages; the onboarding page as a snapshot.

use carebus_catalog::{CatalogOptions, History, Site, render};
use std::path::PathBuf;

fn site() -> Site {
    let schemas = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let model = carebus_codegen::load::load_dir(&schemas)
        .unwrap_or_else(|d| panic!("the repository's schemas load:\n{d}"));
    render(&model, &History::default(), &CatalogOptions::default())
}

#[test]
fn every_journey_has_a_page_with_its_diagram_and_transitions() {
    let site = site();
    let index = site.text("index.html").unwrap();
    for (name, page) in [
        (
            "new-patient-onboarding",
            "journeys/new-patient-onboarding.html",
        ),
        ("chronic-care", "journeys/chronic-care.html"),
        ("referral-booking", "journeys/referral-booking.html"),
    ] {
        let html = site
            .text(page)
            .unwrap_or_else(|| panic!("no page {page} for {name}"));
        assert!(
            index.contains(&format!("href=\"{page}\"")),
            "the overview links {page}"
        );
        assert!(
            html.contains("<svg") && html.contains("class=\"journey-diagram\""),
            "{page}: diagram"
        );
        assert!(
            html.contains(&format!("<code>{name}</code>")),
            "{page}: name"
        );
    }
    let onboarding = site.text("journeys/new-patient-onboarding.html").unwrap();
    // A transition row: consumed event linked, produced events linked.
    let row = onboarding
        .lines()
        .find(|l| l.contains("<td><code>awaiting-first-appointment</code></td><td><a href=\"../events/AppointmentScheduled.html\">"))
        .unwrap_or_else(|| panic!("no AppointmentScheduled transition row:\n{onboarding}"));
    assert!(
        row.contains("<code>first-appointment-booked</code>")
            && row.contains("href=\"../events/StageCompleted.html\""),
        "{row}"
    );
    // The SLA breach signal is named.
    assert!(onboarding.contains("sla-breached"), "{onboarding}");
    // The event pages link back: an event the journey reads, and one it publishes.
    for (event, role) in [
        ("AppointmentScheduled", "reads it"),
        ("JourneyStarted", "publishes it"),
    ] {
        let page = site
            .text(&format!("events/{event}.html"))
            .unwrap_or_else(|| panic!("no page for {event}"));
        let journeys = page
            .split_once("id=\"journeys-h\"")
            .unwrap_or_else(|| panic!("{event}'s page has no journeys section"))
            .1;
        assert!(
            journeys.contains("href=\"../journeys/new-patient-onboarding.html\"")
                && journeys.contains(role),
            "{event}: {journeys}"
        );
    }
}

#[test]
fn onboarding_journey_page_snapshot() {
    insta::assert_snapshot!(
        "journey_new_patient_onboarding",
        site().text("journeys/new-patient-onboarding.html").unwrap()
    );
}

//! PRM API request bodies about patients in (register, update, merge, deactivate), the patient events they ask for out, or the fields that are wrong.

use super::request::{Body, GENDERS, Issue};
use carebus::{Phi, Timestamp, Uuid};
use carebus_schemas::*;
use serde_json::Value;

/// `POST /patients`: a registration.
#[allow(deprecated)] // email: the schema still asks producers to fill it
pub fn register(body: &Value) -> Result<PatientCreated, Vec<Issue>> {
    let mut b = Body::new(body);
    let patient_id = b
        .opt_str("patientId")
        .unwrap_or_else(|| format!("patient-{}", Uuid::new_v4().to_text()));
    if patient_id.len() > 128 || patient_id.chars().any(char::is_control) {
        b.issue(
            "patientId",
            "must be at most 128 characters without control characters",
        );
    }
    let first_name = b.str("firstName");
    let last_name = b.str("lastName");
    if !b.has("dateOfBirth") {
        b.issue("dateOfBirth", "is required");
    }
    let date_of_birth = b.opt_date("dateOfBirth").unwrap_or_default();
    let gender = b
        .opt_symbol("gender", AdministrativeGender::from_symbol, GENDERS)
        .unwrap_or(AdministrativeGender::Unknown);
    let email = b.opt_str("email");
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        b.issue("email", "must be an e-mail address");
    }
    let identifiers = (0..b.len("identifiers"))
        .map(|i| Identifier {
            system: b.str(&format!("identifiers[{i}].system")),
            value: Phi::new(b.str(&format!("identifiers[{i}].value"))),
            type_code: b.opt_str(&format!("identifiers[{i}].typeCode")),
        })
        .collect();
    let telecom = b.telecom("telecom");
    let preferred_language = b.opt_str("preferredLanguage");
    b.finish(PatientCreated {
        patient_id,
        first_name: Phi::new(first_name),
        last_name: Phi::new(last_name),
        date_of_birth: Phi::new(date_of_birth),
        email: email.map(Phi::new),
        gender: Phi::new(gender),
        identifiers: Phi::new(identifiers),
        telecom: Phi::new(telecom),
        address: None,
        preferred_language,
    })
}

/// `PATCH /patients/{id}`: the changed demographics, and the caller's expected version.
pub fn update(id: &str, body: &Value) -> Result<(PatientUpdated, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let mut changed = Vec::new();
    let name = if b.has("name") {
        changed.push("name".to_string());
        let given = match b.get("name.given") {
            Some(Value::String(_)) => vec![b.str("name.given")],
            _ => (0..b.len("name.given"))
                .map(|i| b.str(&format!("name.given[{i}]")))
                .collect(),
        };
        if given.is_empty() {
            b.issue("name.given", "is required (a name or a list of names)");
        }
        Some(Phi::new(HumanName {
            r#use: NameUse::Official,
            family: Phi::new(b.str("name.family")),
            given: Phi::new(given),
            prefix: None,
            suffix: None,
        }))
    } else {
        None
    };
    let date_of_birth = b.opt_date("dateOfBirth").map(Phi::new);
    if date_of_birth.is_some() {
        changed.push("dateOfBirth".into());
    }
    let gender = b
        .opt_symbol("gender", AdministrativeGender::from_symbol, GENDERS)
        .map(Phi::new);
    if gender.is_some() {
        changed.push("gender".into());
    }
    let telecom = b.has("telecom").then(|| Phi::new(b.telecom("telecom")));
    if telecom.is_some() {
        changed.push("telecom".into());
    }
    let preferred_language = b.opt_str("preferredLanguage");
    if preferred_language.is_some() {
        changed.push("preferredLanguage".into());
    }
    if changed.is_empty() && !b.failed() {
        b.issue(
            "body",
            "names no field to change: name, dateOfBirth, gender, telecom or preferredLanguage",
        );
    }
    let updated_by = b.actor("updatedBy");
    b.finish((
        PatientUpdated {
            patient_id: id.into(),
            changed_fields: changed,
            name,
            date_of_birth,
            gender,
            telecom,
            address: None,
            preferred_language,
            updated_by,
            updated_at: Timestamp::now(),
        },
        expected,
    ))
}

/// `POST /patients/{id}/merge`: the merge into `id`, and the caller's expected version.
pub fn merge(id: &str, body: &Value) -> Result<(PatientMerged, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let merged = b.str("mergedPatientId");
    if merged == id {
        b.issue(
            "mergedPatientId",
            "must name another patient than the survivor",
        );
    }
    let reason = b.symbol(
        "reason",
        MergeReason::from_symbol,
        "duplicate_registration, identity_correction, newborn_linkage, other",
    );
    let match_score = b.opt_number("matchScore", 0.0, 1.0);
    let merged_by = b.actor("mergedBy");
    b.finish((
        PatientMerged {
            patient_id: id.into(),
            merged_patient_id: merged,
            merged_identifiers: Phi::new(Vec::new()),
            reason: reason.unwrap_or(MergeReason::Other),
            match_score,
            merged_by,
            merged_at: Timestamp::now(),
        },
        expected,
    ))
}

/// `POST /patients/{id}/deactivate`.
pub fn deactivate(id: &str, body: &Value) -> Result<(PatientDeactivated, Option<u64>), Vec<Issue>> {
    let mut b = Body::new(body);
    let expected = b.expected_version();
    let reason = b.symbol(
        "reason",
        DeactivationReason::from_symbol,
        "deceased, merged, entered_in_error, patient_request, transferred_out, retention_expired, other",
    );
    let deceased_at = b.opt_time("deceasedAt");
    if reason == Some(DeactivationReason::Deceased) && deceased_at.is_none() && !b.failed() {
        b.issue("deceasedAt", "is required when the reason is deceased");
    }
    let note = b.opt_str("note").map(Phi::new);
    let deactivated_by = b.actor("deactivatedBy");
    b.finish((
        PatientDeactivated {
            patient_id: id.into(),
            reason: reason.unwrap_or(DeactivationReason::Other),
            deceased_at: deceased_at.map(Phi::new),
            note,
            deactivated_by,
            deactivated_at: Timestamp::now(),
        },
        expected,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(r: Result<impl Sized, Vec<Issue>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.field)
            .collect()
    }

    #[test]
    fn a_registration_needs_names_and_a_birth_date() {
        let ok = register(&json!({ "firstName": "Ana", "lastName": "Ruiz", "dateOfBirth": "1961-04-17", "gender": "female" })).unwrap();
        assert!(ok.patient_id.starts_with("patient-"));
        assert_eq!(*ok.gender.expose(), AdministrativeGender::Female);
        assert_eq!(
            fields(register(
                &json!({ "firstName": "Ana", "gender": "robot", "email": "Ana Ruiz" })
            )),
            ["lastName", "dateOfBirth", "gender", "email"]
        );
    }

    #[test]
    fn an_update_names_what_changed() {
        let (u, expected) = update(
            "p-1",
            &json!({ "preferredLanguage": "es", "expectedVersion": 3 }),
        )
        .unwrap();
        assert_eq!(u.changed_fields, ["preferredLanguage"]);
        assert_eq!(expected, Some(3));
        assert_eq!(fields(update("p-1", &json!({}))), ["body"]);
    }
}

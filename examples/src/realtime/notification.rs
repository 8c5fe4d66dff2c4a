//! Appointment, clinical and journey events turned into notifications for one patient (and care team), carrying ids and kinds but no more PHI than a client needs to fetch the details.

use carebus_schemas::*;
use serde::Serialize;

/// What a notification tells its reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An appointment was booked: a reminder of when it is.
    AppointmentReminder,
    /// The patient confirmed an appointment.
    AppointmentConfirmed,
    /// An appointment was cancelled.
    AppointmentCancelled,
    /// A lab result outside its normal range is available (the value is not in the notification).
    LabResultAlert,
    /// A journey asks for an action (message, booking, escalation, ...).
    JourneyAction,
}

impl Kind {
    /// The kind as written in payloads and metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Kind::AppointmentReminder => "appointment_reminder",
            Kind::AppointmentConfirmed => "appointment_confirmed",
            Kind::AppointmentCancelled => "appointment_cancelled",
            Kind::LabResultAlert => "lab_result_alert",
            Kind::JourneyAction => "journey_action",
        }
    }
}

/// One notification as clients receive it (JSON). `id` is given by the hub when it is
/// recorded; the rest comes from the event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    /// Monotonically increasing over the service's life: the id a client resumes after.
    pub id: u64,
    /// What it tells.
    pub kind: Kind,
    /// The patient it is about (an id, never a name).
    pub patient_id: String,
    /// The care team it is also for, where the event names one (the appointment's practitioner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub care_team: Option<String>,
    /// The id of the event it comes from (notifications are recorded once per event id).
    pub event_id: String,
    /// A short text without PHI, e.g. "abnormal lab result available".
    pub message: String,
    /// The appointment, lab result or journey action it refers to.
    pub subject_id: String,
    /// When: the appointment's start, the result's issue time, the action's due time
    /// (RFC 3339), where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// For journey actions: the action type (e.g. `SEND_SMS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_type: Option<&'static str>,
}

fn notification(kind: Kind, patient_id: String, subject_id: String, message: &str) -> Notification {
    Notification {
        id: 0,
        kind,
        patient_id,
        care_team: None,
        event_id: String::new(),
        message: message.into(),
        subject_id,
        at: None,
        action_type: None,
    }
}

/// A booking as a reminder to the patient and to the practitioner's team. Reason and
/// instructions (PHI) are left out.
pub fn scheduled(e: &AppointmentScheduled) -> Notification {
    let mut n = notification(
        Kind::AppointmentReminder,
        e.patient_id.clone(),
        e.appointment_id.to_string(),
        "appointment booked",
    );
    n.care_team = Some(e.practitioner.id.clone()).filter(|t| !t.is_empty());
    n.at = e.start.rfc3339_text();
    n
}

/// A confirmation.
pub fn confirmed(e: &AppointmentConfirmed) -> Notification {
    let mut n = notification(
        Kind::AppointmentConfirmed,
        e.patient_id.clone(),
        e.appointment_id.to_string(),
        "appointment confirmed",
    );
    n.at = e.confirmed_at.rfc3339_text();
    n
}

/// A cancellation; the reason text (PHI) is left out.
pub fn cancelled(e: &AppointmentCancelled) -> Notification {
    let mut n = notification(
        Kind::AppointmentCancelled,
        e.patient_id.clone(),
        e.appointment_id.to_string(),
        "appointment cancelled",
    );
    n.at = e.cancelled_at.rfc3339_text();
    n
}

/// An alert for a result interpreted as low, high, critical or abnormal; `None` for a normal
/// or uninterpreted one. Neither the test, the value nor the interpretation is in the alert.
pub fn lab_result(e: &LabResultReceived) -> Option<Notification> {
    use ObservationInterpretation as I;
    match e.interpretation.expose() {
        I::Normal | I::Unknown => None,
        I::Low | I::High | I::CriticalLow | I::CriticalHigh | I::Abnormal => {
            let mut n = notification(
                Kind::LabResultAlert,
                e.patient_id.clone(),
                e.result_id.to_string(),
                "abnormal lab result available",
            );
            n.at = e.issued_at.rfc3339_text();
            Some(n)
        }
    }
}

/// A journey action; its parameters (PHI) are left out.
pub fn action(e: &ActionTriggered) -> Notification {
    let mut n = notification(
        Kind::JourneyAction,
        e.patient_id.clone(),
        e.action_id.to_string(),
        "care journey action",
    );
    n.at = e.due_at.and_then(|t| t.rfc3339_text());
    n.action_type = Some(e.action_type.symbol());
    n
}

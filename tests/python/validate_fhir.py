# FHIR resources (a JSON file holding a list of them) checked with PyPI's fhir.resources R4B models, one verdict per resource printed as JSON.
"""Usage: validate_fhir.py FILE

FILE holds a JSON list of FHIR resources (any type fhir.resources.R4B knows). Each is parsed
with its R4B model (pydantic validation: element names, cardinalities, datatypes, code
patterns), then the codes of the required bindings of the elements the FHIR service writes are
checked against their value sets (REQUIRED_CODES). Prints a JSON list of {"resource":
"Type/id", "error": null or the validation error}, and when any resource failed also prints
the failures to standard error and exits 1.
"""
import json
import sys

from fhir.resources.R4B import get_fhir_model_class

# Codes of the required bindings (FHIR R4/R4B value sets) of the elements the FHIR service
# writes: fhir.resources checks a code's pattern, not its value set.
REQUIRED_CODES = {
    "Patient.gender": {"male", "female", "other", "unknown"},
    "Patient.link.type": {"replaced-by", "replaces", "refer", "seealso"},
    "Patient.telecom.system": {"phone", "fax", "email", "pager", "url", "sms", "other"},
    "Patient.telecom.use": {"home", "work", "temp", "old", "mobile"},
    "Patient.address.use": {"home", "work", "temp", "old", "billing"},
    "Patient.name.use": {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"},
    "Appointment.status": {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled",
                           "noshow", "entered-in-error", "checked-in", "waitlist"},
    "Appointment.participant.status": {"accepted", "declined", "tentative", "needs-action"},
    "Appointment.participant.required": {"required", "optional", "information-only"},
    "Observation.status": {"registered", "preliminary", "final", "amended", "corrected",
                           "cancelled", "entered-in-error", "unknown"},
    "Condition.clinicalStatus.coding.code": {"active", "recurrence", "relapse", "inactive",
                                             "remission", "resolved"},
    "Condition.verificationStatus.coding.code": {"unconfirmed", "provisional", "differential",
                                                 "confirmed", "refuted", "entered-in-error"},
    "MedicationRequest.status": {"active", "on-hold", "cancelled", "completed",
                                 "entered-in-error", "stopped", "draft", "unknown"},
    "MedicationRequest.intent": {"proposal", "plan", "order", "original-order", "reflex-order",
                                 "filler-order", "instance-order", "option"},
    "MedicationRequest.dosageInstruction.timing.repeat.periodUnit": {"s", "min", "h", "d", "wk",
                                                                    "mo", "a"},
    "Bundle.type": {"document", "message", "transaction", "transaction-response", "batch",
                    "batch-response", "history", "searchset", "collection"},
    "Bundle.entry.request.method": {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"},
    "Bundle.entry.search.mode": {"match", "include", "outcome"},
    "OperationOutcome.issue.severity": {"fatal", "error", "warning", "information"},
    "OperationOutcome.issue.code": {
        "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
        "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
        "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
        "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
        "exception", "timeout", "incomplete", "throttled", "informational"},
}


def codes(value, path):
    """(element path, value) of every primitive under value, contained resources restarting
    the path at their resourceType."""
    if isinstance(value, dict):
        if "resourceType" in value and path != value["resourceType"]:
            yield from codes(value, value["resourceType"])
            return
        for name, inner in value.items():
            yield from codes(inner, f"{path}.{name}")
    elif isinstance(value, list):
        for inner in value:
            yield from codes(inner, path)
    else:
        yield path, value


def bad_codes(resource):
    return sorted(
        f"{path} = {value!r}"
        for path, value in codes(resource, resource.get("resourceType", "?"))
        if path in REQUIRED_CODES and value not in REQUIRED_CODES[path]
    )


def check(resource):
    kind = resource.get("resourceType", "?")
    name = f"{kind}/{resource.get('id', '?')}"
    try:
        model = get_fhir_model_class(kind)
        parsed = model.model_validate(resource)
        # A round trip through the model must keep every element we wrote.
        back = json.loads(parsed.model_dump_json(exclude_none=True, by_alias=True))
        lost = sorted(set(resource) - set(back))
        if lost:
            return name, f"elements not in the R4B model: {lost}"
        wrong = bad_codes(resource)
        if wrong:
            return name, f"codes outside their required value set: {wrong}"
        return name, None
    except Exception as e:  # the verdict is the message, whatever the model raised
        return name, f"{type(e).__name__}: {e}"


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        resources = json.load(f)
    verdicts = [dict(zip(("resource", "error"), check(r))) for r in resources]
    print(json.dumps(verdicts, indent=1))
    failed = [v for v in verdicts if v["error"]]
    if failed:
        print(json.dumps(failed, indent=1), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

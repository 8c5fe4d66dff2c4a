# FHIR resources (a JSON file holding a list of them) checked with PyPI's fhir.resources R4B models, one verdict per resource printed as JSON.
"""Usage: validate_fhir.py FILE

FILE holds a JSON list of FHIR resources (any type fhir.resources.R4B knows). Each is parsed
with its R4B model (pydantic validation: element names, cardinalities, datatypes, code
patterns). Prints a JSON list of {"resource": "Type/id", "error": null or the validation
error}, and when any resource failed also prints the failures to standard error and exits 1.
"""
import json
import sys

from fhir.resources.R4B import get_fhir_model_class


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

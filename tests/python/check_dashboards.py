"""Grafana dashboard JSON files in, a verdict out: each file must survive a decode/encode round trip through the
Grafana Foundation SDK's dashboard model (unknown or misplaced fields are dropped by the SDK and reported here).

Usage: check_dashboards.py FILE.json...   (exit 1 listing the differences when a file does not round-trip)
"""
import json
import sys

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard


def differences(ours, theirs, path=""):
    """What of `ours` the SDK's encoding lost or changed (defaults it adds are not differences)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for key in ours:
            if key not in theirs:
                out.append(f"{path}/{key}: not in Grafana's dashboard model")
            else:
                out += differences(ours[key], theirs[key], f"{path}/{key}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items became {len(theirs)}"]
        return [d for i, (a, b) in enumerate(zip(ours, theirs)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [f"{path}: {ours!r} became {theirs!r}"]


failed = False
for name in sys.argv[1:]:
    with open(name, encoding="utf-8") as f:
        ours = json.load(f)
    theirs = json.loads(json.dumps(Dashboard.from_json(ours), cls=JSONEncoder))
    found = differences(ours, theirs)
    panels = len(ours.get("panels", []))
    print(f"{name}: {panels} panels, {'ok' if not found else 'DIFFERS'}")
    for d in found:
        print(f"{name}: {d}", file=sys.stderr)
    failed = failed or bool(found)
sys.exit(1 if failed else 0)

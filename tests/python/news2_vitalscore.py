# NEWS2 inputs (a JSON file of cases) in, the independent vitalscore package's total, sub-scores and risk per case out (JSON lines), for tests/tests/it/ai_service.rs to compare with carebus's NEWS2.
import json
import sys

from vitalscore import score_news2

with open(sys.argv[1]) as f:
    cases = json.load(f)
out = []
for c in cases:
    r = score_news2(
        c["respiratory_rate"],
        c["spo2"],
        c["on_oxygen"],
        c["systolic_bp"],
        c["pulse"],
        "C" if c["not_alert"] else "A",
        c["temperature"],
    )
    out.append({
        "total": r.total,
        "parameters": [r.rr_score, r.spo2_score, r.o2_score, r.sbp_score, r.hr_score,
                       r.consciousness_score, r.temp_score],
        "risk": r.risk.name,
    })
json.dump(out, sys.stdout)

#!/usr/bin/env python3
"""Writes examples/seed-scenario.jsonl: the seed scenario as `truce submit`
input (proto3 JSON envelopes, fixed request ids and record ids). Values the
source article leaves open are illustrative, with example.org URLs."""
import json, os

AGR = "ru-ua-energy-moratorium-2025"
ARTICLE = {
    "kind": "SOURCE_KIND_MEDIA",
    "publisher": "Inter Bellum News",
    "identifier": "Inter Bellum News: Putin's Economic Envoy to Visit Washington Amid Fragile US-Russia Thaw",
    "title": "Putin's Economic Envoy to Visit Washington Amid Fragile US-Russia Thaw",
    "language": "en",
    "originalPublisher": "CNN; Axios",
    "reliability": "SOURCE_RELIABILITY_NOT_ASSESSED",
    "credibility": "INFORMATION_CREDIBILITY_NOT_ASSESSED",
}

def statement(party, slug, title, published):
    return {
        "kind": "SOURCE_KIND_PARTY_STATEMENT",
        "publisher": {"RU": "Russian Ministry of Defence", "UA": "Ukrainian General Staff", "US": "US President"}[party],
        "url": f"https://example.org/statements/{slug}",
        "title": title,
        "publishedAt": published,
        "partyAffiliation": party,
        "reliability": "SOURCE_RELIABILITY_NOT_ASSESSED",
        "credibility": "INFORMATION_CREDIBILITY_NOT_ASSESSED",
    }

lines = []
lines.append({"agreement": {"requestId": "seed-001-agreement", "agreement": {
    "id": AGR,
    "title": "Moratorium on strikes against energy infrastructure",
    "parties": [
        {"party": "RU", "name": "Russian Federation", "role": "PARTY_ROLE_SIGNATORY"},
        {"party": "UA", "name": "Ukraine", "role": "PARTY_ROLE_SIGNATORY"},
        {"party": "US", "name": "United States", "role": "PARTY_ROLE_MEDIATOR"},
    ],
    "form": "AGREEMENT_FORM_BILATERAL",
    "medium": "AGREEMENT_MEDIUM_VERBAL",
    "purpose": "AGREEMENT_PURPOSE_PEACE_PROCESS",
    "declaredAt": "2025-03-18T17:00:00Z",
    "effectiveFrom": [
        {"party": "RU", "at": "2025-03-18T17:00:00Z", "note": "after the 18 March call (hour illustrative)"},
        {"party": "UA", "at": "2025-03-25T00:00:00Z", "note": "once a list of protected facilities is agreed (illustrative)"},
    ],
    "expiresAt": "2025-04-17T17:00:00Z",
    "scope": {
        "areas": [{"country": "RU"}, {"country": "UA"}],
        "protectedTargets": [
            "TARGET_CLASS_OIL_REFINERY", "TARGET_CLASS_OIL_GAS_PIPELINE_STORAGE",
            "TARGET_CLASS_GAS_DISTRIBUTION", "TARGET_CLASS_POWER_GENERATION",
            "TARGET_CLASS_POWER_TRANSMISSION",
        ],
        "prohibitedActs": ["PROHIBITED_ACT_ANY_STRIKE"],
        "description": "No attacks on energy infrastructure for 30 days.",
    },
    "reciprocal": True,
    "sources": [ARTICLE],
    "notes": "Start disputed: RU dates it from the call, UA from 25 March (illustrative).",
    "tags": ["energy", "moratorium"],
}}})

def report(n, rid, **kw):
    r = {"id": rid, "agreementIds": [AGR], "weapon": "WEAPON_NOT_ASSESSED",
         "interception": "INTERCEPTION_UNKNOWN", "attribution": "ATTRIBUTION_STATUS_ALLEGED",
         "evidenceStatus": "EVIDENCE_STATUS_UNVERIFIED"}
    r.update(kw)
    lines.append({"report": {"requestId": f"seed-00{n}-report", "report": r}})

report(2, "seed-report-1",
    occurred={"start": "2025-03-19T00:00:00Z", "end": "2025-03-19T23:59:59Z", "precision": "TIME_PRECISION_DAY"},
    firstReportedAt="2025-03-20T08:00:00Z",
    location={"country": "RU", "admin1": "Krasnodar Krai", "placeName": "oil pumping station (illustrative)",
              "geoPrecision": "GEO_PRECISION_REGION"},
    eventType="EVENT_TYPE_DRONE_STRIKE", weapon="WEAPON_DRONE",
    targetClass="TARGET_CLASS_OIL_GAS_PIPELINE_STORAGE", targetName="oil pumping station",
    allegedPerpetrators=["UA"], affectedParties=["RU"], reportedBy="RU",
    sources=[statement("RU", "ru-mod-2025-03-20-drones", "Drone strikes on fuel facilities", "2025-03-20T08:00:00Z"), ARTICLE],
    notes="Moscow accused Kyiv of drone strikes on fuel facilities (article); place and date illustrative.")
report(3, "seed-report-2",
    occurred={"start": "2025-03-21T00:00:00Z", "end": "2025-03-21T23:59:59Z", "precision": "TIME_PRECISION_DAY"},
    location={"country": "RU", "admin1": "Kursk Oblast", "placeName": "gas metering station (illustrative)",
              "geoPrecision": "GEO_PRECISION_REGION"},
    eventType="EVENT_TYPE_MISSILE_ATTACK",
    targetClass="TARGET_CLASS_GAS_DISTRIBUTION", targetName="gas metering station",
    allegedPerpetrators=["UA"], affectedParties=["RU"], reportedBy="RU",
    sources=[statement("RU", "ru-mod-2025-03-21-sudzha", "Missile attack on a gas distribution hub", "2025-03-21T12:00:00Z"), ARTICLE],
    notes="Moscow accused Kyiv of a missile attack on a gas distribution hub (article); place and date illustrative.")
report(4, "seed-report-3",
    occurred={"start": "2025-03-18T00:00:00Z", "end": "2025-03-18T23:59:59Z", "precision": "TIME_PRECISION_DAY"},
    location={"country": "UA", "admin1": "Donetsk Oblast", "placeName": "power substation (illustrative)",
              "geoPrecision": "GEO_PRECISION_REGION"},
    eventType="EVENT_TYPE_DRONE_STRIKE",
    targetClass="TARGET_CLASS_POWER_TRANSMISSION", targetName="power substation",
    allegedPerpetrators=["RU"], affectedParties=["UA"], reportedBy="UA",
    harm={"fatalitiesLow": 0, "fatalitiesBest": 0, "fatalitiesHigh": 1, "injured": 2},
    sources=[statement("UA", "ua-gs-2025-03-19-substation", "Strike on a power substation", "2025-03-19T09:00:00Z")],
    notes="Illustrative. Known only to the day: straddles the start under RU's reading, before it under UA's.")

def claim(n, cid, **kw):
    lines.append({"claim": {"requestId": f"seed-{n:03d}-claim", "claim": dict(id=cid, **kw)}})

claim(5, "seed-claim-ua-denies-1-2", party="UA", kind="CLAIM_KIND_DENIAL",
      reportIds=["seed-report-1", "seed-report-2"], agreementId=AGR, statedAt="2025-03-21T18:00:00Z",
      statement="No strikes on Russian energy facilities since the agreement.",
      sources=[statement("UA", "ua-gs-2025-03-21-denial", "Denial", "2025-03-21T18:00:00Z")])
claim(6, "seed-claim-ua-accuses-3", party="UA", kind="CLAIM_KIND_ACCUSATION",
      reportIds=["seed-report-3"], agreementId=AGR, statedAt="2025-03-19T09:00:00Z", againstParties=["RU"],
      statement="Russia struck a power substation in Donetsk Oblast.",
      sources=[statement("UA", "ua-gs-2025-03-19-substation", "Strike on a power substation", "2025-03-19T09:00:00Z")])
claim(7, "seed-claim-ru-denies-3", party="RU", kind="CLAIM_KIND_DENIAL",
      reportIds=["seed-report-3"], agreementId=AGR, statedAt="2025-03-22T10:00:00Z",
      statement="Russia denies striking Ukrainian energy facilities.",
      sources=[statement("RU", "ru-mod-2025-03-22-denial", "Denial", "2025-03-22T10:00:00Z")])

lines.append({"source": {"requestId": "seed-008-source", "attachment": {
    "agreementId": AGR,
    "source": dict(ARTICLE),
    "note": "The US warned of 'secondary tariffs' if no progress is made (article): a statement about the agreement.",
}}})

def status(n, target, change, reason, effective=None):
    s = dict(target); s.update(change); s["reason"] = reason
    if effective: s["effectiveAt"] = effective
    lines.append({"status": {"requestId": f"seed-{n:03d}-status", "status": s}})

status(9, {"reportId": "seed-report-1"}, {"evidence": {"status": "EVIDENCE_STATUS_DISPUTED"}},
       "Denied by UA (seed-claim-ua-denies-1-2); no independent confirmation.")
status(10, {"reportId": "seed-report-2"}, {"evidence": {"status": "EVIDENCE_STATUS_DISPUTED"}},
       "Denied by UA (seed-claim-ua-denies-1-2); no independent confirmation.")
status(11, {"agreementId": AGR}, {"agreement": {"status": "AGREEMENT_STATUS_IN_FORCE"}},
       "In force from the 18 March call according to RU.", "2025-03-18T17:00:00Z")
status(12, {"agreementId": AGR}, {"agreement": {"status": "AGREEMENT_STATUS_LAPSED"}},
       "The 30-day term ended without renewal (illustrative).", "2025-04-17T17:00:00Z")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed-scenario.jsonl")
with open(out, "w") as f:
    for l in lines:
        f.write(json.dumps(l, ensure_ascii=False, separators=(",", ":")) + "\n")
print(f"wrote {len(lines)} lines to {out}")

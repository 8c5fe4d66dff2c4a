-- The AI service's tables (in its own schema): the clinical facts analyses read, and each analysis handled once.

-- One vital-sign measurement per row: a recording (VitalSignsRecorded) and its LOINC code.
CREATE TABLE ai_vital_sign (
    recording_id TEXT NOT NULL,
    loinc        TEXT NOT NULL,
    patient_id   TEXT NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    unit         TEXT NOT NULL,
    -- effectiveAt, microseconds since the Unix epoch.
    effective_at BIGINT NOT NULL,
    PRIMARY KEY (recording_id, loinc)
);
CREATE INDEX ai_vital_sign_patient ON ai_vital_sign (patient_id, loinc, effective_at DESC);

-- One numeric laboratory result per row (LabResultReceived with a value).
CREATE TABLE ai_lab_result (
    result_id    TEXT PRIMARY KEY,
    patient_id   TEXT NOT NULL,
    loinc        TEXT NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    unit         TEXT NOT NULL,
    -- specimen.collectedAt, microseconds since the Unix epoch.
    collected_at BIGINT NOT NULL
);
CREATE INDEX ai_lab_result_patient ON ai_lab_result (patient_id, loinc, collected_at);

-- Each analysis request handled once: its result event (AnalysisCompleted or AnalysisFailed)
-- recorded with the event id it is published under; published_at is set once the transport
-- has it. A redelivered request finds its row and publishes nothing new.
CREATE TABLE ai_analysis (
    analysis_id  TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    result_type  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    -- The result event in its JSON form (contains PHI: findings and summary).
    result       JSONB NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);

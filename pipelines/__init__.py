"""Item pipelines, in order: normalise → validate → store, one concern each."""

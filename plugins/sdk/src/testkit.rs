//! Datastore conformance kit (filled in by the providers issue).

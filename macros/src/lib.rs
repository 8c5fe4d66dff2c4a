//! Derive macros: a hand-written struct's attributes in, the same DomainEvent impl, Avro schema and codecs as a generated event out.

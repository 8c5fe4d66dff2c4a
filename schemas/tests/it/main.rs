//! The healthcare schemas' tests in one binary: every .avsc valid and conventional, generated codecs byte-identical to apache-avro, the Protobuf wire.

mod avsc_valid;
mod parity;
mod proto_wire;
mod wire_formats;

//! Shared helpers of the end-to-end tests: where Kafka and PostgreSQL are, and how to say they are missing.

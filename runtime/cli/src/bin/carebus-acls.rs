//! `carebus-acls`: this repository's services manifest (from the generated IR) and topics table in, each service's least-privilege Kafka ACLs planned against (or applied to) a cluster out.
//!
//! `carebus-acls plan` prints the bindings to add and the extra ones; `carebus-acls apply`
//! adds the missing ones (`--prune` also deletes the extra ones); `carebus-acls list` shows
//! what the manifest asks for. After editing `schemas/services.toml`, rebuild.

use carebus::kafka::acl::ServiceAccess;

#[derive(serde::Deserialize)]
struct Ir {
    services: Vec<ServiceAccess>,
}

fn main() -> std::process::ExitCode {
    match serde_json::from_str::<Ir>(carebus_schemas::IR_JSON) {
        Ok(ir) => carebus_cli::acls::main(carebus_schemas::TOPICS, &ir.services),
        Err(e) => {
            eprintln!("error: the built-in IR has no readable services list: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

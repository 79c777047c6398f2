//! Build-time check: medic's Railway GraphQL documents must match Railway's
//! published schema (`src/sources/railway/schema.json`), so a query that does
//! not fit the real API fails the build, not a 3 a.m. refresh.

#[allow(dead_code)]
#[path = "src/sources/railway/schema_check.rs"]
mod schema_check;

#[allow(dead_code)]
#[path = "src/sources/railway/queries.rs"]
mod queries;

fn main() {
    for f in [
        "src/sources/railway/schema.json",
        "src/sources/railway/schema_check.rs",
        "src/sources/railway/queries.rs",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    let text = std::fs::read_to_string("src/sources/railway/schema.json")
        .expect("src/sources/railway/schema.json: Railway's schema is vendored in the repo");
    let schema = schema_check::Schema::from_json(&text)
        .expect("Railway's schema.json is valid introspection JSON");
    for (name, doc) in [
        ("services", queries::SERVICES_QUERY.to_string()),
        ("metrics", queries::METRICS_QUERY.to_string()),
        ("http (batch of 3)", queries::http_query(3)),
        ("deployments", queries::DEPLOYMENTS_QUERY.to_string()),
        (
            "deployment logs",
            queries::DEPLOYMENT_LOGS_QUERY.to_string(),
        ),
        ("http logs", queries::HTTP_LOGS_QUERY.to_string()),
        (
            "platform status",
            queries::PLATFORM_STATUS_QUERY.to_string(),
        ),
    ] {
        if let Err(errors) = schema.check(&doc) {
            panic!(
                "medic's Railway `{name}` query does not match Railway's schema:\n  {}",
                errors.join("\n  ")
            );
        }
    }
}

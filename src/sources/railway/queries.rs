//! The GraphQL documents medic sends to Railway. Plain text with no
//! dependencies, so `build.rs` checks them against Railway's published
//! schema before medic compiles: a query that does not match fails the build.

/// The services of an environment, a page at a time.
pub const SERVICES_QUERY: &str = r#"query MedicServices($environmentId: String!, $after: String) {
  environment(id: $environmentId) {
    serviceInstances(first: 100, after: $after) {
      edges { node { serviceId serviceName } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"#;

/// CPU and memory of every service in the environment, in one request.
pub const METRICS_QUERY: &str = r#"query MedicMetrics($projectId: String!, $environmentId: String!, $startDate: DateTime!, $endDate: DateTime!, $sampleRateSeconds: Int!) {
  metrics(
    projectId: $projectId
    environmentId: $environmentId
    startDate: $startDate
    endDate: $endDate
    measurements: [CPU_USAGE, CPU_LIMIT, MEMORY_USAGE_GB, MEMORY_LIMIT_GB]
    sampleRateSeconds: $sampleRateSeconds
    averagingWindowSeconds: $sampleRateSeconds
    groupBy: [SERVICE_ID]
  ) {
    measurement
    tags { serviceId }
    values { ts value }
  }
}"#;

/// The HTTP-metrics document for `n` services: fields `s0`…`s{n-1}`, each
/// `httpMetricsGroupedByStatus` for the service in variable `$s{i}`.
pub fn http_query(n: usize) -> String {
    let mut vars = String::from(
        "$environmentId: String!, $startDate: DateTime!, $endDate: DateTime!, $stepSeconds: Int!",
    );
    let mut fields = String::new();
    for i in 0..n {
        vars.push_str(&format!(", $s{i}: String!"));
        fields.push_str(&format!(
            "  s{i}: httpMetricsGroupedByStatus(serviceId: $s{i}, environmentId: $environmentId, \
             startDate: $startDate, endDate: $endDate, stepSeconds: $stepSeconds) {{\n    \
             statusCode\n    samples {{ ts value }}\n  }}\n"
        ));
    }
    format!("query MedicHttp({vars}) {{\n{fields}}}")
}

/// A service's recent deployments, newest first.
pub const DEPLOYMENTS_QUERY: &str = r#"query MedicDeployments($input: DeploymentListInput!, $first: Int!) {
  deployments(first: $first, input: $input) {
    edges { node { id status createdAt meta } }
  }
}"#;

/// One deployment's runtime logs in a window.
pub const DEPLOYMENT_LOGS_QUERY: &str = r#"query MedicDeploymentLogs($deploymentId: String!, $startDate: DateTime!, $endDate: DateTime!, $limit: Int!) {
  deploymentLogs(deploymentId: $deploymentId, startDate: $startDate, endDate: $endDate, limit: $limit) {
    timestamp
    message
    severity
  }
}"#;

/// One deployment's HTTP logs before a time, filtered (5xx only).
pub const HTTP_LOGS_QUERY: &str = r#"query MedicHttpLogs($deploymentId: String!, $filter: String!, $beforeDate: String!, $beforeLimit: Int!) {
  httpLogs(deploymentId: $deploymentId, filter: $filter, beforeDate: $beforeDate, beforeLimit: $beforeLimit) {
    timestamp
    method
    path
    httpStatus
    totalDuration
    upstreamErrors
  }
}"#;

/// Railway's own health: an open platform incident or maintenance.
pub const PLATFORM_STATUS_QUERY: &str = r#"query MedicPlatformStatus {
  platformStatus {
    isStable
    incident { id message status url createdAt }
    maintenance { id message status url start }
  }
}"#;

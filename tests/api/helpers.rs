//! Test harness: `spawn_app` starts a server for one test and returns a client for it.

#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use hub::config::ServeConfig;
use hub::startup::Application;
use hub::storage::Store;

pub const BOOTSTRAP_TOKEN: &str = "test-bootstrap-token-0123456789abcdef";
pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const HUB_USER: &str = "urn:hub:params:scim:schemas:extension:hub:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and a client for it.
pub struct TestApp {
    /// SCIM base URL, such as http://127.0.0.1:PORT/scim/v2.
    pub scim_url: String,
    pub token: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub backend: Backend,
    pub database_url: String,
    /// The server root, such as http://127.0.0.1:PORT.
    pub base_url: String,
    /// The server's clock; tests move it forward to expire invitations and sessions.
    pub clock: std::sync::Arc<hub::clock::ManualClock>,
    pub session_keys: std::sync::Arc<hub::service::sessions::SessionKeys>,
    /// The server's SCIM request log queue; tests flush it before reading the log.
    pub request_log: std::sync::Arc<hub::service::request_log::RequestLog>,
    pub data_dir: std::path::PathBuf,
    _data_dir: tempfile::TempDir,
    /// Dropped after the fields above.
    _database: TestDatabase,
}

/// Returns the PostgreSQL server for tests, from `HUB_TEST_POSTGRES_URL`. Without it the PostgreSQL
/// tests are skipped, except under CI (`CI=true`), where a missing server is a failure.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("HUB_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let in_ci = std::env::var("CI").is_ok_and(|value| value == "true" || value == "1");
            assert!(
                !in_ci,
                "CI=true but HUB_TEST_POSTGRES_URL is not set: the PostgreSQL suites must run in CI"
            );
            eprintln!("skipping PostgreSQL test: set HUB_TEST_POSTGRES_URL=postgres://USER:PASSWORD@HOST:PORT/postgres to run it");
            None
        }
    }
}

/// A database made for one test. A PostgreSQL database is dropped with this value: a run of the
/// suite creates hundreds of them, about 7 MB each. The next run drops those of a killed run.
pub struct TestDatabase {
    url: String,
    postgres: Option<PostgresCleanup>,
}

struct PostgresCleanup {
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Names a SQLite file in `folder`; removing the folder removes the database.
    pub fn sqlite(folder: &std::path::Path) -> TestDatabase {
        TestDatabase {
            url: format!("sqlite://{}", folder.join("hub.db").display()),
            postgres: None,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl std::ops::Deref for TestDatabase {
    type Target = str;

    fn deref(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(cleanup) = self.postgres.take() else { return };

        // Drop runs inside the test's runtime, which cannot block on its own futures, so the
        // statement runs on a thread with a runtime of its own. FORCE ends the connections the
        // test's server still holds.
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", cleanup.name);
        let outcome = std::thread::spawn(move || run_admin_statement(&cleanup.admin_url, &statement)).join();
        if let Ok(Err(error)) = outcome {
            eprintln!("could not drop a test database: {error}");
        }
    }
}

fn run_admin_statement(admin_url: &str, statement: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start a runtime for the database cleanup");
    runtime.block_on(async {
        let mut connection = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::query(statement).execute(&mut connection).await?;
        connection.close().await
    })
}

/// Creates a fresh PostgreSQL database, dropped again when the returned value goes away.
///
/// The name carries this process's id, which lets the first creation of a run drop the databases
/// of runs that ended without cleaning up (a killed test binary).
pub async fn create_postgres_database(admin_url: &str) -> TestDatabase {
    use sqlx::Connection;

    let mut connection = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("cannot connect to HUB_TEST_POSTGRES_URL");
    drop_abandoned_databases(&mut connection).await;

    let name = format!("hub_test_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("cannot create a test database");
    connection.close().await.ok();

    let (base, _) = admin_url.rsplit_once('/').expect("HUB_TEST_POSTGRES_URL has no database path");
    TestDatabase {
        url: format!("{base}/{name}"),
        postgres: Some(PostgresCleanup {
            admin_url: admin_url.to_string(),
            name,
        }),
    }
}

/// Drops test databases whose process no longer runs, once per test binary.
async fn drop_abandoned_databases(connection: &mut sqlx::PgConnection) {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

    SWEPT
        .get_or_init(|| async {
            let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'hub\\_test\\_%'")
                .fetch_all(&mut *connection)
                .await
                .unwrap_or_default();
            for name in names.into_iter().filter(|name| owner_has_ended(name)) {
                let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                if let Err(error) = sqlx::query(&statement).execute(&mut *connection).await {
                    eprintln!("could not drop the abandoned test database {name}: {error}");
                }
            }
        })
        .await;
}

/// Tells whether the process named in a test database's name has ended. A name without a process
/// id (from older runs) counts as ended.
fn owner_has_ended(name: &str) -> bool {
    let process_id = name
        .strip_prefix("hub_test_")
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(process_id, _)| process_id.parse::<u32>().ok());
    match process_id {
        Some(process_id) => !std::path::Path::new(&format!("/proc/{process_id}")).exists(),
        None => true,
    }
}

/// Starts a server for one test; `None` when the backend is not available here.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with_mail(backend, None, Some(hub::mail::WorkerSettings::default())).await
}

/// Starts a server that sends mail through `mail` (the outbox folder when `None`).
pub async fn spawn_app_with_mail(
    backend: Backend,
    mail: Option<hub::mail::MailTransportConfig>,
    mail_worker: Option<hub::mail::WorkerSettings>,
) -> Option<TestApp> {
    let data_dir = tempfile::tempdir().expect("cannot create a temp folder");
    let database = test_database(backend, data_dir.path()).await?;
    Some(start_server_with_mail(backend, database, data_dir, mail, mail_worker, &|_| {}).await)
}

/// Starts a server for one test with changed settings; `None` when the backend is not
/// available here.
pub async fn spawn_app_with(backend: Backend, configure: &dyn Fn(&mut ServeConfig)) -> Option<TestApp> {
    let data_dir = tempfile::tempdir().expect("cannot create a temp folder");
    let database = test_database(backend, data_dir.path()).await?;
    Some(start_server_with_mail(backend, database, data_dir, None, Some(hub::mail::WorkerSettings::default()), configure).await)
}

/// Makes a database for one test: a SQLite file in `folder`, or a new PostgreSQL database. `None`
/// when the backend is not available here.
pub async fn test_database(backend: Backend, folder: &std::path::Path) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => Some(TestDatabase::sqlite(folder)),
        Backend::Postgres => Some(create_postgres_database(&postgres_admin_url()?).await),
    }
}

async fn start_server_with_mail(
    backend: Backend,
    database: TestDatabase,
    data_dir: tempfile::TempDir,
    mail: Option<hub::mail::MailTransportConfig>,
    mail_worker: Option<hub::mail::WorkerSettings>,
    configure: &dyn Fn(&mut ServeConfig),
) -> TestApp {
    let mut config = ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.path().to_path_buf(),
        database_url: Some(database.url().to_string()),
        public_url: None,
        bootstrap_org: "default".to_string(),
        bootstrap_token: Some(BOOTSTRAP_TOKEN.to_string()),
        max_body_bytes: 1_048_576,
        max_page_size: 1000,
        max_connections: 8,
        mail,
        mail_worker,
        keys_dir: None,
        signing_key_file: None,
        session_ttl: chrono::Duration::hours(1),
        // Tests send bursts far above any real client's rate; the rate limit tests set their own.
        rate_limits: hub::http::rate_limit::RateLimitSettings {
            per_token: 100_000,
            per_address: 100_000,
        },
        tls: None,
        shutdown_timeout: std::time::Duration::from_secs(5),
        request_log: hub::service::request_log::RequestLogSettings::default(),
    };
    configure(&mut config);
    let clock = std::sync::Arc::new(hub::clock::ManualClock::new(hub::clock::now()));
    let application = Application::build_with_clock(config, clock.clone())
        .await
        .expect("the server failed to start");
    let port = application.port();
    let store = application.store().clone();
    let session_keys = application.state().session_keys.clone();
    let request_log = application.state().request_log.clone();
    tokio::spawn(application.run_until_stopped(std::future::pending()));
    TestApp {
        base_url: format!("http://127.0.0.1:{port}"),
        clock,
        session_keys,
        request_log,
        data_dir: data_dir.path().to_path_buf(),
        scim_url: format!("http://127.0.0.1:{port}/scim/v2"),
        token: BOOTSTRAP_TOKEN.to_string(),
        client: reqwest::Client::new(),
        store,
        backend,
        database_url: database.url().to_string(),
        _data_dir: data_dir,
        _database: database,
    }
}

impl TestApp {
    /// Builds a request to `path` (relative to the SCIM base URL) with the bootstrap token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.scim_url))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("request failed")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("request failed")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::PATCH, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.expect("request failed")
    }

    /// Creates a user with the given userName and extra attributes; panics unless 201.
    pub async fn create_user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({"schemas": [CORE_USER], "userName": user_name});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let response = self.post("/Users", &body).await;
        let status = response.status().as_u16();
        let created: Value = response.json().await.expect("body is not JSON");
        assert_eq!(status, 201, "creating {user_name} failed: {created}");
        created
    }

    /// Creates a user holding a platform role.
    pub async fn create_user_with_role(&self, user_name: &str, role: &str) -> Value {
        self.create_user(user_name, json!({HUB_USER: {"platformRole": role}})).await
    }

    /// Creates another organization with its own token.
    pub async fn create_organization(&self, name: &str) -> String {
        let organization = hub::storage::organizations::insert(&mut self.store.db(), name)
            .await
            .expect("cannot create an organization");
        let token = format!("token-of-{name}-{}", uuid::Uuid::new_v4().simple());
        hub::service::tokens::store_token(&self.store, &organization.id, "test", &token, None)
            .await
            .expect("cannot store a token");
        token
    }
}

/// Builds a PatchOp body with the given operations.
pub fn patch_body(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// Reads a response as status and JSON body (Null when empty).
pub async fn status_and_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("cannot read the body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text}"))
    };
    (status, body)
}

/// Asserts a SCIM error body with the status and scimType.
pub fn assert_scim_error(status: u16, body: &Value, expected_status: u16, expected_type: Option<&str>) {
    assert_eq!(status, expected_status, "unexpected status; body: {body}");
    assert_eq!(body["schemas"], json!([ERROR]), "not a SCIM error body: {body}");
    assert_eq!(body["status"], json!(expected_status.to_string()), "status must be a string: {body}");
    assert_eq!(body["scimType"].as_str(), expected_type, "unexpected scimType: {body}");
    assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "missing detail: {body}");
}

/// Defines a test for each backend from one `async fn(TestApp)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await else { return };
                    super::$name(app).await;
                }
            )*
        }
    };
}

/// Percent-encodes a query parameter value (spaces as `%20`, quotes as `%22`).
pub fn encode_query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20")
}

/// Builds `/Users?name=value&...` with every value percent-encoded.
pub fn users_query(parameters: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = parameters
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_query_value(value)))
        .collect();
    format!("/Users?{}", pairs.join("&"))
}

/// Returns the path of a user resource from a resource body that has an `id`.
pub fn user_path(user: &Value) -> String {
    format!("/Users/{}", user["id"].as_str().expect("the resource has no id"))
}

/// Returns a response header as text.
pub fn header_text(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("header is not text").to_string())
}

/// Returns the `Resources` of a ListResponse, or an empty list when the member is absent.
pub fn list_resources(list: &Value) -> Vec<Value> {
    list["Resources"].as_array().cloned().unwrap_or_default()
}

/// Returns the userNames of a ListResponse's resources, in response order.
pub fn listed_user_names(list: &Value) -> Vec<String> {
    list_resources(list)
        .iter()
        .map(|resource| resource["userName"].as_str().unwrap_or_default().to_string())
        .collect()
}

impl TestApp {
    /// Builds a request to `path` with another bearer token, such as another organization's.
    pub fn request_with_token(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.scim_url))
            .bearer_auth(token)
    }

    /// Sends a JSON body with another bearer token.
    pub async fn send_json_with_token(&self, token: &str, method: Method, path: &str, body: &Value) -> Response {
        self.request_with_token(token, method, path)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("request failed")
    }

    /// Sends a JSON body with extra request headers.
    pub async fn send_json_with_headers(&self, method: Method, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
        let mut request = self
            .request(method, path)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request failed")
    }

    /// Sends GET for one user and returns the status and body.
    pub async fn get_user(&self, id: &str) -> (u16, Value) {
        status_and_json(self.get(&format!("/Users/{id}")).await).await
    }

    /// Sends PATCH with the given operations to one user and returns the status and body.
    pub async fn patch_user(&self, id: &str, operations: Value) -> (u16, Value) {
        status_and_json(self.patch(&format!("/Users/{id}"), &patch_body(operations)).await).await
    }

    /// Sends GET /Users with the given query parameters and returns the status and body.
    pub async fn list_users(&self, parameters: &[(&str, &str)]) -> (u16, Value) {
        status_and_json(self.get(&users_query(parameters)).await).await
    }

    /// Returns the organization id and token id of the bootstrap token.
    pub async fn bootstrap_identity(&self) -> (String, String) {
        let identity = hub::service::tokens::verify(&self.store, &self.token)
            .await
            .expect("cannot read the bootstrap token")
            .expect("the bootstrap token is not stored");
        (identity.organization.id, identity.token_id)
    }

    /// Reads the audit entries about one user of the bootstrap organization, oldest first.
    pub async fn audit_entries(&self, user_id: &str) -> Vec<hub::storage::audit::AuditEntry> {
        let (org_id, _) = self.bootstrap_identity().await;
        hub::storage::audit::list_for_target(&mut self.store.db(), &org_id, user_id)
            .await
            .expect("cannot read the audit log")
    }
}

/// Reads the bootstrap organization of a test server.
pub async fn default_organization(app: &TestApp) -> hub::storage::organizations::Organization {
    hub::storage::organizations::find_by_name(&mut app.store.db(), "default")
        .await
        .expect("cannot read organizations")
        .expect("no default organization")
}

impl TestApp {
    /// Sets a user's status directly in storage, as registration or sign-in would.
    pub async fn set_status(&self, user_id: &str, status: hub::domain::user::Status) {
        let org = default_organization(self).await;
        let mut user = hub::storage::users::get(&mut self.store.db(), &org.id, user_id)
            .await
            .expect("cannot read user")
            .expect("no such user");
        user.lifecycle = hub::domain::user::Lifecycle::new(status);
        hub::storage::users::update(&mut self.store.db(), &user).await.expect("cannot update user");
    }

    /// Creates an Active user with a role and returns its id and a session token for it.
    pub async fn signed_in_user(&self, user_name: &str, role: &str) -> (String, String) {
        let created = self.create_user_with_role(user_name, role).await;
        let id = created["id"].as_str().expect("no id").to_string();
        self.set_status(&id, hub::domain::user::Status::Active).await;
        let token = self.session_token(&id).await;
        (id, token)
    }

    /// Creates a session for an existing user and returns its token.
    pub async fn session_token(&self, user_id: &str) -> String {
        use hub::clock::Clock;
        let org = default_organization(self).await;
        let user = hub::storage::users::get(&mut self.store.db(), &org.id, user_id)
            .await
            .expect("cannot read user")
            .expect("no such user");
        hub::service::sessions::create_session(
            &self.store,
            &self.session_keys,
            &user,
            chrono::Duration::days(30),
            self.clock.now(),
        )
        .await
        .expect("cannot create a session")
    }

    /// Builds an admin API request (path relative to /api/v1) with a session token.
    pub fn admin(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/api/v1{path}", self.base_url))
            .bearer_auth(token)
    }

    /// Sends an admin API request with an optional JSON body; returns status and JSON.
    pub async fn admin_json(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.admin(method, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        status_and_json(request.send().await.expect("request failed")).await
    }
}

/// Creates `total` users by /Bulk, `per_request` at a time, named `PREFIX00000@example.com`
/// and on.
pub async fn bulk_create_users(app: &TestApp, prefix: &str, total: usize, per_request: usize) {
    for start in (0..total).step_by(per_request) {
        let operations: Vec<Value> = (start..(start + per_request).min(total))
            .map(|index| {
                json!({
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": format!("u{index}"),
                    "data": {"schemas": [CORE_USER], "userName": format!("{prefix}{index:05}@example.com")},
                })
            })
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
        let (status, response) = status_and_json(app.post("/Bulk", &body).await).await;
        assert_eq!(status, 200, "{response}");
    }
}

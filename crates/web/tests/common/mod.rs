//! Helpers of the web crate's tests: an application over a fresh embedded store with
//! an admin, a user enabled for audio conferencing and a dial-in number, and requests
//! sent with `oneshot` (no socket).

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pinbridge_app::{AddUser, App, StoreConfig};
use pinbridge_domain::ops::EnableOptions;
use pinbridge_domain::user::Role;
use pinbridge_domain::{
    Actor, DisplayName, E164, EmailAddress, LanguageTag, NumberKind, ServiceNumber, Upn,
};
use pinbridge_store::OpenOptions;
use pinbridge_web::AppState;
use tower::ServiceExt;

pub const ADMIN: &str = "admin@contoso.example";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const USER: &str = "alice@contoso.example";
pub const USER_PASSWORD: &str = "alice's long passphrase";
pub const HOST: &str = "pinbridge.test";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub app: App,
    pub router: Router,
    /// The PIN alice was given when she was enabled.
    pub alice_pin: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value a `Set-Cookie` of this reply gives `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    /// The value of the first hidden input called `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field in {}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_owned()
    }
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pinbridge-web-test-")
            .tempdir()
            .expect("temporary directory");
        let config = StoreConfig {
            data_dir: dir.path().to_path_buf(),
            database_url: None,
            server_key: None,
            open: OpenOptions::default(),
        };
        let app = App::open(&config).await.expect("open the store");
        let actor = Actor::system();
        let number = ServiceNumber::new(
            E164::parse("+14255550100").unwrap(),
            NumberKind::Toll,
            LanguageTag::default(),
            vec![],
        )
        .unwrap();
        app.add_number(&actor, &number).await.unwrap();
        for (upn, name, role, password) in [
            (ADMIN, "IT Admin", Role::Admin, ADMIN_PASSWORD),
            (USER, "Alice", Role::User, USER_PASSWORD),
        ] {
            app.add_user(
                &actor,
                AddUser {
                    upn: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse(name).unwrap(),
                    primary_smtp_address: Some(EmailAddress::parse(upn).unwrap()),
                    role,
                    password: Some(password.to_owned()),
                },
            )
            .await
            .unwrap();
        }
        let enabled = app
            .enable_user(
                &actor,
                &Upn::parse(USER).unwrap(),
                &EnableOptions::default(),
            )
            .await
            .unwrap();
        let alice_pin = enabled.new_pin.unwrap().pin.reveal().to_owned();
        let router = pinbridge_web::app(AppState::new(app.clone()));
        Self {
            dir,
            app,
            router,
            alice_pin,
        }
    }

    /// Sends one request; `cookies` is the `Cookie` header, `form` a urlencoded body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        cookies: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, HOST);
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies);
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let request = match body {
            Some((content_type, text)) => request
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(text)),
            None => request.body(Body::empty()),
        }
        .expect("a request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("a response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, cookies: &str) -> Reply {
        self.send(Method::GET, path, cookies, &[], None).await
    }

    /// Posts a form with the browser's same-origin headers.
    pub async fn post_form(&self, path: &str, cookies: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let origin = format!("http://{HOST}");
        self.send(
            Method::POST,
            path,
            cookies,
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
            Some(("application/x-www-form-urlencoded", body)),
        )
        .await
    }

    /// Signs in through the sign-in form; returns the `Cookie` header of the session.
    pub async fn sign_in(&self, upn: &str, password: &str) -> Result<String, Reply> {
        let page = self.get("/signin", "").await;
        let presession = page.cookie("pb_presession").expect("a pre-session cookie");
        let cookies = format!("pb_presession={presession}");
        let csrf = page.hidden("csrf");
        let reply = self
            .post_form(
                "/signin",
                &cookies,
                &[
                    ("csrf", &csrf),
                    ("upn", upn),
                    ("password", password),
                    ("next", ""),
                ],
            )
            .await;
        match reply.cookie("pb_session") {
            Some(session) if reply.status == StatusCode::SEE_OTHER => {
                Ok(format!("pb_session={session}"))
            }
            _ => Err(reply),
        }
    }

    /// The CSRF token of a signed-in session, read from a page.
    pub async fn csrf(&self, cookies: &str) -> String {
        self.get("/password", cookies).await.hidden("csrf")
    }

    /// Everything the store holds that a request could change, to show a refused
    /// request changed nothing.
    pub async fn snapshot(&self) -> String {
        use sqlx::Row;
        let pool = self.app.store().pool();
        let mut out = String::new();
        for table in [
            "users",
            "tenant_settings",
            "service_numbers",
            "audit_log",
            "web_sessions",
            "api_tokens",
            "sign_in_throttle",
            "conference_ids",
            "meetings",
        ] {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(pool)
                .await
                .expect("read a table");
            out.push_str(&format!("{table}: {} rows\n", rows.len()));
            for row in rows {
                let mut line = Vec::new();
                for i in 0..row.len() {
                    let text = row
                        .try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| {
                            row.try_get::<Option<i64>, _>(i)
                                .ok()
                                .flatten()
                                .map(|n| n.to_string())
                        })
                        .unwrap_or_default();
                    line.push(text);
                }
                out.push_str(&line.join("|"));
                out.push('\n');
            }
        }
        out
    }

    /// Every byte of the embedded store on disk (database, WAL).
    pub fn stored_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.dir.path())
            .expect("read the data dir")
            .flatten()
        {
            if entry.path().is_file() {
                all.extend(std::fs::read(entry.path()).expect("read a data file"));
            }
        }
        all
    }
}

pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

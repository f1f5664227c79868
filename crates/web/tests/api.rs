//! The REST API through the router: every route with a bearer token, authentication
//! failures, bad bodies that change nothing, and the OpenAPI document.

mod common;

use axum::http::{Method, StatusCode};
use common::{ADMIN, ADMIN_PASSWORD, Harness, USER, USER_PASSWORD};
use pinbridge_domain::TokenName;
use serde_json::{Value, json};

/// A harness and the bearer token of an API token named `api-test`.
async fn harness() -> (Harness, String) {
    let h = Harness::new().await;
    let name = TokenName::parse("api-test").unwrap();
    let issued = h
        .app
        .create_api_token(&pinbridge_domain::Actor::system(), &name)
        .await
        .unwrap();
    (h, issued.secret)
}

async fn call(
    h: &Harness,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    let reply = h
        .send(
            method,
            path,
            "",
            &[("authorization", auth.as_str())],
            body.map(|b| ("application/json", b.to_string())),
        )
        .await;
    let value = serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body.clone()));
    (reply.status, value)
}

#[tokio::test]
async fn every_route_works_with_a_token() {
    let (h, token) = harness().await;
    let (s, v) = call(&h, &token, Method::GET, "/api/v1/users?search=alice", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 1);
    assert_eq!(v["users"][0]["audio_conferencing"]["pin"], "***********");

    let (s, v) = call(&h, &token, Method::POST, "/api/v1/users", Some(json!({"upn": "bob@contoso.example", "display_name": "Bob", "primary_smtp_address": "bob@contoso.example"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = call(
        &h,
        &token,
        Method::GET,
        "/api/v1/users/bob@contoso.example",
        None,
    )
    .await;
    assert_eq!(
        (s, v["audio_conferencing"]["enabled"].clone()),
        (StatusCode::OK, json!(false))
    );

    let (s, v) = call(
        &h,
        &token,
        Method::POST,
        "/api/v1/users/bob@contoso.example/enable",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let pin = v["pin"].as_str().unwrap().to_owned();
    assert_eq!(pin.len(), 5);
    assert_eq!(v["email"]["status"], "queued");
    let bob = h
        .app
        .user(&pinbridge_domain::Upn::parse("bob@contoso.example").unwrap())
        .await
        .unwrap();
    assert!(h.app.verify_pin(&bob, &pin).await.unwrap());

    let (s, v) = call(
        &h,
        &token,
        Method::POST,
        "/api/v1/users/bob@contoso.example/reset-pin",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(v["pin"].as_str().unwrap(), pin);
    assert_eq!(v["email"]["kind"], "pin-reset");

    let (s, v) = call(
        &h,
        &token,
        Method::POST,
        "/api/v1/users/bob@contoso.example/send-conference-info",
        None,
    )
    .await;
    assert_eq!(
        (s, v["email"]["kind"].clone()),
        (StatusCode::OK, json!("conference-info")),
        "{v}"
    );
    assert!(v["pin"].is_null());

    let (s, v) = call(
        &h,
        &token,
        Method::PUT,
        "/api/v1/users/bob@contoso.example/email-override",
        Some(json!({"address": "bob@hotmail.example"})),
    )
    .await;
    assert_eq!(
        (s, v["email_override"].clone()),
        (StatusCode::OK, json!("bob@hotmail.example"))
    );
    let (s, v) = call(
        &h,
        &token,
        Method::DELETE,
        "/api/v1/users/bob@contoso.example/email-override",
        None,
    )
    .await;
    assert_eq!(
        (s, v["email_override"].clone()),
        (StatusCode::OK, Value::Null)
    );

    let (s, v) = call(
        &h,
        &token,
        Method::POST,
        "/api/v1/users/bob@contoso.example/disable",
        None,
    )
    .await;
    assert_eq!(
        (s, v["user"]["audio_conferencing"]["enabled"].clone()),
        (StatusCode::OK, json!(false))
    );

    let (s, v) = call(&h, &token, Method::GET, "/api/v1/tenant-settings", None).await;
    assert_eq!((s, v["pin_length"].clone()), (StatusCode::OK, json!(5)));
    let (s, v) = call(
        &h,
        &token,
        Method::PATCH,
        "/api/v1/tenant-settings",
        Some(json!({"pin_length": 8, "automatically_send_emails": false})),
    )
    .await;
    assert_eq!(
        (
            s,
            v["pin_length"].clone(),
            v["automatically_send_emails"].clone()
        ),
        (StatusCode::OK, json!(8), json!(false))
    );
    // JSON Schema counts 10.0 as the integer 10, so the API takes it as 10.
    let (s, v) = call(
        &h,
        &token,
        Method::PATCH,
        "/api/v1/tenant-settings",
        Some(json!({"pin_length": 10.0, "lobby_wait_minutes": 45.0})),
    )
    .await;
    assert_eq!(
        (s, v["pin_length"].clone(), v["lobby_wait_minutes"].clone()),
        (StatusCode::OK, json!(10), json!(45))
    );

    let (s, v) = call(&h, &token, Method::POST, "/api/v1/numbers", Some(json!({"number": "+18005550199", "kind": "toll-free", "alternate_languages": ["fr-FR"]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = call(&h, &token, Method::GET, "/api/v1/numbers", None).await;
    assert_eq!((s, v.as_array().unwrap().len()), (StatusCode::OK, 2));

    let (s, v) = call(
        &h,
        &token,
        Method::GET,
        "/api/v1/audit?user=bob@contoso.example",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"user.pin_reset"), "{actions:?}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|r| r["actor"] == "token:api-test")
    );
    let text = v.to_string();
    assert!(!text.contains(&pin), "the audit log holds a PIN");
}

#[tokio::test]
async fn authentication_failures_are_401_and_403() {
    let (h, token) = harness().await;
    for (auth, what) in [
        ("", "no token"),
        ("Bearer nope", "a wrong token"),
        ("Basic abc", "another scheme"),
    ] {
        let headers: Vec<(&str, &str)> = if auth.is_empty() {
            vec![]
        } else {
            vec![("authorization", auth)]
        };
        let reply = h
            .send(Method::GET, "/api/v1/users", "", &headers, None)
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        let v: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(v["error"]["code"], "unauthenticated", "{what}");
        assert!(v["error"]["message"].is_string());
    }
    // A revoked token is refused.
    h.app
        .revoke_api_token(&pinbridge_domain::Actor::system(), "api-test")
        .await
        .unwrap();
    let (s, _) = call(&h, &token, Method::GET, "/api/v1/users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A signed-in user who is not an admin is forbidden; an admin's session works.
    let user = h.sign_in(USER, USER_PASSWORD).await.ok().unwrap();
    assert_eq!(
        h.get("/api/v1/users", &user).await.status,
        StatusCode::FORBIDDEN
    );
    let admin = h.sign_in(ADMIN, ADMIN_PASSWORD).await.ok().unwrap();
    assert_eq!(h.get("/api/v1/users", &admin).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_bodies_are_400_or_422_and_change_nothing() {
    let (h, token) = harness().await;
    let before = h.snapshot().await;
    let auth = format!("Bearer {token}");
    let cases: Vec<(Method, &str, &str, StatusCode)> = vec![
        (
            Method::POST,
            "/api/v1/users",
            "{not json",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"upn\": 5}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"upn\": \"no-at-sign\", \"display_name\": \"X\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"upn\": \"x@y.example\", \"display_name\": \"X\", \"role\": \"root\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"upn\": \"x@y.example\", \"display_name\": \"X\", \"password\": \"short\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"upn\": \"x@y.example\", \"display_name\": \"X\", \"extra\": 1}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/api/v1/tenant-settings",
            "{\"pin_length\": 3}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/api/v1/tenant-settings",
            "{\"pin_length\": 13}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/api/v1/tenant-settings",
            "{\"lobby_wait_minutes\": 0}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/api/v1/tenant-settings",
            "{\"pin_length\": 6.5}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/api/v1/tenant-settings",
            "{\"lobby_wait_minutes\": -30}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/api/v1/tenant-settings",
            "[]",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/numbers",
            "{\"number\": \"12\", \"kind\": \"toll\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/numbers",
            "{\"number\": \"+14255550100\", \"kind\": \"toll\"}",
            StatusCode::CONFLICT,
        ),
        (
            Method::PUT,
            "/api/v1/users/alice@contoso.example/email-override",
            "{\"address\": \"nope\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // The API takes values as its document states them: no spaces around them,
        // enumerations spelled exactly, each language once.
        (
            Method::PUT,
            "/api/v1/users/alice@contoso.example/email-override",
            "{\"address\": \" alice@elsewhere.example\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"upn\": \"x@y.example\", \"display_name\": \"X \"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            "/api/v1/tenant-settings",
            "{\"entry_exit_announcements_type\": \"toneonly\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/numbers",
            "{\"number\": \"+18005550123\", \"kind\": \"toll\", \"alternate_languages\": [\"fr-FR\", \"FR-fr\"]}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/numbers",
            "{\"number\": \"+18005550123\", \"kind\": \"toll\", \"alternate_languages\": [\"en-US\"]}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/numbers",
            "{\"number\": \"+18005550123\", \"kind\": \"toll\", \"alternate_languages\": [\"fr-FR,de-DE\"]}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/numbers",
            "{\"number\": \"+18005550123\", \"kind\": \"Toll\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/users/alice@contoso.example/enable",
            "{}",
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/users/nobody@contoso.example/reset-pin",
            "",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, expected) in cases {
        let reply = h
            .send(
                method.clone(),
                path,
                "",
                &[("authorization", auth.as_str())],
                Some(("application/json", body.to_owned())),
            )
            .await;
        assert_eq!(
            reply.status, expected,
            "{method} {path} {body}: {}",
            reply.body
        );
        let v: Value = serde_json::from_str(&reply.body).expect("a JSON error");
        assert!(
            v["error"]["code"].is_string()
                && v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }
    // A NUL byte once reached PostgreSQL as a 500 (found by schemathesis).
    let (s, v) = call(&h, &token, Method::GET, "/api/v1/users?search=a%00b", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let without_type = h
        .send(
            Method::POST,
            "/api/v1/users",
            "",
            &[("authorization", auth.as_str())],
            None,
        )
        .await;
    assert!(without_type.status.is_client_error());
    // Only the token's last-used time may differ.
    let strip = |s: String| {
        s.lines()
            .filter(|l| !l.contains("api-test"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(before), strip(h.snapshot().await));
}

#[tokio::test]
async fn the_openapi_document_lists_every_api_route() {
    let (h, _) = harness().await;
    let reply = h.get("/api/v1/openapi.json", "").await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&reply.body).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for route in pinbridge_web::route_table() {
        if !route.path.starts_with("/api/") || route.path.ends_with("openapi.json") {
            continue;
        }
        let method = route.method.as_str().to_lowercase();
        let operation = &doc["paths"][route.path][&method];
        assert!(
            operation.is_object(),
            "{method} {} is not in the document",
            route.path
        );
        assert!(operation["responses"].is_object());
    }
}

#[tokio::test]
async fn meetings_are_created_for_an_organiser_audited_and_listed() {
    let (h, token) = harness().await;
    let user = h.sign_in(USER, USER_PASSWORD).await.ok().unwrap();
    let csrf = h.csrf(&user).await;
    let before = h.snapshot().await;
    let long_subject = "x".repeat(201);
    let refused = [
        (
            json!({"organizer": "nobody@contoso.example"}),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            json!({"organizer": ADMIN}),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            json!({"organizer": "not a upn"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"organizer": USER, "subject": " Q3"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"organizer": USER, "subject": "a\nb"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"organizer": USER, "subject": long_subject}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"organizer": USER, "allow_anonymous_start": "yes"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"organizer": USER, "lobby": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
    ];
    for (body, status, code) in refused {
        let (s, v) = call(
            &h,
            &token,
            Method::POST,
            "/api/v1/meetings",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {v}"
        );
    }
    // A signed-in user who is not an admin cannot create meetings through the API.
    let reply = h
        .send(
            Method::POST,
            "/api/v1/meetings",
            &user,
            &[("x-csrf-token", csrf.as_str())],
            Some(("application/json", json!({"organizer": USER}).to_string())),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    // Only the token's last-used time may differ.
    let strip = |s: String| {
        s.lines()
            .filter(|l| !l.contains("api-test"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(before), strip(h.snapshot().await));

    let (s, v) = call(
        &h,
        &token,
        Method::POST,
        "/api/v1/meetings",
        Some(json!({"organizer": USER, "subject": "Q3 review", "allow_pstn_users_to_bypass_lobby": true})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["conference_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 9, "{v}");
    assert_eq!(v["organizer"], USER);
    assert_eq!(v["subject"], "Q3 review");
    assert_eq!(v["allow_anonymous_start"], Value::Null);
    assert_eq!(v["allow_pstn_users_to_bypass_lobby"], true);
    assert_eq!(
        v["dial_in_numbers"],
        json!([{"number": "+14255550100", "kind": "toll"}])
    );

    let (s, audit) = call(&h, &token, Method::GET, "/api/v1/audit?limit=5", None).await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let created: Vec<&Value> = audit
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .filter(|e| e["action"] == "meeting.created")
        .collect();
    assert_eq!(created.len(), 1, "{audit}");
    assert_eq!(created[0]["actor"], "token:api-test");
    assert_eq!(created[0]["target"], USER);
    assert_eq!(created[0]["detail"], format!("meeting {id} created"));

    let (s, list) = call(&h, &token, Method::GET, "/api/v1/meetings", None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["conference_id"], id.as_str());
    assert_eq!(list[0]["subject"], "Q3 review");
    assert!(list[0]["created_at_ms"].as_i64().unwrap() > 0);
}

//! Every state-changing route of the router — taken from the route table the router is
//! built from, not a hand-picked list — refuses a request without a valid CSRF token,
//! or from a cross-site origin, with 403, and changes nothing.

mod common;

use axum::http::StatusCode;
use common::{ADMIN, ADMIN_PASSWORD, HOST, Harness, USER};

/// What a forged request lacks, its headers and its form body.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);

fn concrete(path: &str) -> String {
    path.replace("{upn}", USER)
}

#[tokio::test]
async fn every_state_changing_route_refuses_forged_requests() {
    let h = Harness::new().await;
    let session = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let csrf = h.csrf(&session).await;
    let token_secret = h
        .app
        .create_api_token(
            &pinbridge_domain::Actor::system(),
            &pinbridge_domain::TokenName::parse("csrf-test").unwrap(),
        )
        .await
        .unwrap()
        .secret;
    let bearer = format!("Bearer {token_secret}");
    let routes: Vec<_> = pinbridge_web::route_table()
        .into_iter()
        .filter(|r| r.changes_state())
        .collect();
    assert!(
        routes.len() >= 20,
        "only {} state-changing routes",
        routes.len()
    );
    let before = h.snapshot().await;
    let same_origin = format!("http://{HOST}");
    let valid_form = format!("csrf={csrf}&token=x&upn=x&password=x");
    for route in &routes {
        let path = concrete(route.path);
        let m = route.method.clone();
        let cases: Vec<Case> = vec![
            (
                "no token",
                vec![("origin", same_origin.as_str())],
                "upn=x".to_owned(),
            ),
            (
                "a wrong token",
                vec![("origin", same_origin.as_str())],
                "csrf=0000000000000000000000000000000000000000".to_owned(),
            ),
            (
                "a cross-site Origin",
                vec![("origin", "https://evil.example")],
                valid_form.clone(),
            ),
            (
                "Sec-Fetch-Site: cross-site",
                vec![("sec-fetch-site", "cross-site")],
                valid_form.clone(),
            ),
            ("Origin: null", vec![("origin", "null")], valid_form.clone()),
        ];
        for (what, headers, body) in cases {
            let reply = h
                .send(
                    m.clone(),
                    &path,
                    &session,
                    &headers,
                    Some(("application/x-www-form-urlencoded", body)),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{m} {path} with {what}: {}",
                reply.body
            );
        }
        // A bearer token carries no ambient credential, but a cross-site page still
        // cannot use one.
        if route.path.starts_with("/api/") {
            let reply = h
                .send(
                    m.clone(),
                    &path,
                    "",
                    &[
                        ("authorization", bearer.as_str()),
                        ("origin", "https://evil.example"),
                    ],
                    Some(("application/json", "{}".to_owned())),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{m} {path} bearer cross-site"
            );
            if reply.status == StatusCode::FORBIDDEN {
                assert!(
                    reply.body.contains("\"cross-site-request\""),
                    "{}",
                    reply.body
                );
            }
        }
    }
    // Only the token's own use was recorded (never by a refused request).
    assert_eq!(
        before,
        h.snapshot().await,
        "a refused request changed something"
    );
}

/// The guard lets a well-formed form through: the 403s above come from the check.
#[tokio::test]
async fn a_form_with_the_session_token_passes() {
    let h = Harness::new().await;
    let session = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let csrf = h.csrf(&session).await;
    let reply = h
        .post_form(
            &format!("/admin/users/{USER}/callers-can-start"),
            &session,
            &[("csrf", &csrf), ("allow", "on")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let alice = h
        .app
        .user(&pinbridge_domain::Upn::parse(USER).unwrap())
        .await
        .unwrap();
    assert!(alice.conferencing.allow_pstn_only_meetings);
}

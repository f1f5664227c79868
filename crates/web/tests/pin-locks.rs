//! Phone PIN locks as an admin sees them: listed and cleared through the API (bad and
//! unknown subjects refused, nothing changed), and on the user's Edit page with its
//! Clear PIN lock button.

mod common;

use axum::http::{Method, StatusCode};
use common::{ADMIN, ADMIN_PASSWORD, Harness, USER};
use pinbridge_app::security::PinCaller;
use pinbridge_domain::{Actor, TokenName, Upn};
use serde_json::Value;

const NUMBER: &str = "+15555550100";

/// Five wrong PINs for Alice as organiser from one number: both are locked.
async fn locked() -> Harness {
    let h = Harness::new().await;
    let alice = h.app.user(&Upn::parse(USER).unwrap()).await.unwrap();
    let caller = PinCaller {
        number: Some(NUMBER),
        source: "127.0.0.1".parse().unwrap(),
    };
    let mut newly_locked = 0;
    for _ in 0..5 {
        newly_locked += h
            .app
            .record_phone_pin_failure(&alice, &caller)
            .await
            .unwrap();
    }
    assert_eq!(newly_locked, 2);
    h
}

async fn api(h: &Harness, token: &str, method: Method, path: &str) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    let reply = h
        .send(method, path, "", &[("authorization", auth.as_str())], None)
        .await;
    let value = serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body.clone()));
    (reply.status, value)
}

fn subjects(list: &Value) -> Vec<&str> {
    let mut subjects: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| l["subject"].as_str().expect("a subject"))
        .collect();
    subjects.sort_unstable();
    subjects
}

#[tokio::test]
async fn the_api_lists_and_clears_locks_and_refuses_bad_subjects() {
    let h = locked().await;
    let name = TokenName::parse("locks-test").unwrap();
    let token = h
        .app
        .create_api_token(&Actor::system(), &name)
        .await
        .unwrap()
        .secret;
    let (status, list) = api(&h, &token, Method::GET, "/api/v1/pin-locks").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let both = vec![
        "caller:+15555550100".to_owned(),
        format!("organiser:{USER}"),
    ];
    assert_eq!(subjects(&list), both);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|l| l["wrong_pins"] == 5)
    );

    for (path, expected) in [
        (
            "/api/v1/pin-locks/nonsense",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/pin-locks/organiser:not-a-upn",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/pin-locks/caller:+15555550199",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = api(&h, &token, Method::DELETE, path).await;
        assert_eq!(status, expected, "{path}: {body}");
        let (_, list) = api(&h, &token, Method::GET, "/api/v1/pin-locks").await;
        assert_eq!(subjects(&list), both, "{path} changed the locks");
    }

    let (status, body) = api(
        &h,
        &token,
        Method::DELETE,
        "/api/v1/pin-locks/caller:+15555550100",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, list) = api(&h, &token, Method::GET, "/api/v1/pin-locks").await;
    assert_eq!(subjects(&list), vec![format!("organiser:{USER}")]);
    let (status, _) = api(&h, &token, Method::GET, "/api/v1/pin-locks").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api(&h, "not-a-token", Method::GET, "/api/v1/pin-locks").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_edit_page_shows_the_lock_and_its_button_clears_it() {
    let h = locked().await;
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let edit = format!("/admin/users/{USER}/edit");
    let page = h.get(&edit, &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("after 5 wrong PINs entered by phone"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Clear PIN lock"), "{}", page.body);

    let csrf = h.csrf(&admin).await;
    let path = format!("/admin/users/{USER}/clear-pin-lock");
    let refused = h.post_form(&path, &admin, &[("csrf", "wrong")]).await;
    assert_ne!(refused.status, StatusCode::SEE_OTHER);
    assert!(
        h.app
            .organiser_pin_lock(&Upn::parse(USER).unwrap())
            .await
            .unwrap()
            .is_some()
    );

    let reply = h.post_form(&path, &admin, &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = h.get(reply.location(), &admin).await;
    assert!(
        page.body.contains("Phone PIN entry is unlocked."),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<strong id=\"pin-lock\">not locked</strong>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Clear PIN lock"), "{}", page.body);
    let locks = h.app.phone_pin_locks().await.unwrap();
    let left: Vec<&str> = locks.iter().map(|l| l.subject.as_str()).collect();
    assert_eq!(
        left,
        vec!["caller:+15555550100"],
        "only the organiser's lock is cleared"
    );
}

//! A reset PIN is shown once, without JavaScript, through the router: the Reset form
//! carries a one-time token; the
//! POST's response shows the PIN with `Cache-Control: no-store`; posting the same token
//! again resets nothing and shows the mask; no table holds the plaintext PIN.

mod common;

use axum::http::StatusCode;
use common::{ADMIN, ADMIN_PASSWORD, Harness, USER, USER_PASSWORD, contains};
use pinbridge_domain::{PIN_MASK, Upn};

fn pin_in(body: &str) -> String {
    let start = body.find("id=\"new-pin\">").expect("the PIN element") + "id=\"new-pin\">".len();
    let end = body[start..].find('<').unwrap() + start;
    body[start..end].to_owned()
}

#[tokio::test]
async fn admin_reset_shows_the_pin_once() {
    let h = Harness::new().await;
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let confirm = h
        .get(&format!("/admin/users/{USER}/reset-pin"), &admin)
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    let csrf = confirm.hidden("csrf");
    let token = confirm.hidden("token");
    let path = format!("/admin/users/{USER}/reset-pin");
    let done = h
        .post_form(&path, &admin, &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.headers.get("cache-control").unwrap(), "no-store");
    assert!(done.headers.get("location").is_none());
    let pin = pin_in(&done.body);
    assert_eq!(pin.len(), 5, "{pin}");
    assert!(pin.chars().all(|c| c.is_ascii_digit()));
    assert!(
        done.body
            .contains("email was queued for alice@contoso.example"),
        "{}",
        done.body
    );

    let alice = h.app.user(&Upn::parse(USER).unwrap()).await.unwrap();
    assert!(h.app.verify_pin(&alice, &pin).await.unwrap());
    assert!(!h.app.verify_pin(&alice, &h.alice_pin).await.unwrap());

    // The browser's resubmission: same token, nothing reset, the mask shown.
    let before = h.snapshot().await;
    let again = h
        .post_form(&path, &admin, &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(pin_in(&again.body), PIN_MASK);
    assert!(!again.body.contains(&pin));
    assert_eq!(
        before,
        h.snapshot().await,
        "a resubmitted reset changed something"
    );

    let edit = h.get(&format!("/admin/users/{USER}/edit"), &admin).await;
    assert!(edit.body.contains(PIN_MASK) && !edit.body.contains(&pin));

    // The sessions table and every other table hold no plaintext PIN.
    assert!(
        !contains(&h.stored_bytes(), &pin),
        "the PIN is stored in plaintext"
    );
    assert!(!h.snapshot().await.contains(&pin));
}

#[tokio::test]
async fn a_token_is_bound_to_its_session() {
    let h = Harness::new().await;
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let other = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("second session");
    let confirm = h
        .get(&format!("/admin/users/{USER}/reset-pin"), &admin)
        .await;
    let token = confirm.hidden("token");
    let csrf = h.csrf(&other).await;
    let before = h.snapshot().await;
    let reply = h
        .post_form(
            &format!("/admin/users/{USER}/reset-pin"),
            &other,
            &[("csrf", &csrf), ("token", &token)],
        )
        .await;
    assert_eq!(pin_in(&reply.body), PIN_MASK);
    assert_eq!(before, h.snapshot().await);
}

#[tokio::test]
async fn self_service_reset_shows_the_pin_once_and_sends_no_email() {
    let h = Harness::new().await;
    let user = h
        .sign_in(USER, USER_PASSWORD)
        .await
        .ok()
        .expect("alice signs in");
    let page = h.get("/usp", &user).await;
    assert!(page.body.contains(PIN_MASK));
    assert_eq!(page.headers.get("cache-control").unwrap(), "no-store");
    let fields = [
        ("csrf", page.hidden("csrf")),
        ("token", page.hidden("token")),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let outbox_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(h.app.store().pool())
        .await
        .unwrap();
    let done = h.post_form("/usp/reset-pin", &user, &fields).await;
    let pin = pin_in(&done.body);
    assert!(
        pin.chars().all(|c| c.is_ascii_digit()) && pin.len() == 5,
        "{}",
        done.body
    );
    assert!(done.body.contains("No email was sent"));
    let again = h.post_form("/usp/reset-pin", &user, &fields).await;
    assert_eq!(pin_in(&again.body), PIN_MASK);
    let outbox_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(h.app.store().pool())
        .await
        .unwrap();
    assert_eq!(
        outbox_before, outbox_after,
        "a self-service reset queued an email"
    );
    let alice = h.app.user(&Upn::parse(USER).unwrap()).await.unwrap();
    assert!(h.app.verify_pin(&alice, &pin).await.unwrap());
    let audit = h
        .get(
            "/admin/audit",
            &h.sign_in(ADMIN, ADMIN_PASSWORD).await.ok().unwrap(),
        )
        .await;
    assert!(audit.body.contains("user.pin_reset_by_self"));
}

/// With automatic emails off, the page with the new PIN says that no email went out
/// and why, and nothing is queued.
#[tokio::test]
async fn with_emails_off_the_page_says_no_email_was_sent() {
    let h = Harness::new().await;
    h.app
        .update_tenant_settings(
            &pinbridge_domain::Actor::system(),
            &pinbridge_domain::settings::TenantSettingsChange {
                automatically_send_emails: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let confirm = h
        .get(&format!("/admin/users/{USER}/reset-pin"), &admin)
        .await;
    let fields = [
        ("csrf", confirm.hidden("csrf")),
        ("token", confirm.hidden("token")),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox")
            .fetch_one(h.app.store().pool())
            .await
            .unwrap()
    };
    let before = count().await;
    let done = h
        .post_form(&format!("/admin/users/{USER}/reset-pin"), &admin, &fields)
        .await;
    assert!(pin_in(&done.body).chars().all(|c| c.is_ascii_digit()));
    assert!(done.body.contains("was not sent"), "{}", done.body);
    assert!(
        done.body.contains("automatic emails are off"),
        "{}",
        done.body
    );
    assert_eq!(before, count().await, "an email was queued with emails off");
}

//! Sign-in, sessions, roles and the sign-in throttle, through the router.

mod common;

use axum::http::{Method, StatusCode};
use common::{ADMIN, ADMIN_PASSWORD, Harness, USER, USER_PASSWORD};
use pinbridge_domain::AuditAction;
use pinbridge_store::AuditQuery;

#[tokio::test]
async fn pages_need_a_session_and_admin_pages_need_an_admin() {
    let h = Harness::new().await;
    let reply = h.get("/admin/users", "").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.location().starts_with("/signin"),
        "{}",
        reply.location()
    );

    let user = h
        .sign_in(USER, USER_PASSWORD)
        .await
        .ok()
        .expect("alice signs in");
    for path in [
        "/admin",
        "/admin/users",
        &format!("/admin/users/{ADMIN}/edit"),
        "/admin/settings",
    ] {
        assert_eq!(
            h.get(path, &user).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(h.get("/usp", &user).await.status, StatusCode::OK);
    // A user cannot act on another user, even with a valid token.
    let csrf = h.csrf(&user).await;
    let before = h.snapshot().await;
    let reply = h
        .post_form(
            &format!("/admin/users/{ADMIN}/password"),
            &user,
            &[("csrf", &csrf), ("password", "a new password 123")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(before, h.snapshot().await);

    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let page = h.get("/admin/users", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(USER), "{}", page.body);
}

#[tokio::test]
async fn cookies_are_httponly_and_samesite_lax() {
    let h = Harness::new().await;
    let page = h.get("/signin", "").await;
    let set = page
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "plain HTTP gets no Secure cookie: {set}"
    );
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let h = Harness::new().await;
    let session = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let csrf = h.csrf(&session).await;
    let reply = h.post_form("/signout", &session, &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let again = h.get("/admin/users", &session).await;
    assert_eq!(
        again.status,
        StatusCode::SEE_OTHER,
        "the old cookie is refused"
    );
    assert!(again.location().starts_with("/signin"));
}

#[tokio::test]
async fn repeated_failures_lock_the_account_until_an_admin_clears_it() {
    let h = Harness::new().await;
    for _ in 0..5 {
        let reply = h
            .sign_in(USER, "wrong password!!")
            .await
            .expect_err("refused");
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let locked = h.sign_in(USER, USER_PASSWORD).await.expect_err("locked");
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        locked.body.contains("too many failed sign-ins"),
        "{}",
        locked.body
    );

    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let locks = h.get("/admin/sign-in-locks", &admin).await;
    assert!(
        locks.body.contains(&format!("account:{USER}")),
        "{}",
        locks.body
    );
    let csrf = h.csrf(&admin).await;
    let reply = h
        .post_form(
            &format!("/admin/users/{USER}/clear-lock"),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.location().ends_with("done=lock-cleared"),
        "{}",
        reply.location()
    );
    h.sign_in(USER, USER_PASSWORD)
        .await
        .ok()
        .expect("alice signs in again");

    // The admin's clearing is in the audit log, by whom and for whom; the successful
    // sign-in that followed is not an admin action and adds nothing.
    let audit = h.app.audit(&audit_query()).await.unwrap();
    let cleared: Vec<_> = audit
        .iter()
        .filter(|r| r.action == AuditAction::SignInLockCleared)
        .collect();
    assert_eq!(cleared.len(), 1, "{audit:?}");
    assert_eq!(cleared[0].actor.as_str(), ADMIN);
    assert_eq!(cleared[0].target.as_ref().map(|u| u.as_str()), Some(USER));
    assert!(
        cleared[0].detail.contains("sign-in lock cleared")
            && cleared[0].detail.contains("5 failed sign-ins"),
        "{}",
        cleared[0].detail
    );
    assert_eq!(audit[0].action, AuditAction::SignInLockCleared, "{audit:?}");

    // Nothing to clear: nothing audited.
    let reply = h
        .post_form(
            &format!("/admin/users/{USER}/clear-lock"),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert!(reply.location().ends_with("done=no-lock"));
    let after = h.app.audit(&audit_query()).await.unwrap();
    assert_eq!(after.len(), audit.len(), "clearing nothing was audited");
    let page = h
        .get("/admin/audit?action=sign_in.lock_cleared", &admin)
        .await;
    assert!(page.body.contains("sign_in.lock_cleared"), "{}", page.body);
}

fn audit_query() -> AuditQuery {
    AuditQuery {
        limit: 1000,
        target: None,
    }
}

#[tokio::test]
async fn a_lock_cleared_on_the_locks_page_is_audited_without_the_name_typed() {
    let h = Harness::new().await;
    // Someone types a password into the user-name field five times.
    let typed = "Hunter2-secret-passphrase";
    for _ in 0..5 {
        let reply = h.sign_in(typed, "whatever").await.expect_err("refused");
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let subject = format!("account:{}", typed.to_lowercase());
    let locks = h.get("/admin/sign-in-locks", &admin).await;
    assert!(locks.body.contains(&subject), "{}", locks.body);
    let csrf = h.csrf(&admin).await;
    let reply = h
        .post_form(
            "/admin/sign-in-locks/clear",
            &admin,
            &[("csrf", &csrf), ("subject", &subject)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert!(h.app.sign_in_locks().await.unwrap().is_empty());

    let audit = h.app.audit(&audit_query()).await.unwrap();
    let entry = &audit[0];
    assert_eq!(entry.action, AuditAction::SignInLockCleared);
    assert_eq!(entry.actor.as_str(), ADMIN);
    assert_eq!(entry.target, None);
    assert!(
        entry.detail.contains("an account name that is not a UPN"),
        "{}",
        entry.detail
    );
    for r in &audit {
        assert!(
            !r.detail.to_lowercase().contains("hunter2"),
            "the name typed reached the audit log: {}",
            r.detail
        );
    }

    // A subject with no lock: 404, nothing audited.
    let reply = h
        .post_form(
            "/admin/sign-in-locks/clear",
            &admin,
            &[("csrf", &csrf), ("subject", &subject)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.app.audit(&audit_query()).await.unwrap().len(),
        audit.len()
    );
}

#[tokio::test]
async fn a_user_changes_their_own_password() {
    let h = Harness::new().await;
    let session = h
        .sign_in(USER, USER_PASSWORD)
        .await
        .ok()
        .expect("alice signs in");
    let csrf = h.csrf(&session).await;
    let wrong = h
        .post_form(
            "/password",
            &session,
            &[
                ("csrf", &csrf),
                ("current", "not it at all"),
                ("new", "a brand new passphrase"),
                ("confirm", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = h
        .post_form(
            "/password",
            &session,
            &[
                ("csrf", &csrf),
                ("current", USER_PASSWORD),
                ("new", "a brand new passphrase"),
                ("confirm", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert!(h.sign_in(USER, USER_PASSWORD).await.is_err());
    h.sign_in(USER, "a brand new passphrase")
        .await
        .ok()
        .expect("the new password works");
}

#[tokio::test]
async fn unknown_paths_and_bad_forms_are_plain_errors() {
    let h = Harness::new().await;
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    assert_eq!(
        h.get("/no/such/page", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get("/admin/users/not-a-upn/edit", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = h.csrf(&admin).await;
    let before = h.snapshot().await;
    let reply = h
        .post_form(
            "/admin/settings",
            &admin,
            &[
                ("csrf", &csrf),
                ("display_name", "Contoso"),
                ("pin_length", "3"),
                ("entry_exit_announcements_type", "use-names"),
                ("lobby_wait_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = h
        .send(
            Method::POST,
            "/admin/numbers",
            &admin,
            &[("x-csrf-token", &csrf)],
            Some(("application/x-www-form-urlencoded", "number=1".into())),
        )
        .await;
    assert!(missing.status.is_client_error(), "{}", missing.status);
    assert_eq!(before, h.snapshot().await);
}

/// Control characters in the typed user name are a failed sign-in, never a server error.
#[tokio::test]
async fn a_user_name_with_a_nul_byte_is_a_failed_sign_in() {
    let h = Harness::new().await;
    let reply = h.sign_in("a\0b@contoso.example", "whatever it is").await;
    assert_eq!(reply.expect_err("refused").status, StatusCode::UNAUTHORIZED);
}

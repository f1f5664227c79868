//! Sign-in, sessions, roles and the sign-in throttle, through the router.

mod common;

use axum::http::{Method, StatusCode};
use common::{ADMIN, ADMIN_PASSWORD, Harness, USER, USER_PASSWORD};

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

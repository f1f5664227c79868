//! Every response, a page, the API, an error, a refused cross-site post, carries the
//! security headers: the Content Security Policy of this server's own resources only,
//! no framing, no MIME sniffing, no Referer to other sites.

mod common;

use axum::http::StatusCode;
use common::{ADMIN, ADMIN_PASSWORD, Harness, Reply};
use pinbridge_web::headers::CONTENT_SECURITY_POLICY;

fn assert_secured(what: &str, reply: &Reply) {
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        header("content-security-policy"),
        CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let h = Harness::new().await;
    let signin = h.get("/signin", "").await;
    assert_eq!(signin.status, StatusCode::OK);
    assert_secured("the sign-in page", &signin);
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    let users = h.get("/admin/users", &admin).await;
    assert_eq!(users.status, StatusCode::OK);
    assert_secured("the users page", &users);
    let missing = h.get("/no-such-page", &admin).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_secured("a missing page", &missing);
    let api = h.get("/api/v1/users", "").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_secured("the API without a token", &api);
    let forged = h.post_form("/signout", "", &[]).await;
    assert!(forged.status.is_client_error(), "{}", forged.status);
    assert_secured("a refused post", &forged);
}

#[tokio::test]
async fn the_pages_hold_no_inline_script_or_style_that_the_policy_would_block() {
    let h = Harness::new().await;
    let admin = h
        .sign_in(ADMIN, ADMIN_PASSWORD)
        .await
        .ok()
        .expect("admin signs in");
    for path in [
        "/signin",
        "/admin/users",
        "/admin/settings",
        "/usp",
        "/meetings",
    ] {
        let page = h.get(path, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains("</html>"), "{path}: {}", page.body);
        let body = page.body.to_ascii_lowercase();
        assert!(!body.contains(" style="), "{path} has an inline style");
        assert!(!body.contains("<style"), "{path} has a style element");
        for script in body.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap_or(script.len())];
            assert!(
                tag.contains(" src=\"/"),
                "{path} has an inline script: <script{tag}>"
            );
        }
        assert!(!body.contains(" onclick="), "{path} has an inline handler");
    }
}

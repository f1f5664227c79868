//! Forwarded headers count only from a configured proxy: then `X-Forwarded-Proto:
//! https` makes cookies `Secure` and `X-Forwarded-For` names the client whose failed
//! sign-ins are counted; from anyone else both headers are ignored.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::{HOST, Harness, USER, USER_PASSWORD};
use pinbridge_web::{AppState, Peer, WebConfig};
use tower::ServiceExt;

fn router(h: &Harness) -> Router {
    let web = WebConfig {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..WebConfig::default()
    };
    pinbridge_web::app(AppState {
        app: h.app.clone(),
        web: Arc::new(web),
    })
}

async fn signin_cookie(router: &Router, peer: &str, headers: &[(&str, &str)]) -> String {
    let mut request = Request::builder().uri("/signin").header(header::HOST, HOST);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request.body(Body::empty()).unwrap();
    let addr: SocketAddr = peer.parse().unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(Peer { addr, tls: false }));
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn forwarded_proto_counts_only_from_a_trusted_proxy() {
    let h = Harness::new().await;
    let router = router(&h);
    let https = [("x-forwarded-proto", "https")];
    assert!(
        signin_cookie(&router, "10.1.2.3:4000", &https)
            .await
            .contains("; Secure")
    );
    assert!(
        !signin_cookie(&router, "192.0.2.7:4000", &https)
            .await
            .contains("Secure")
    );
    assert!(
        !signin_cookie(&router, "10.1.2.3:4000", &[])
            .await
            .contains("Secure")
    );
}

#[tokio::test]
async fn failed_sign_ins_are_counted_per_forwarded_client() {
    let h = Harness::new().await;
    let router = router(&h);
    // Twenty failures from one client, spread over accounts, lock that address only.
    for i in 0..20 {
        let body = format!("csrf=x&upn=nobody{i}%40contoso.example&password=wrong");
        let request = Request::post("/signin")
            .header(header::HOST, HOST)
            .header("x-forwarded-for", "198.51.100.9")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, "pb_presession=abc")
            .header(
                "x-csrf-token",
                pinbridge_web::session::csrf_token_for("abc"),
            )
            .body(Body::from(body))
            .unwrap();
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(Peer {
            addr: "10.0.0.2:5000".parse().unwrap(),
            tls: false,
        }));
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let locks = h.app.sign_in_locks().await.unwrap();
    let subjects: Vec<&str> = locks.iter().map(|l| l.subject.as_str()).collect();
    assert_eq!(
        subjects,
        ["address:198.51.100.9"],
        "the proxy itself is not locked"
    );
    // Another client behind the same proxy still signs in.
    assert!(
        h.sign_in(USER, USER_PASSWORD).await.is_ok(),
        "a client at another address signs in"
    );
}

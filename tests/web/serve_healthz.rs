//! `pinbridge serve` answers `/healthz` with 200 while its store answers, and stops
//! cleanly on SIGTERM.

use crate::common;

#[test]
fn healthz_answers_while_the_store_answers_and_serve_stops_on_sigterm() {
    for store in common::stores() {
        let serve = store.serve(&[]);
        let (status, body) = common::http_get(&serve.url, "/healthz");
        assert_eq!((status, body.trim()), (200, "ok"), "[{}]", store.name);
        let status = serve.stop();
        assert!(
            status.success(),
            "[{}] serve exited with {status}",
            store.name
        );
    }
}

/// With PostgreSQL stopped, `/healthz` says 503 and why; when it is back, 200 again.
#[test]
fn healthz_is_503_while_postgresql_is_stopped() {
    let postgres = common::private_postgres::PrivatePostgres::start();
    let mut store = common::sqlite();
    store.database_url = Some(postgres.url());
    store.server_key = Some(common::random_hex(32));
    store.name = "private postgres";

    let serve = store.serve(&[]);
    assert_eq!(common::http_get(&serve.url, "/healthz").0, 200);

    postgres.stop();
    let (status, body) = common::http_get(&serve.url, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("store unavailable"), "{body}");

    postgres.start_again();
    // The pool reconnects on the next request.
    let (status, body) = common::http_get(&serve.url, "/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    assert!(serve.stop().success());
}

/// A SIGTERM that arrives while serve is still starting (its web socket bound, the
/// bridge and the mail worker not yet running) stops it cleanly too: the signal
/// handlers are in place before anything is announced. (Regression: it used to kill
/// the process, as the demo test saw now and then.)
#[test]
fn sigterm_during_start_up_stops_serve_cleanly() {
    for _ in 0..5 {
        let store = common::sqlite();
        let serve = store.serve(&[]);
        let status = serve.stop();
        assert!(status.success(), "serve exited with {status}");
    }
}

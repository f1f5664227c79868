//! `pinbridge serve` answers `/healthz` with 200 while its store answers, and stops
//! cleanly on SIGTERM.

mod common;

#[test]
fn healthz_answers_while_the_store_answers_and_serve_stops_on_sigterm() {
    for store in common::stores() {
        let serve = store.serve(&[]);
        let (status, body) = common::http_get(&serve.http, "/healthz");
        assert_eq!((status, body.trim()), (200, "ok"), "[{}]", store.name);
        let status = serve.stop();
        assert!(
            status.success(),
            "[{}] serve exited with {status}",
            store.name
        );
    }
}

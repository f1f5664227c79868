//! An admin clearing a sign-in lock is audited in the same transaction, on each backend:
//! who cleared it and for which user; a client address is named, an account name that
//! is not a UPN is not (people type passwords into user-name fields). Clearing nothing
//! audits nothing. (The admin center's two Clear buttons are tested through the router
//! in crates/web/tests/sign-in-and-roles.rs.)

use crate::common;

use pinbridge_domain::{Actor, AuditAction, Upn};
use pinbridge_store::AuditQuery;
use pinbridge_store::web::ThrottlePolicy;

const POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 3,
    window_ms: 60_000,
    lock_ms: 60_000,
    longest_lock_ms: 60_000,
};

#[test]
fn clearing_a_sign_in_lock_is_audited() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for store in common::stores() {
        runtime.block_on(async {
            let app = store.app().await;
            let db = app.store();
            let admin = Actor::user(&Upn::parse("admin@contoso.example").unwrap());
            let subjects = [
                "account:alice@contoso.example",
                "address:192.0.2.7",
                "account:hunter2 is not a name",
            ];
            for subject in subjects {
                for _ in 0..3 {
                    db.record_sign_in_failure(&[subject], POLICY).await.unwrap();
                }
            }
            assert_eq!(db.sign_in_locks().await.unwrap().len(), 3);
            for subject in subjects {
                assert!(db.clear_sign_in_lock(&admin, subject).await.unwrap());
                assert!(!db.clear_sign_in_lock(&admin, subject).await.unwrap());
            }
            assert!(db.sign_in_locks().await.unwrap().is_empty());

            let audit = db
                .audit(&AuditQuery {
                    limit: 100,
                    target: None,
                })
                .await
                .unwrap();
            assert_eq!(audit.len(), 3, "[{}] {audit:#?}", store.name);
            assert!(
                audit
                    .iter()
                    .all(|r| r.action == AuditAction::SignInLockCleared
                        && r.actor.as_str() == "admin@contoso.example")
            );
            // Newest first.
            assert!(audit[0].target.is_none());
            assert!(!audit[0].detail.contains("hunter2"), "{}", audit[0].detail);
            assert!(audit[1].target.is_none());
            assert!(audit[1].detail.contains("192.0.2.7"), "{}", audit[1].detail);
            assert_eq!(
                audit[2].target.as_ref().map(|u| u.as_str()),
                Some("alice@contoso.example")
            );
            assert!(
                audit[2].detail.contains("sign-in lock cleared")
                    && audit[2].detail.contains("3 failed sign-ins"),
                "{}",
                audit[2].detail
            );
            app.close().await;
        });
    }
}

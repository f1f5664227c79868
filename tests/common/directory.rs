//! Directory fixtures for CLI tests: registered numbers and an enabled user.

use super::TestStore;

pub const TOLL: &str = "+14255550100";
pub const TOLL_FREE: &str = "+18005550100";
pub const ALICE: &str = "alice@contoso.example";

impl TestStore {
    /// Registers a toll and a toll-free number and adds Alice (with a mailbox).
    pub fn with_alice(&self) -> &Self {
        self.ok(&["number", "add", TOLL]);
        self.ok(&["number", "add", TOLL_FREE, "--toll-free"]);
        self.ok(&["user", "add", ALICE, "--display-name", "Alice Example"]);
        self
    }

    /// `user enable` with `--json`: the new PIN.
    pub fn enable(&self, upn: &str) -> String {
        let out = self.json(&["user", "enable", upn]);
        out["pin"]
            .as_str()
            .expect("enable prints the PIN")
            .to_owned()
    }

    /// `user set --reset-leader-pin` with `--json`: the new PIN.
    pub fn reset_pin(&self, upn: &str) -> String {
        let out = self.json(&["user", "set", upn, "--reset-leader-pin"]);
        out["pin"]
            .as_str()
            .expect("a reset prints the PIN")
            .to_owned()
    }

    /// Whether `pin` is the user's organiser PIN now, checked through the application.
    pub fn pin_verifies(&self, upn: &str, pin: &str) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let app = self.app().await;
            let upn = pinbridge_domain::Upn::parse(upn).expect("UPN");
            let user = app.user(&upn).await.expect("user");
            app.verify_pin(&user, pin).await.expect("verify")
        })
    }
}

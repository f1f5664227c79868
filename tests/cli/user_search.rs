//! `user list --search`: every word must start a word of the UPN or display name; pages
//! are in UPN order with the total count of matches.

use crate::common;

#[test]
fn search_matches_word_prefixes_and_pages_in_upn_order() {
    for store in common::stores() {
        for (upn, name) in [
            ("ada.lovelace@contoso.example", "Ada Lovelace"),
            ("grace.hopper@contoso.example", "Grace Hopper"),
            ("chloe.dubois@contoso.example", "Chloé Dubois-Martin"),
            ("adam.smith@fabrikam.example", "Adam Smith"),
        ] {
            store.ok(&["user", "add", upn, "--display-name", name]);
        }
        let upns = |args: &[&str]| -> (Vec<String>, i64) {
            let mut all = vec!["user", "list"];
            all.extend_from_slice(args);
            let out = store.json(&all);
            let users = out["users"]
                .as_array()
                .expect("users")
                .iter()
                .map(|u| u["upn"].as_str().unwrap_or("").to_owned())
                .collect();
            (users, out["total"].as_i64().expect("total"))
        };
        let (all, total) = upns(&[]);
        assert_eq!(total, 4, "[{}]", store.name);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted, "UPN order");

        assert_eq!(
            upns(&["--search", "ada"]).0,
            [
                "ada.lovelace@contoso.example",
                "adam.smith@fabrikam.example"
            ]
        );
        assert_eq!(
            upns(&["--search", "LOVE"]).0,
            ["ada.lovelace@contoso.example"]
        );
        assert_eq!(
            upns(&["--search", "chloé"]).0,
            ["chloe.dubois@contoso.example"]
        );
        assert_eq!(
            upns(&["--search", "martin"]).0,
            ["chloe.dubois@contoso.example"]
        );
        assert_eq!(
            upns(&["--search", "fabrikam"]).0,
            ["adam.smith@fabrikam.example"]
        );
        assert_eq!(
            upns(&["--search", "grace.hopper@con"]).0,
            ["grace.hopper@contoso.example"]
        );
        assert_eq!(
            upns(&["--search", "ada smith"]).0,
            ["adam.smith@fabrikam.example"]
        );
        assert_eq!(upns(&["--search", "nobody"]), (vec![], 0));
        // Characters that mean something to SQL are plain text here.
        assert_eq!(upns(&["--search", "%"]), (vec![], 0));
        assert_eq!(upns(&["--search", "a'; DROP TABLE users; --"]), (vec![], 0));

        let (page, total) = upns(&["--limit", "2", "--offset", "2"]);
        assert_eq!((page.as_slice(), total), (&sorted[2..4], 4));
    }
}

//! Each HTTP function's `main` starts from its own route table (`routes::GET_SESSION`, ...),
//! so that its binary links only its own handlers, and with the SNS client only when its
//! routes push. A `main` that named `Function::routes`, `AllRoutes` or another table would
//! still work, and silently link every handler: this is the check that it does not.

use nsauth::http::routes::Function;

fn main_of(f: Function) -> String {
    let path = format!(
        "{}/../functions/{}/src/main.rs",
        env!("CARGO_MANIFEST_DIR"),
        f.binary_name()
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn each_main_names_only_its_own_table() {
    for f in Function::ALL {
        let code = main_of(f);
        let own = f.binary_name().to_ascii_uppercase();
        let start = if f.pushes() {
            "nsauth::lambda::start("
        } else {
            "nsauth::lambda::start_without_push("
        };
        assert!(
            code.contains(&format!("{start}&nsauth::http::routes::{own})")),
            "{}: main must call {start}&nsauth::http::routes::{own})",
            f.binary_name()
        );
        for other in Function::ALL.iter().filter(|o| **o != f) {
            let table = format!("routes::{}", other.binary_name().to_ascii_uppercase());
            assert!(!code.contains(&table), "{}: names {table}", f.binary_name());
        }
        for wide in ["Function::", "AllRoutes", "all_routes", "PATHS"] {
            assert!(!code.contains(wide), "{}: names {wide}", f.binary_name());
        }
    }
}

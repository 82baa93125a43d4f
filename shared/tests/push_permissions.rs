//! The functions built without the SNS client (`Function::pushes` false, started with
//! `lambda::start_without_push`) are exactly those whose role in template.yaml has no SNS
//! permission: a route that pushes in one of them would fail at once, in IAM as in code.

use nsauth::http::routes::Function;

/// The template's resources as (name, text of its block), split at two-space-indented keys.
fn resources(template: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in template.lines() {
        let is_key = line.starts_with("  ")
            && !line.starts_with("   ")
            && line.trim_end().ends_with(':')
            && !line.trim().starts_with('#');
        if is_key {
            out.push((line.trim().trim_end_matches(':').to_string(), String::new()));
        } else if let Some((_, block)) = out.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    out
}

#[test]
fn only_functions_that_push_may_use_sns() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template = std::fs::read_to_string(path).expect("template.yaml");
    let blocks = resources(&template);
    for f in Function::ALL {
        let binary = format!("Binary: {}\n", f.binary_name());
        let (name, block) = blocks
            .iter()
            .find(|(_, b)| b.contains(&binary))
            .unwrap_or_else(|| panic!("no function builds {}", f.binary_name()));
        assert_eq!(
            block.contains("- sns:"),
            f.pushes(),
            "{name} ({}): SNS permissions and Function::pushes disagree",
            f.binary_name()
        );
    }
}

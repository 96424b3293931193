//! template.yaml read as text, for the tests that hold it against the code (alarms
//! against emitted metrics, policies against what the code calls): its blocks by
//! logical id, a block's properties, an alarm's dimensions, a function's statements.

pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// The blocks of a top-level section (`Resources`, `Parameters`): each logical id and
/// its lines, up to the next id (a line indented by exactly two spaces).
pub fn blocks(section: &str) -> Vec<(String, String)> {
    let body = TEMPLATE
        .split(&format!("\n{section}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("{section} in template.yaml"));
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        let top_level = !line.is_empty() && !line.starts_with(' ') && !line.starts_with('#');
        if top_level {
            break;
        }
        let id = line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':');
        if id && !line.trim_start().starts_with('#') {
            blocks.push((line.trim().trim_end_matches(':').to_owned(), String::new()));
        } else if let Some((_, block)) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// Every resource block.
pub fn resources() -> Vec<(String, String)> {
    blocks("Resources")
}

/// The block of `id` in `section`.
pub fn block(section: &str, id: &str) -> String {
    blocks(section)
        .into_iter()
        .find_map(|(found, block)| (found == id).then_some(block))
        .unwrap_or_else(|| panic!("{id} in the template's {section}"))
}

/// The resource `id`'s block.
pub fn resource(id: &str) -> String {
    block("Resources", id)
}

/// The value of `key` in `block`, the first line that sets it.
pub fn property<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{key}: ")))
}

/// (name, value) of an alarm's `Dimensions` list.
pub fn dimensions(block: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = block
        .lines()
        .skip_while(|l| l.trim() != "Dimensions:")
        .skip(1);
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("- Name: ") else {
            break;
        };
        let value = lines.next().and_then(|l| l.trim().strip_prefix("Value: "));
        found.push((name.to_owned(), value.expect("a Value").to_owned()));
    }
    found
}

/// The policy statements (`- Effect:` items) of a function's `Policies`.
pub fn statements(function: &str) -> Vec<String> {
    let block = resource(function);
    let policies = block.split("Policies:").nth(1).expect("Policies");
    policies
        .split("- Effect: ")
        .skip(1)
        .map(str::to_owned)
        .collect()
}

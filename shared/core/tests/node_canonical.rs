//! GIVEN generated IPN-like bodies (odd number spellings, integer-like and non-ASCII keys,
//! nested arrays, escapes), WHEN Node.js runs NOWPayments' own signing code over them,
//! THEN our canonical form is byte-identical: a signature NOWPayments made always verifies.

use std::io::Write;
use std::process::{Command, Stdio};

use telepay_core::signature::canonical_form;

/// NOWPayments' documented signing code, applied to each line (a JSON-encoded body).
const NODE_SCRIPT: &str = r#"
function sortObject(obj) {
  return Object.keys(obj).sort().reduce(
    (result, key) => {
      result[key] = (obj[key] && typeof obj[key] === 'object') ? sortObject(obj[key]) : obj[key]
      return result
    },
    {}
  )
}
const lines = require('fs').readFileSync(0, 'utf8').split('\n').filter(l => l.length > 0);
const out = lines.map(line => JSON.stringify(sortObject(JSON.parse(JSON.parse(line)))));
process.stdout.write(out.join('\n'));
"#;

const KEYS: &[&str] = &[
    "payment_id",
    "a",
    "B",
    "b",
    "_x",
    "0",
    "1",
    "2",
    "10",
    "01",
    "9",
    "4294967294",
    "4294967295",
    "-1",
    "1.5",
    "é",
    "Ａ",
    "😀",
    "z\u{1}",
    "key with space",
    "__proto__",
    "fee",
    "depositFee",
    "",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.50",
    "3.21",
    "0.0000001",
    "0.000001",
    "1e21",
    "1E21",
    "1e20",
    "123e-20",
    "-2.5E+3",
    "4492847470",
    "9007199254740993",
    "12345678901234567890",
    "123456789012345678901234567890",
    "0.1",
    "0.30000000000000004",
    "5e-324",
    "1.7976931348623157e308",
    "100",
    "0.001408",
    "0.05716941",
    "2.0",
    "-0.0",
];

const STRING_PARTS: &[&str] = &[
    "a",
    "eth",
    "/",
    "\\\\",
    "\\\"",
    "\\n",
    "\\t",
    "\\u0001",
    "\\u001f",
    "\\u007f",
    "é",
    "😀",
    "\\ud83d\\ude00",
    "\\u2028",
    "Ａ",
    " ",
    "PGP-1|-100",
    "\\/",
    "\\b\\f\\r",
];

fn string(rng: &mut fastrand::Rng) -> String {
    let parts = rng.usize(0..5);
    let body: String = (0..parts)
        .map(|_| STRING_PARTS[rng.usize(..STRING_PARTS.len())])
        .collect();
    format!("\"{body}\"")
}

fn space(rng: &mut fastrand::Rng) -> &'static str {
    [" ", "", "\n  ", "\t", ""][rng.usize(..5)]
}

fn value(rng: &mut fastrand::Rng, depth: u32) -> String {
    let choice = if depth >= 3 {
        rng.usize(0..4)
    } else {
        rng.usize(0..7)
    };
    match choice {
        0 => NUMBERS[rng.usize(..NUMBERS.len())].to_owned(),
        1 => string(rng),
        2 => ["true", "false", "null"][rng.usize(..3)].to_owned(),
        3 => format!("{}", rng.f64() * 10f64.powi(rng.i32(-9..22))),
        4 | 5 => object(rng, depth + 1),
        _ => {
            let items: Vec<String> = (0..rng.usize(0..4))
                .map(|_| value(rng, depth + 1))
                .collect();
            format!("[{}]", items.join(&format!(",{}", space(rng))))
        }
    }
}

fn object(rng: &mut fastrand::Rng, depth: u32) -> String {
    let fields: Vec<String> = (0..rng.usize(0..7))
        .map(|_| {
            let key = KEYS[rng.usize(..KEYS.len())];
            let key = serde_json::to_string(key).unwrap();
            format!(
                "{}{key}{}:{}{}",
                space(rng),
                space(rng),
                space(rng),
                value(rng, depth)
            )
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn node_canonical(bodies: &[String]) -> Vec<String> {
    let mut child = Command::new("node")
        .arg("-e")
        .arg(NODE_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("Node.js (`node`) must be on PATH for this test: it is the reference signer");
    let input: String = bodies
        .iter()
        .map(|b| serde_json::to_string(b).unwrap() + "\n")
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .split('\n')
        .map(str::to_owned)
        .collect()
}

#[test]
fn our_canonical_form_is_byte_identical_to_nodes_for_generated_bodies() {
    let mut rng = fastrand::Rng::with_seed(0x07e1_e9a7);
    let mut bodies: Vec<String> = (0..3000).map(|_| object(&mut rng, 0)).collect();
    bodies.push(telepay_core::fixtures::SAMPLE_IPN.to_owned());
    // Only bodies JSON itself accepts (the generator may repeat keys: that is allowed).
    bodies.retain(|b| serde_json::from_str::<serde_json::Value>(b).is_ok());
    assert!(bodies.len() > 2900, "the generator must produce valid JSON");

    let expected = node_canonical(&bodies);
    assert_eq!(expected.len(), bodies.len());
    let mut mismatches = 0;
    for (body, node) in bodies.iter().zip(&expected) {
        let ours = canonical_form(body.as_bytes()).expect("valid JSON has a canonical form");
        if &ours != node {
            mismatches += 1;
            if mismatches <= 3 {
                eprintln!("body: {body}\nnode: {node}\nours: {ours}\n");
            }
        }
    }
    assert_eq!(mismatches, 0, "canonical forms differ from Node's");
}

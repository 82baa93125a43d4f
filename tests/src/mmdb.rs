//! A MaxMind DB writer for tests: a GeoIP database of a few networks, written in the
//! format's own terms (the spec at maxmind.github.io/MaxMind-DB), so that a test runs the
//! server's reader on a real file without downloading one. An IPv6 tree with 24-bit
//! records; IPv4 networks sit at `::a.b.c.d`, where readers look for them.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A value of the format's data section.
#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(BTreeMap<String, Value>),
    Array(Vec<Value>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

/// A map value from pairs.
pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A GeoIP2 City record: `{country: {iso_code, names: {en}}, city: {names: {en}}, ...}`;
/// an empty part is left out.
pub fn city_record(iso: &str, country: &str, region: &str, city: &str) -> Value {
    let mut m = BTreeMap::new();
    if !iso.is_empty() || !country.is_empty() {
        let mut c = BTreeMap::new();
        if !iso.is_empty() {
            c.insert("iso_code".to_string(), Value::from(iso));
        }
        if !country.is_empty() {
            c.insert(
                "names".to_string(),
                map([("en", country.into()), ("de", "x".into())]),
            );
        }
        m.insert("country".to_string(), Value::Map(c));
    }
    if !region.is_empty() {
        m.insert(
            "subdivisions".to_string(),
            Value::Array(vec![map([("names", map([("en", region.into())]))])]),
        );
    }
    if !city.is_empty() {
        m.insert(
            "city".to_string(),
            map([
                ("geoname_id", Value::U32(2950159)),
                ("names", map([("en", city.into())])),
            ]),
        );
    }
    Value::Map(m)
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (first, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if kind <= 7 {
        out.push((kind << 5) | first);
    } else {
        out.push(first);
        out.push(kind - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend(s.as_bytes());
        }
        Value::U16(n) => uint(out, 5, u64::from(*n)),
        Value::U32(n) => uint(out, 6, u64::from(*n)),
        Value::U64(n) => uint(out, 9, *n),
        Value::Map(m) => {
            control(out, 7, m.len());
            for (k, v) in m {
                encode(out, &Value::Str(k.clone()));
                encode(out, v);
            }
        }
        Value::Array(a) => {
            control(out, 11, a.len());
            for v in a {
                encode(out, v);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

/// A database of `networks` (an address, its prefix length, its record), as bytes.
/// `database_type` is the metadata's (`GeoLite2-City`, say).
pub fn database(database_type: &str, networks: &[(&str, u8, Value)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Record; 2]> = vec![[Record::Empty; 2]];
    for (addr, prefix, value) in networks {
        let offset = data.len();
        encode(&mut data, value);
        let (bits, len) = match addr.parse::<IpAddr>().expect("a network address") {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 96 + u32::from(*prefix)),
            IpAddr::V6(a) => (u128::from(a), u32::from(*prefix)),
        };
        let mut node = 0;
        for i in 0..len {
            let bit = ((bits >> (127 - i)) & 1) as usize;
            if i + 1 == len {
                nodes[node][bit] = Record::Data(offset);
                break;
            }
            node = match nodes[node][bit] {
                Record::Node(n) => n,
                _ => {
                    nodes.push([Record::Empty; 2]);
                    nodes[node][bit] = Record::Node(nodes.len() - 1);
                    nodes.len() - 1
                }
            };
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for pair in &nodes {
        for r in pair {
            let v = match *r {
                Record::Empty => count,
                Record::Node(n) => n,
                Record::Data(off) => count + 16 + off,
            };
            out.extend(&(v as u32).to_be_bytes()[1..]);
        }
    }
    out.extend([0u8; 16]);
    out.extend(&data);
    out.extend(b"\xAB\xCD\xEFMaxMind.com");
    encode(
        &mut out,
        &map([
            ("node_count", Value::U32(count as u32)),
            ("record_size", Value::U16(24)),
            ("ip_version", Value::U16(6)),
            ("database_type", database_type.into()),
            ("languages", Value::Array(vec!["en".into()])),
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_800_000_000)),
            ("description", map([("en", "nsauth test database".into())])),
        ]),
    );
    out
}

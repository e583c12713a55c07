//! Mongo-style criteria, sort and projection as happn clients send them, with the shared
//! in-memory evaluator every provider may fall back to.
//!
//! Field names are rewritten the way the original providers do before evaluation: a plain
//! field `x` means `data.x`; `path`, `created`, `modified`, `modifiedBy` (bare or under
//! `_meta.`) address the record's metadata; `_data.x` and `data.x` address the data.

use std::cmp::Ordering;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::record::Record;

/// Metadata fields stored at the top level of a record rather than inside `data`.
const META_FIELDS: &[&str] = &[
    "path",
    "created",
    "modified",
    "modifiedBy",
    "createdBy",
    "_id",
    "timestamp",
];

/// Maps a client field name to its name in the stored document (`{path, data, created, …}`).
pub fn stored_field(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("_meta.")
        && META_FIELDS.contains(&rest)
    {
        return if rest == "_id" {
            "path".into()
        } else {
            rest.into()
        };
    }
    if field == "_id" {
        return "path".into();
    }
    if META_FIELDS.contains(&field) || field == "data" || field.starts_with("data.") {
        return field.into();
    }
    if let Some(rest) = field.strip_prefix("_data.") {
        return format!("data.{rest}");
    }
    format!("data.{field}")
}

/// Operators happn-3's default (LokiJS) store accepts that MongoDB does not know. Criteria
/// using any of them are evaluated in process (see [`Criteria::is_mongo_native`]).
pub const EXTENSION_OPERATORS: &[&str] = &[
    "$containsAny",
    "$containsAll",
    "$contains",
    "$containsNone",
    "$containsString",
    "$between",
    "$type",
    "$len",
    "$finite",
    "$keyin",
    "$nkeyin",
    "$definedin",
    "$undefinedin",
    "$aeq",
    "$dteq",
    "$jgt",
    "$jgte",
    "$jlt",
    "$jlte",
];

/// A parsed, validated criteria document, ready to evaluate many times.
#[derive(Debug, Clone)]
pub struct Criteria {
    root: Node,
    stored: Value,
    native: bool,
}

impl Criteria {
    /// Parses client criteria; unknown operators and malformed operands are [`Error::BadInput`].
    pub fn parse(criteria: &Value) -> Result<Self> {
        let root = Node::parse_document(criteria, true, 0)?;
        let stored = rewrite_document(criteria);
        let native = !uses_extension_operators(&stored);
        Ok(Criteria {
            root,
            stored,
            native,
        })
    }

    /// Criteria both `self` and `other` must satisfy (`{$and: [self, other]}`), for a host
    /// that narrows a client's criteria with its own.
    pub fn and(self, other: Criteria) -> Criteria {
        Criteria {
            root: Node::And(vec![self.root, other.root]),
            stored: serde_json::json!({"$and": [self.stored, other.stored]}),
            native: self.native && other.native,
        }
    }

    /// True when MongoDB understands every operator used (none of
    /// [`EXTENSION_OPERATORS`]), so the criteria can be pushed down as they are.
    pub fn is_mongo_native(&self) -> bool {
        self.native
    }

    /// The criteria with field names rewritten to the stored document shape (for pushdown to
    /// a database that stores `{path, data, created, modified, modifiedBy}` documents).
    pub fn stored_form(&self) -> &Value {
        &self.stored
    }

    /// True if the record satisfies the criteria.
    pub fn matches(&self, record: &Record) -> bool {
        self.root.eval(&record.stored_view())
    }

    /// True if a stored-shape document (`{path, data, created, …}`) satisfies the criteria.
    pub fn matches_stored(&self, document: &Value) -> bool {
        self.root.eval(document)
    }
}

/// True if any key of the document is an extension operator.
fn uses_extension_operators(doc: &Value) -> bool {
    find_key(doc, EXTENSION_OPERATORS).is_some()
}

/// The first object key anywhere in `value` (at any depth, inside arrays too) that is one of
/// `keys`. Iterative: the document's depth never sizes the call stack.
pub(crate) fn find_key<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if keys.contains(&key.as_str()) {
                        return Some(key);
                    }
                    pending.push(inner);
                }
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    None
}

fn rewrite_document(doc: &Value) -> Value {
    match doc {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                if key.starts_with('$') {
                    out.insert(key.clone(), rewrite_logical(value));
                } else {
                    out.insert(stored_field(key), value.clone());
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn rewrite_logical(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match item {
                    Value::Object(_) => rewrite_document(item),
                    scalar => scalar.clone(),
                })
                .collect(),
        ),
        Value::Object(_) => rewrite_document(value),
        other => other.clone(),
    }
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
    Field { path: Vec<String>, cond: Cond },
}

#[derive(Debug, Clone)]
enum Cond {
    Equals(Value),
    Ops(Vec<Op>),
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    Ne(Value),
    Cmp(Ordering, bool, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Regex(Regex),
    Not(Box<Cond>),
    ElemMatch(Box<ElemMatch>),
    Size(usize),
    All(Vec<Value>),
    /// `$containsAny` (any), `$contains`/`$containsAll` (all), `$containsNone` (none): a
    /// string field contains the text, an array field the element, an object field the key.
    Contains {
        wanted: Vec<Value>,
        all: bool,
        negate: bool,
    },
    ContainsString(String),
    Between(Value, Value),
    /// JavaScript `typeof` names, plus `array` (`$type`).
    TypeName(String),
    /// String length in UTF-16 units, as JavaScript counts (`$len`).
    Len(Box<Cond>),
    Finite(bool),
    /// The field's value is (`in`) or is not a key of the operand object.
    KeyIn {
        keys: Map<String, Value>,
        negate: bool,
    },
    /// Loose equality (`$aeq`, `$dteq`): numbers, numeric strings and booleans compare as
    /// numbers.
    Loose(Value),
}

#[derive(Debug, Clone)]
enum ElemMatch {
    Document(Node),
    Ops(Vec<Op>),
}

fn is_operator_doc(value: &Value) -> bool {
    matches!(value, Value::Object(map) if !map.is_empty() && map.keys().all(|k| k.starts_with('$')))
}

/// Deepest accepted nesting of `$and`/`$or`/`$nor`/`$not`/`$elemMatch` in one criteria
/// document (every level is one step of recursion while parsing and evaluating).
pub const MAX_CRITERIA_DEPTH: usize = 32;
/// Most `.`-separated parts in one field name (criteria, sort, projection).
pub const MAX_FIELD_PARTS: usize = 64;

fn nested(depth: usize) -> Result<usize> {
    if depth >= MAX_CRITERIA_DEPTH {
        return Err(Error::bad_input(format!(
            "criteria nest deeper than {MAX_CRITERIA_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

/// Refuses field names with more parts than [`MAX_FIELD_PARTS`].
fn check_field(field: &str) -> Result<()> {
    if field.split('.').nth(MAX_FIELD_PARTS).is_some() {
        return Err(Error::bad_input(format!(
            "field name with more than {MAX_FIELD_PARTS} dotted parts"
        )));
    }
    Ok(())
}

impl Node {
    fn parse_document(doc: &Value, rewrite: bool, depth: usize) -> Result<Node> {
        let depth = nested(depth)?;
        let map = doc
            .as_object()
            .ok_or_else(|| Error::bad_input("criteria must be an object"))?;
        let mut nodes = Vec::with_capacity(map.len());
        for (key, value) in map {
            nodes.push(match key.as_str() {
                "$and" | "$or" | "$nor" => {
                    let items = value
                        .as_array()
                        .filter(|items| !items.is_empty())
                        .ok_or_else(|| {
                            Error::bad_input(format!("{key} needs a non-empty array"))
                        })?;
                    let children = items
                        .iter()
                        .map(|item| Node::parse_document(item, rewrite, depth))
                        .collect::<Result<Vec<_>>>()?;
                    match key.as_str() {
                        "$and" => Node::And(children),
                        "$or" => Node::Or(children),
                        _ => Node::Nor(children),
                    }
                }
                op if op.starts_with('$') => {
                    return Err(Error::bad_input(format!(
                        "unknown top-level criteria operator {op}"
                    )));
                }
                field => {
                    check_field(field)?;
                    let name = if rewrite {
                        stored_field(field)
                    } else {
                        field.to_string()
                    };
                    Node::Field {
                        path: name.split('.').map(str::to_string).collect(),
                        cond: Cond::parse(value, depth)?,
                    }
                }
            });
        }
        Ok(if nodes.len() == 1 {
            nodes.remove(0)
        } else {
            Node::And(nodes)
        })
    }

    fn eval(&self, doc: &Value) -> bool {
        match self {
            Node::And(nodes) => nodes.iter().all(|n| n.eval(doc)),
            Node::Or(nodes) => nodes.iter().any(|n| n.eval(doc)),
            Node::Nor(nodes) => !nodes.iter().any(|n| n.eval(doc)),
            Node::Field { path, cond } => {
                let mut leaves = Vec::new();
                resolve(doc, path, &mut leaves);
                cond.eval(&leaves)
            }
        }
    }
}

impl Cond {
    fn parse(value: &Value, depth: usize) -> Result<Cond> {
        let depth = nested(depth)?;
        if !is_operator_doc(value) {
            return Ok(Cond::Equals(value.clone()));
        }
        let Value::Object(map) = value else {
            return Ok(Cond::Equals(value.clone()));
        };
        let options = map.get("$options").and_then(Value::as_str).unwrap_or("");
        let mut ops = Vec::with_capacity(map.len());
        for (op, operand) in map {
            ops.push(match op.as_str() {
                "$eq" => Op::Eq(operand.clone()),
                "$ne" => Op::Ne(operand.clone()),
                "$gt" => Op::Cmp(Ordering::Greater, false, operand.clone()),
                "$gte" => Op::Cmp(Ordering::Greater, true, operand.clone()),
                "$lt" => Op::Cmp(Ordering::Less, false, operand.clone()),
                "$lte" => Op::Cmp(Ordering::Less, true, operand.clone()),
                "$in" => Op::In(array_operand(op, operand)?),
                "$nin" => Op::Nin(array_operand(op, operand)?),
                "$all" => Op::All(array_operand(op, operand)?),
                "$exists" => Op::Exists(truthy(operand)),
                "$size" => Op::Size(
                    operand
                        .as_u64()
                        .ok_or_else(|| Error::bad_input("$size needs a non-negative integer"))?
                        as usize,
                ),
                "$regex" => Op::Regex(parse_regex(operand, options)?),
                "$containsAny" | "$containsAll" | "$contains" | "$containsNone" => Op::Contains {
                    wanted: match operand {
                        Value::Array(items) => items.clone(),
                        one => vec![one.clone()],
                    },
                    all: matches!(op.as_str(), "$containsAll" | "$contains"),
                    negate: op == "$containsNone",
                },
                "$containsString" => Op::ContainsString(
                    operand
                        .as_str()
                        .ok_or_else(|| Error::bad_input("$containsString needs a string"))?
                        .to_string(),
                ),
                "$between" => match operand.as_array().map(Vec::as_slice) {
                    Some([low, high]) => Op::Between(low.clone(), high.clone()),
                    _ => return Err(Error::bad_input("$between needs [low, high]")),
                },
                "$type" => Op::TypeName(
                    operand
                        .as_str()
                        .ok_or_else(|| Error::bad_input("$type needs a type name string"))?
                        .to_string(),
                ),
                "$len" => Op::Len(Box::new(match operand {
                    Value::Number(_) => Cond::Equals(operand.clone()),
                    _ if is_operator_doc(operand) => Cond::parse(operand, depth)?,
                    _ => {
                        return Err(Error::bad_input(
                            "$len needs a number or an operator object",
                        ));
                    }
                })),
                "$finite" => Op::Finite(truthy(operand)),
                "$keyin" | "$nkeyin" | "$definedin" | "$undefinedin" => Op::KeyIn {
                    keys: operand
                        .as_object()
                        .cloned()
                        .ok_or_else(|| Error::bad_input(format!("{op} needs an object")))?,
                    negate: matches!(op.as_str(), "$nkeyin" | "$undefinedin"),
                },
                "$aeq" | "$dteq" => Op::Loose(operand.clone()),
                "$jgt" => Op::Cmp(Ordering::Greater, false, operand.clone()),
                "$jgte" => Op::Cmp(Ordering::Greater, true, operand.clone()),
                "$jlt" => Op::Cmp(Ordering::Less, false, operand.clone()),
                "$jlte" => Op::Cmp(Ordering::Less, true, operand.clone()),
                "$options" => continue,
                "$not" => Op::Not(Box::new(match operand {
                    Value::String(_) | Value::Array(_) => {
                        Cond::Ops(vec![Op::Regex(parse_regex(operand, "")?)])
                    }
                    _ if is_operator_doc(operand) => Cond::parse(operand, depth)?,
                    _ => return Err(Error::bad_input("$not needs an operator object or a regex")),
                })),
                "$elemMatch" => Op::ElemMatch(Box::new(if is_operator_doc(operand) {
                    match Cond::parse(operand, depth)? {
                        Cond::Ops(ops) => ElemMatch::Ops(ops),
                        Cond::Equals(v) => ElemMatch::Ops(vec![Op::Eq(v)]),
                    }
                } else {
                    ElemMatch::Document(Node::parse_document(operand, false, depth)?)
                })),
                other => {
                    return Err(Error::bad_input(format!(
                        "unknown criteria operator {other}"
                    )));
                }
            });
        }
        Ok(Cond::Ops(ops))
    }

    fn eval(&self, leaves: &[&Value]) -> bool {
        match self {
            Cond::Equals(expected) => equals(leaves, expected),
            Cond::Ops(ops) => ops.iter().all(|op| op.eval(leaves)),
        }
    }
}

impl Op {
    fn eval(&self, leaves: &[&Value]) -> bool {
        match self {
            Op::Eq(expected) => equals(leaves, expected),
            Op::Ne(expected) => !equals(leaves, expected),
            Op::Cmp(want, or_equal, operand) => {
                any_value(leaves, |v| match compare_same_type(v, operand) {
                    Some(Ordering::Equal) => *or_equal,
                    Some(ord) => ord == *want,
                    None => false,
                })
            }
            Op::In(options) => in_set(leaves, options),
            Op::Nin(options) => !in_set(leaves, options),
            Op::Exists(want) => leaves.is_empty() != *want,
            Op::Regex(re) => any_value(leaves, |v| v.as_str().is_some_and(|s| re.is_match(s))),
            Op::Not(cond) => !cond.eval(leaves),
            Op::Size(n) => leaves
                .iter()
                .any(|v| v.as_array().is_some_and(|a| a.len() == *n)),
            Op::All(wanted) => leaves.iter().any(|v| {
                v.as_array()
                    .is_some_and(|items| wanted.iter().all(|w| items.iter().any(|i| json_eq(i, w))))
            }),
            Op::Contains {
                wanted,
                all,
                negate,
            } => {
                let holds = leaves.iter().any(|field| {
                    let has = |w: &Value| contains(field, w);
                    if *all {
                        wanted.iter().all(has)
                    } else {
                        wanted.iter().any(has)
                    }
                });
                holds != *negate
            }
            Op::ContainsString(text) => leaves
                .iter()
                .any(|v| v.as_str().is_some_and(|s| s.contains(text.as_str()))),
            Op::Between(low, high) => any_value(leaves, |v| {
                compare_same_type(v, low).is_some_and(|o| o != Ordering::Less)
                    && compare_same_type(v, high).is_some_and(|o| o != Ordering::Greater)
            }),
            Op::TypeName(name) => {
                if leaves.is_empty() {
                    return name == "undefined";
                }
                leaves.iter().any(|v| js_type(v) == name)
            }
            Op::Len(cond) => leaves.iter().any(|v| {
                v.as_str().is_some_and(|s| {
                    let length = Value::from(s.encode_utf16().count());
                    cond.eval(&[&length])
                })
            }),
            Op::Finite(want) => leaves
                .iter()
                .any(|v| as_loose_number(v).is_some_and(f64::is_finite) == *want),
            Op::KeyIn { keys, negate } => {
                let found = leaves.iter().any(|v| match v {
                    Value::String(key) => keys.contains_key(key),
                    Value::Number(n) => keys.contains_key(&n.to_string()),
                    _ => false,
                });
                found != *negate
            }
            Op::Loose(expected) => leaves.iter().any(|v| loose_eq(v, expected)),
            Op::ElemMatch(spec) => leaves.iter().any(|v| {
                v.as_array().is_some_and(|items| {
                    items.iter().any(|item| match spec.as_ref() {
                        ElemMatch::Document(node) => node.eval(item),
                        ElemMatch::Ops(ops) => ops.iter().all(|op| op.eval(&[item])),
                    })
                })
            }),
        }
    }
}

/// LokiJS's contains check: a string contains the text, an array the element, an object
/// the key.
fn contains(field: &Value, wanted: &Value) -> bool {
    match field {
        Value::String(text) => wanted.as_str().is_some_and(|w| text.contains(w)),
        Value::Array(items) => items.iter().any(|item| json_eq(item, wanted)),
        Value::Object(map) => wanted.as_str().is_some_and(|key| map.contains_key(key)),
        _ => false,
    }
}

/// The JavaScript `typeof` of a JSON value, with `array` for arrays (as LokiJS's `$type`).
fn js_type(value: &Value) -> &'static str {
    match value {
        Value::Null | Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

/// A value as JavaScript's `Number()` would read it (numbers, numeric strings, booleans,
/// null); None for the rest.
fn as_loose_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.trim().is_empty() => Some(0.0),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Null => Some(0.0),
        _ => None,
    }
}

/// JavaScript's `==` for JSON values: same-type values compare as JSON; numbers, numeric
/// strings and booleans compare as numbers; `null` equals only `null`.
fn loose_eq(a: &Value, b: &Value) -> bool {
    if json_eq(a, b) {
        return true;
    }
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        _ => matches!((as_loose_number(a), as_loose_number(b)), (Some(x), Some(y)) if x == y),
    }
}

/// Equality as MongoDB defines it: a leaf (or array element) equals the operand, and a
/// missing field equals `null`.
fn equals(leaves: &[&Value], expected: &Value) -> bool {
    any_value(leaves, |v| json_eq(v, expected)) || (leaves.is_empty() && expected.is_null())
}

/// `$in`: a leaf (or array element) equals an option; a missing field matches `null`.
fn in_set(leaves: &[&Value], options: &[Value]) -> bool {
    any_value(leaves, |v| options.iter().any(|o| json_eq(v, o)))
        || (leaves.is_empty() && options.iter().any(Value::is_null))
}

/// True if `pred` holds for a leaf or, where a leaf is an array, for one of its elements.
fn any_value(leaves: &[&Value], pred: impl Fn(&Value) -> bool) -> bool {
    leaves
        .iter()
        .any(|leaf| pred(leaf) || leaf.as_array().is_some_and(|items| items.iter().any(&pred)))
}

fn array_operand(op: &str, operand: &Value) -> Result<Vec<Value>> {
    operand
        .as_array()
        .cloned()
        .ok_or_else(|| Error::bad_input(format!("{op} needs an array")))
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Parses `$regex` as a string or as `[pattern, flags]`; JavaScript flags `i m s x` apply,
/// `g`/`u`/`y` are accepted and ignored.
fn parse_regex(operand: &Value, options: &str) -> Result<Regex> {
    let (pattern, flags) = match operand {
        Value::String(pattern) => (pattern.as_str(), options),
        Value::Array(items) => {
            let pattern = items
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| Error::bad_input("$regex array must start with a pattern string"))?;
            let flags = items.get(1).and_then(Value::as_str).unwrap_or(options);
            (pattern, flags)
        }
        _ => {
            return Err(Error::System(
                "$regex parameter value must be an Array or a string".into(),
            ));
        }
    };
    let mut inline = String::new();
    for flag in flags.chars() {
        match flag {
            'i' | 'm' | 's' | 'x' => inline.push(flag),
            'g' | 'u' | 'y' => {}
            other => return Err(Error::bad_input(format!("unsupported regex flag {other}"))),
        }
    }
    if pattern.len() > MAX_REGEX_BYTES {
        return Err(Error::bad_input(format!(
            "$regex of {} bytes is longer than the limit of {MAX_REGEX_BYTES}",
            pattern.len()
        )));
    }
    let full = if inline.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{inline}){pattern}")
    };
    compiled_regex(&full).map_err(|e| Error::bad_input(format!("invalid $regex {pattern:?}: {e}")))
}

/// Longest accepted `$regex` pattern.
pub const MAX_REGEX_BYTES: usize = 4096;
/// Compiled size limit of one `$regex`: patterns whose automaton would be larger (nested
/// counted repetitions like `(\w{1,100}){1,100}`) are refused fast instead of compiled slowly.
pub const MAX_REGEX_COMPILED_BYTES: usize = 256 * 1024;
/// Compiled patterns (and refusals) remembered, so a repeated pattern costs a lookup.
const REGEX_CACHE_ENTRIES: usize = 512;

type RegexCache = std::collections::HashMap<String, std::result::Result<Regex, String>>;

static REGEX_CACHE: std::sync::LazyLock<std::sync::Mutex<RegexCache>> =
    std::sync::LazyLock::new(Default::default);

/// Compiles `pattern` under the size limits, through a small shared cache.
fn compiled_regex(pattern: &str) -> std::result::Result<Regex, String> {
    let cache = || REGEX_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(known) = cache().get(pattern) {
        return known.clone();
    }
    let compiled = regex::RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_COMPILED_BYTES)
        .dfa_size_limit(MAX_REGEX_COMPILED_BYTES)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => format!(
                "the pattern is too complex (its compiled form exceeds {MAX_REGEX_COMPILED_BYTES} bytes)"
            ),
            other => other.to_string(),
        });
    let mut cache = cache();
    if cache.len() >= REGEX_CACHE_ENTRIES
        && let Some(evict) = cache.keys().next().cloned()
    {
        cache.remove(&evict);
    }
    cache.insert(pattern.to_string(), compiled.clone());
    compiled
}

/// Collects the values a dotted path reaches, descending through arrays as MongoDB does.
fn resolve<'a>(value: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    let Some((head, rest)) = path.split_first() else {
        out.push(value);
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(child) = map.get(head) {
                resolve(child, rest, out);
            }
        }
        Value::Array(items) => {
            if let Ok(index) = head.parse::<usize>()
                && let Some(child) = items.get(index)
            {
                resolve(child, rest, out);
                return;
            }
            for item in items {
                if item.is_object() {
                    resolve(item, path, out);
                }
            }
        }
        _ => {}
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| json_eq(v, other)))
        }
        _ => a == b,
    }
}

fn compare_same_type(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn type_rank(value: Option<&Value>) -> u8 {
    match value {
        None | Some(Value::Null) => 0,
        Some(Value::Number(_)) => 1,
        Some(Value::String(_)) => 2,
        Some(Value::Object(_)) => 3,
        Some(Value::Array(_)) => 4,
        Some(Value::Bool(_)) => 5,
    }
}

/// Total order used for sorting: MongoDB's type order (missing/null < numbers < strings <
/// objects < arrays < booleans), then by value within a type.
pub fn sort_compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let (ra, rb) = (type_rank(a), type_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Some(x), Some(y)) => {
            compare_same_type(x, y).unwrap_or_else(|| x.to_string().cmp(&y.to_string()))
        }
        _ => Ordering::Equal,
    }
}

/// One sort key: a stored field name and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// Field in the stored document shape (`data.x`, `modified`, `path`…).
    pub field: String,
    /// True for descending order.
    pub descending: bool,
}

/// Parses a client sort document (`{"_meta.modified": -1, "name": 1}`) in key order.
pub fn parse_sort(sort: &Value) -> Result<Vec<SortKey>> {
    let map = sort
        .as_object()
        .ok_or_else(|| Error::bad_input("sort must be an object"))?;
    map.iter()
        .map(|(field, direction)| {
            check_field(field)?;
            let descending = match direction {
                Value::Number(n) if n.as_f64() == Some(1.0) => false,
                Value::Number(n) if n.as_f64() == Some(-1.0) => true,
                Value::String(s) if s == "asc" || s == "ascending" => false,
                Value::String(s) if s == "desc" || s == "descending" => true,
                _ => {
                    return Err(Error::bad_input(format!(
                        "sort direction for {field} must be 1 or -1"
                    )));
                }
            };
            Ok(SortKey {
                field: stored_field(field),
                descending,
            })
        })
        .collect()
}

/// Sorts records by the given keys (stable, so ties keep their incoming order).
pub fn sort_records(records: &mut [Record], keys: &[SortKey]) {
    if keys.is_empty() {
        return;
    }
    let split: Vec<Vec<&str>> = keys.iter().map(|k| k.field.split('.').collect()).collect();
    records.sort_by(|a, b| {
        for (key, parts) in keys.iter().zip(&split) {
            let ord = sort_compare(field_of(a, parts).as_ref(), field_of(b, parts).as_ref());
            let ord = if key.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

fn field_of(record: &Record, parts: &[&str]) -> Option<Value> {
    match parts {
        ["path"] => Some(record.path.clone().into()),
        ["created"] => Some(record.created.into()),
        ["modified"] => Some(record.modified.into()),
        ["modifiedBy"] => record.modified_by.clone().map(Value::from),
        ["data", rest @ ..] => {
            let mut current = record.data.get(*rest.first()?)?;
            for part in &rest[1..] {
                current = current.get(part)?;
            }
            Some(current.clone())
        }
        _ => None,
    }
}

/// A field projection (`fields` option): which data fields to return. `_meta` is always kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Data field paths (dotted, relative to the data) the projection names.
    pub fields: Vec<String>,
    /// True to return only the named fields, false to return everything but them.
    pub include: bool,
}

impl Projection {
    /// Parses `{name: 1, "_meta": 1}` (inclusion) or `{secret: 0}` (exclusion).
    pub fn parse(fields: &Value) -> Result<Self> {
        let map = fields
            .as_object()
            .ok_or_else(|| Error::bad_input("fields must be an object"))?;
        let mut names = Vec::new();
        let mut include = None;
        for (field, flag) in map {
            if field == "_meta" || field.starts_with("_meta.") {
                continue;
            }
            check_field(field)?;
            let stored = stored_field(field);
            let Some(data_field) = stored.strip_prefix("data.") else {
                continue;
            };
            let on = truthy(flag);
            if include.is_some_and(|inc| inc != on) {
                return Err(Error::bad_input(
                    "fields cannot mix inclusion and exclusion",
                ));
            }
            include = Some(on);
            names.push(data_field.to_string());
        }
        Ok(Projection {
            fields: names,
            include: include.unwrap_or(true),
        })
    }

    /// Applies the projection to record data.
    pub fn apply(&self, data: &Map<String, Value>) -> Map<String, Value> {
        if self.include {
            let mut out = Map::new();
            for field in &self.fields {
                let parts: Vec<&str> = field.split('.').collect();
                if let Some(value) = get_dotted(data, &parts) {
                    set_dotted(&mut out, &parts, value.clone());
                }
            }
            out
        } else {
            let mut out = data.clone();
            for field in &self.fields {
                let parts: Vec<&str> = field.split('.').collect();
                remove_dotted(&mut out, &parts);
            }
            out
        }
    }
}

fn get_dotted<'a>(data: &'a Map<String, Value>, parts: &[&str]) -> Option<&'a Value> {
    let (first, rest) = parts.split_first()?;
    let mut current = data.get(*first)?;
    for part in rest {
        current = current.get(part)?;
    }
    Some(current)
}

fn set_dotted(data: &mut Map<String, Value>, parts: &[&str], value: Value) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    if rest.is_empty() {
        data.insert((*first).to_string(), value);
        return;
    }
    let entry = data
        .entry((*first).to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(child) = entry {
        set_dotted(child, rest, value);
    }
}

fn remove_dotted(data: &mut Map<String, Value>, parts: &[&str]) {
    match parts {
        [] => {}
        [last] => {
            data.remove(*last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Object(child)) = data.get_mut(*first) {
                remove_dotted(child, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(path: &str, data: Value, created: i64) -> Record {
        Record {
            path: path.into(),
            data: crate::record::wrap_data(data),
            created,
            modified: created + 1,
            modified_by: None,
        }
    }

    fn check(criteria: Value, data: Value) -> bool {
        Criteria::parse(&criteria)
            .unwrap()
            .matches(&record("/a/b", data, 100))
    }

    #[test]
    fn field_names_are_rewritten_like_the_original() {
        assert_eq!(stored_field("name"), "data.name");
        assert_eq!(stored_field("a.b"), "data.a.b");
        assert_eq!(stored_field("_meta.created"), "created");
        assert_eq!(stored_field("_meta.path"), "path");
        assert_eq!(stored_field("modified"), "modified");
        assert_eq!(stored_field("_data.x"), "data.x");
        assert_eq!(stored_field("data.x"), "data.x");
    }

    #[test]
    fn every_operator() {
        let doc = json!({"n": 5, "s": "Hello", "tags": ["a", "b"], "nested": {"x": {"y": 2}},
                         "items": [{"k": 1}, {"k": 7}], "nil": null});
        let t = |c: Value| check(c, doc.clone());
        assert!(t(json!({"n": 5})));
        assert!(t(json!({"n": 5.0})));
        assert!(t(json!({"n": {"$eq": 5}})));
        assert!(t(json!({"n": {"$ne": 4}})));
        assert!(!t(json!({"n": {"$ne": 5}})));
        assert!(t(json!({"n": {"$gt": 4, "$lt": 6}})));
        assert!(t(json!({"n": {"$gte": 5, "$lte": 5}})));
        assert!(!t(json!({"n": {"$gt": 5}})));
        assert!(!t(json!({"n": {"$gt": "4"}})), "no cross-type comparison");
        assert!(t(json!({"n": {"$in": [1, 5]}})));
        assert!(t(json!({"n": {"$nin": [1, 2]}})));
        assert!(!t(json!({"n": {"$nin": [5]}})));
        assert!(t(json!({"tags": "a"})), "array contains");
        assert!(t(json!({"tags": {"$in": ["z", "b"]}})));
        assert!(t(json!({"tags": {"$all": ["b", "a"]}})));
        assert!(t(json!({"tags": {"$size": 2}})));
        assert!(t(json!({"n": {"$exists": true}})));
        assert!(t(json!({"missing": {"$exists": false}})));
        assert!(t(json!({"nil": {"$exists": true}})));
        assert!(t(json!({"missing": null})), "a missing field equals null");
        assert!(t(json!({"missing": {"$eq": null}})));
        assert!(!t(json!({"missing": {"$ne": null}})));
        assert!(t(json!({"n": {"$ne": null}})));
        assert!(t(json!({"s": {"$regex": "^hel", "$options": "i"}})));
        assert!(t(json!({"s": {"$regex": ["^hel", "i"]}})));
        assert!(!t(json!({"s": {"$regex": "^hel"}})));
        assert!(t(json!({"n": {"$not": {"$gt": 6}}})));
        assert!(t(json!({"s": {"$not": "^x"}})));
        assert!(t(json!({"nested.x.y": 2})));
        assert!(t(json!({"items.k": 7})), "descends arrays of objects");
        assert!(t(json!({"items": {"$elemMatch": {"k": {"$gt": 5}}}})));
        assert!(t(json!({"$or": [{"n": 1}, {"s": "Hello"}]})));
        assert!(!t(json!({"$and": [{"n": 5}, {"s": "nope"}]})));
        assert!(t(json!({"$nor": [{"n": 1}]})));
        assert!(t(json!({"_meta.created": {"$gte": 100}})));
        assert!(t(json!({"_meta.modified": 101})));
        assert!(t(json!({"_meta.path": {"$regex": "^/a/"}})));
        assert!(t(json!({"path": "/a/b"})));
    }

    #[test]
    fn bad_criteria_are_bad_input() {
        for bad in [
            json!({"n": {"$near": 1}}),
            json!({"$where": "1"}),
            json!({"n": {"$in": 5}}),
            json!({"s": {"$regex": "("}}),
            json!({"$or": []}),
            json!([1]),
        ] {
            assert!(
                matches!(Criteria::parse(&bad), Err(Error::BadInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn happn3_loki_operators() {
        let doc = json!({"tags": ["a", "b"], "s": "hello world", "o": {"k": 1}, "n": 5,
                         "ns": "5", "f": 1.5});
        let t = |c: Value| check(c, doc.clone());
        assert!(t(json!({"tags": {"$containsAny": ["z", "b"]}})));
        assert!(!t(json!({"tags": {"$containsAny": ["z"]}})));
        assert!(t(json!({"tags": {"$containsAll": ["a", "b"]}})));
        assert!(t(json!({"tags": {"$contains": "a"}})));
        assert!(!t(json!({"tags": {"$containsAll": ["a", "z"]}})));
        assert!(t(json!({"tags": {"$containsNone": ["y", "z"]}})));
        assert!(!t(json!({"tags": {"$containsNone": ["a"]}})));
        assert!(
            t(json!({"s": {"$containsAny": ["xyz", "world"]}})),
            "substring"
        );
        assert!(t(json!({"o": {"$containsAny": "k"}})), "object key");
        assert!(t(json!({"s": {"$containsString": "lo w"}})));
        assert!(t(json!({"n": {"$between": [1, 5]}})));
        assert!(!t(json!({"n": {"$between": [6, 9]}})));
        assert!(t(json!({"tags": {"$type": "array"}})));
        assert!(t(json!({"o": {"$type": "object"}})));
        assert!(t(json!({"missing": {"$type": "undefined"}})));
        assert!(t(json!({"s": {"$len": 11}})));
        assert!(t(json!({"s": {"$len": {"$gt": 3}}})));
        assert!(t(json!({"f": {"$finite": true}})));
        assert!(t(json!({"s": {"$finite": false}})));
        assert!(t(json!({"ns": {"$keyin": {"5": 1}}})));
        assert!(t(json!({"ns": {"$nkeyin": {"6": 1}}})));
        assert!(t(json!({"ns": {"$aeq": 5}})), "5 == '5'");
        assert!(!t(json!({"ns": {"$eq": 5}})));
        assert!(t(json!({"n": {"$jgt": 4, "$jlte": 5}})));
        let c = Criteria::parse(&json!({"tags": {"$containsAny": ["a"]}})).unwrap();
        assert!(!c.is_mongo_native());
        assert!(
            Criteria::parse(&json!({"n": {"$in": [1]}}))
                .unwrap()
                .is_mongo_native()
        );
        assert!(Criteria::parse(&json!({"n": {"$between": 1}})).is_err());
    }

    #[test]
    fn nesting_and_field_depth_are_bounded() {
        let mut deep = json!({"n": 1});
        for _ in 0..MAX_CRITERIA_DEPTH {
            deep = json!({"$and": [deep]});
        }
        assert!(matches!(Criteria::parse(&deep), Err(Error::BadInput(m)) if m.contains("deeper")));
        let mut not = json!({"$gt": 1});
        for _ in 0..MAX_CRITERIA_DEPTH {
            not = json!({"$not": not});
        }
        assert!(Criteria::parse(&json!({"n": not})).is_err());
        let long = "a.".repeat(MAX_FIELD_PARTS) + "b";
        assert!(Criteria::parse(&json!({long.clone(): 1})).is_err());
        assert!(parse_sort(&json!({long.clone(): 1})).is_err());
        assert!(Projection::parse(&json!({long: 1})).is_err());
        let mut shallow = json!({"n": 1});
        for _ in 0..8 {
            shallow = json!({"$or": [shallow]});
        }
        assert!(Criteria::parse(&shallow).is_ok());
    }

    #[test]
    fn regexes_are_bounded_and_cached() {
        let bomb = json!({"s": {"$regex": "(\\w{1,100}){1,100}"}});
        let err = Criteria::parse(&bomb).unwrap_err();
        assert!(err.to_string().contains("too complex"), "{err}");
        // Refusals are cached too: the second costs a lookup.
        assert!(Criteria::parse(&bomb).is_err());
        let long = "a".repeat(MAX_REGEX_BYTES + 1);
        assert!(Criteria::parse(&json!({"s": {"$regex": long}})).is_err());
        assert!(check(
            json!({"s": {"$regex": "^He"}}),
            json!({"s": "Hello"})
        ));
    }

    #[test]
    fn stored_form_rewrites_nested_logical_operators() {
        let c =
            Criteria::parse(&json!({"$or": [{"a": 1}, {"_meta.modified": {"$gt": 2}}]})).unwrap();
        assert_eq!(
            c.stored_form(),
            &json!({"$or": [{"data.a": 1}, {"modified": {"$gt": 2}}]})
        );
    }

    #[test]
    fn sort_and_projection() {
        let mut records = vec![
            record("/1", json!({"n": 2, "s": "b"}), 3),
            record("/2", json!({"n": 1, "s": "c"}), 1),
            record("/3", json!({"s": "a"}), 2),
        ];
        sort_records(&mut records, &parse_sort(&json!({"n": -1})).unwrap());
        let paths: Vec<_> = records.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/1", "/2", "/3"]);
        sort_records(
            &mut records,
            &parse_sort(&json!({"_meta.created": 1})).unwrap(),
        );
        let paths: Vec<_> = records.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/2", "/3", "/1"]);

        let p = Projection::parse(&json!({"n": 1, "_meta": 1})).unwrap();
        assert_eq!(Value::Object(p.apply(&records[2].data)), json!({"n": 2}));
        let p = Projection::parse(&json!({"s": 0})).unwrap();
        assert_eq!(Value::Object(p.apply(&records[2].data)), json!({"n": 2}));
        assert!(Projection::parse(&json!({"a": 1, "b": 0})).is_err());
    }
}

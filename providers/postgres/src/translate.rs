//! Criteria → SQL over the `(path, data JSONB, created, modified, modified_by)` table.
//!
//! Translation is conservative: a fragment is either *exact* (the SQL selects exactly what
//! the SDK evaluator would) or a *superset* (the SQL narrows, the evaluator decides). Anything
//! not understood becomes `TRUE` (superset), so results are always correct.

use serde_json::Value;

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// JSON (bound as JSONB).
    Json(Value),
    /// A decimal number as text (cast to numeric in SQL).
    Numeric(String),
}

/// A translated condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    /// SQL boolean expression.
    pub sql: String,
    /// True if the SQL selects exactly the matching records.
    pub exact: bool,
}

impl Fragment {
    fn superset() -> Self {
        Fragment {
            sql: "TRUE".into(),
            exact: false,
        }
    }
}

/// Collects parameters and numbers their placeholders.
#[derive(Debug, Default)]
pub struct Params {
    /// Parameters in placeholder order.
    pub values: Vec<Param>,
}

impl Params {
    /// Adds a parameter and returns its placeholder (`$n`).
    pub fn push(&mut self, param: Param) -> String {
        self.values.push(param);
        format!("${}", self.values.len())
    }

    /// Forgets parameters pushed after `len` (their fragment was replaced by `TRUE`).
    fn rollback(&mut self, len: usize) {
        self.values.truncate(len);
    }
}

const META_COLUMNS: &[(&str, &str)] = &[
    ("path", "path"),
    ("created", "created"),
    ("modified", "modified"),
    ("modifiedBy", "modified_by"),
];

fn is_operator_doc(value: &Value) -> bool {
    matches!(value, Value::Object(m) if !m.is_empty() && m.keys().all(|k| k.starts_with('$')))
}

/// Translates a criteria document in stored form (see `Criteria::stored_form`).
pub fn translate(doc: &Value, params: &mut Params) -> Fragment {
    let Value::Object(map) = doc else {
        return Fragment::superset();
    };
    let mut parts = Vec::new();
    let mut exact = true;
    for (key, value) in map {
        let mark = params.values.len();
        let fragment = match key.as_str() {
            "$and" | "$or" => {
                let Some(items) = value.as_array() else {
                    return Fragment::superset();
                };
                let children: Vec<Fragment> = items.iter().map(|i| translate(i, params)).collect();
                let all_exact = children.iter().all(|c| c.exact);
                if key == "$or" && !all_exact {
                    // A superset child inside OR makes the whole OR a superset: TRUE.
                    Fragment::superset()
                } else {
                    let joiner = if key == "$and" { " AND " } else { " OR " };
                    Fragment {
                        sql: format!(
                            "({})",
                            children
                                .iter()
                                .map(|c| c.sql.as_str())
                                .collect::<Vec<_>>()
                                .join(joiner)
                        ),
                        exact: all_exact,
                    }
                }
            }
            op if op.starts_with('$') => Fragment::superset(),
            field => translate_field(field, value, params),
        };
        if fragment.sql == "TRUE" {
            params.rollback(mark);
        }
        exact &= fragment.exact;
        parts.push(fragment.sql);
    }
    Fragment {
        sql: if parts.is_empty() {
            "TRUE".into()
        } else {
            format!("({})", parts.join(" AND "))
        },
        exact,
    }
}

fn translate_field(field: &str, condition: &Value, params: &mut Params) -> Fragment {
    if let Some((_, column)) = META_COLUMNS.iter().find(|(name, _)| *name == field) {
        return translate_column(
            column,
            field == "modifiedBy" || field == "path",
            condition,
            params,
        );
    }
    let Some(key) = field.strip_prefix("data.") else {
        return Fragment::superset();
    };
    if key.contains('.') || key.is_empty() {
        // Nested paths may cross arrays of objects (MongoDB semantics): evaluate in memory.
        return Fragment::superset();
    }
    translate_data_key(key, condition, params)
}

fn translate_column(column: &str, text: bool, condition: &Value, params: &mut Params) -> Fragment {
    let scalar = |value: &Value, params: &mut Params| -> Option<String> {
        match (text, value) {
            (true, Value::String(s)) => Some(params.push(Param::Text(s.clone()))),
            (false, Value::Number(n)) => n.as_i64().map(|i| params.push(Param::Int(i))),
            _ => None,
        }
    };
    if !is_operator_doc(condition) {
        return match scalar(condition, params) {
            Some(p) => Fragment {
                sql: format!("{column} = {p}"),
                exact: true,
            },
            None => Fragment::superset(),
        };
    }
    let Value::Object(ops) = condition else {
        return Fragment::superset();
    };
    let mut parts = Vec::new();
    for (op, operand) in ops {
        let sql_op = match op.as_str() {
            "$eq" => "=",
            "$ne" => "<>",
            "$gt" => ">",
            "$gte" => ">=",
            "$lt" => "<",
            "$lte" => "<=",
            // PostgreSQL's regex dialect differs from the evaluator's (`\b`, named groups…):
            // never push regexes down.
            "$regex" => return Fragment::superset(),
            "$options" => continue,
            _ => return Fragment::superset(),
        };
        match scalar(operand, params) {
            Some(p) if !(op == "$ne" && column == "modified_by") => {
                // Text compares byte-wise, as the evaluator does, whatever the database
                // collation.
                let collate = if text { " COLLATE \"C\"" } else { "" };
                parts.push(format!("{column}{collate} {sql_op} {p}{collate}"));
            }
            _ => return Fragment::superset(),
        }
    }
    Fragment {
        sql: if parts.is_empty() {
            "TRUE".into()
        } else {
            format!("({})", parts.join(" AND "))
        },
        exact: true,
    }
}

fn translate_data_key(key: &str, condition: &Value, params: &mut Params) -> Fragment {
    let k = params.push(Param::Text(key.to_string()));
    let leaf = format!("(data -> {k})");
    // Equality with a scalar: the value itself, or an array containing it.
    let equals = |value: &Value, params: &mut Params| -> Option<String> {
        match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                let v = params.push(Param::Json(value.clone()));
                let wrapped = params.push(Param::Json(Value::Array(vec![value.clone()])));
                Some(format!(
                    "({leaf} = {v}::jsonb OR (jsonb_typeof({leaf}) = 'array' AND {leaf} @> {wrapped}::jsonb))"
                ))
            }
            _ => None,
        }
    };
    if !is_operator_doc(condition) {
        return match equals(condition, params) {
            Some(sql) => Fragment { sql, exact: true },
            None => Fragment::superset(),
        };
    }
    let Value::Object(ops) = condition else {
        return Fragment::superset();
    };
    let mut parts = Vec::new();
    let mut exact = true;
    for (op, operand) in ops {
        match op.as_str() {
            "$eq" => match equals(operand, params) {
                Some(sql) => parts.push(sql),
                None => return Fragment::superset(),
            },
            "$in" => {
                let Some(items) = operand.as_array() else {
                    return Fragment::superset();
                };
                let mut alternatives = Vec::new();
                for item in items {
                    match equals(item, params) {
                        Some(sql) => alternatives.push(sql),
                        None => return Fragment::superset(),
                    }
                }
                parts.push(if alternatives.is_empty() {
                    "FALSE".into()
                } else {
                    format!("({})", alternatives.join(" OR "))
                });
            }
            "$exists" => {
                // The evaluator's truthiness: false, null, 0 and "" mean "must not exist".
                let want = match operand {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                    Value::String(s) => !s.is_empty(),
                    _ => true,
                };
                parts.push(if want {
                    format!("(data ? {k})")
                } else {
                    format!("(NOT (data ? {k}))")
                });
            }
            "$gt" | "$gte" | "$lt" | "$lte" => {
                let sql_op = match op.as_str() {
                    "$gt" => ">",
                    "$gte" => ">=",
                    "$lt" => "<",
                    _ => "<=",
                };
                match operand {
                    Value::Number(n) => {
                        let p = params.push(Param::Numeric(n.to_string()));
                        // Arrays may hold a matching element: keep them for the evaluator.
                        parts.push(format!(
                            "(jsonb_typeof({leaf}) = 'array' OR (jsonb_typeof({leaf}) = 'number' AND ({leaf} #>> '{{}}')::numeric {sql_op} {p}::numeric))"
                        ));
                        exact = false;
                    }
                    Value::String(s) => {
                        let p = params.push(Param::Text(s.clone()));
                        parts.push(format!(
                            "(jsonb_typeof({leaf}) = 'array' OR (jsonb_typeof({leaf}) = 'string' AND ({leaf} #>> '{{}}') COLLATE \"C\" {sql_op} {p} COLLATE \"C\"))"
                        ));
                        exact = false;
                    }
                    _ => return Fragment::superset(),
                }
            }
            _ => return Fragment::superset(),
        }
    }
    Fragment {
        sql: format!("({})", parts.join(" AND ")),
        exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_and_superset_translations() {
        let mut params = Params::default();
        let f = translate(
            &json!({"data.name": "bob", "modified": {"$gt": 5}}),
            &mut params,
        );
        assert!(f.exact, "{f:?}");
        assert_eq!(params.values.len(), 4);
        let mut params = Params::default();
        let f = translate(&json!({"data.a.b": 1}), &mut params);
        assert!(!f.exact);
        let mut params = Params::default();
        let f = translate(
            &json!({"$or": [{"data.a": 1}, {"data.b.c": 2}]}),
            &mut params,
        );
        assert_eq!(f.sql, "(TRUE)");
        let mut params = Params::default();
        let f = translate(&json!({"data.n": {"$gt": 1}}), &mut params);
        assert!(!f.exact, "comparisons keep arrays for the evaluator");
    }
}

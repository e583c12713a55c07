//! Criteria, sort and projection parsing and evaluation: any JSON a client can send.
#![no_main]

use happn_cluster_sdk::criteria::{Projection, parse_sort};
use happn_cluster_sdk::{Criteria, Record};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let record = Record {
        path: "/fuzz/1".into(),
        data: happn_cluster_sdk::wrap_data(json!({
            "n": 5, "s": "hello", "tags": ["a", "b"], "nested": {"x": {"y": [1, {"z": 2}]}},
        })),
        created: 1,
        modified: 2,
        modified_by: None,
    };
    if let Ok(criteria) = Criteria::parse(&value) {
        let _ = criteria.matches(&record);
        let _ = criteria.stored_form();
    }
    if let Ok(keys) = parse_sort(&value) {
        let mut records = vec![record.clone(), record.clone()];
        happn_cluster_sdk::criteria::sort_records(&mut records, &keys);
    }
    if let Ok(projection) = Projection::parse(&value) {
        let _ = projection.apply(&record.data);
    }
});

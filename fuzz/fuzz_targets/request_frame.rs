//! Inbound frame → request: any bytes a client can send must parse or fail cleanly.
#![no_main]

use happn_cluster::protocol::{Request, event_id_from_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = event_id_from_head(text);
    if let Ok(request) = Request::parse(text) {
        let _ = request.require_path();
        let _ = request.flag("merge");
        if let Some(path) = &request.path {
            let _ = happn_cluster::path::PathLimits::default().check(path);
        }
    }
});

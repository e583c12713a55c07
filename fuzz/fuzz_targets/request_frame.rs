//! Inbound frame → typed request: any bytes a client can send must parse or fail cleanly.
#![no_main]

use happn_cluster::protocol::{Frame, event_id_from_head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = event_id_from_head(text);
    if let Ok(frame) = Frame::parse(text) {
        let _ = frame.is_handshake();
        if let Err(e) = &frame.request {
            assert!(!e.message().is_empty());
        }
        if let Some(path) = &frame.path {
            let _ = happn_cluster::path::PathLimits::default().check(path);
        }
    }
});

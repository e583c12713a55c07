//! The standard Prometheus process metrics, read from `/proc/self` (Linux; elsewhere they
//! are left out): CPU seconds used, resident memory, open file descriptors, start time.

use std::sync::OnceLock;

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 { ticks as f64 } else { 100.0 }
    })
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

/// The fields of `/proc/self/stat` after the command name.
fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// User plus system CPU time used by this process, in seconds.
pub fn cpu_seconds() -> Option<f64> {
    let fields = stat_fields()?;
    // After the name: state is field 0, utime 11, stime 12 (fields 14 and 15 of stat(5)).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Resident memory, in bytes.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// Open file descriptors.
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The process metrics in Prometheus text (empty where `/proc` is not available).
pub fn prometheus() -> String {
    let mut out = String::new();
    if let Some(cpu) = cpu_seconds() {
        out.push_str(&format!(
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}\n"
        ));
    }
    if let Some(rss) = resident_memory_bytes() {
        out.push_str(&format!(
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n"
        ));
    }
    if let Some(fds) = open_fds() {
        out.push_str(&format!(
            "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {fds}\n"
        ));
    }
    out
}

/// Reads `process_cpu_seconds_total` from Prometheus text.
pub fn parse_cpu_seconds(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix("process_cpu_seconds_total "))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_metrics_read_and_parse_back() {
        let before = cpu_seconds().expect("/proc is there on Linux");
        // Burn a little CPU.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let text = prometheus();
        let after = parse_cpu_seconds(&text).expect("exported and parsed back");
        assert!(after >= before);
        assert!(resident_memory_bytes().unwrap() > 1024 * 1024);
        assert!(text.contains("process_open_fds "));
    }
}

//! Realistic multi-tenant subscription workload shared by the path benches.
//!
//! Paths have five segments: `/tenant-T/device-D/sensor-S/metric-M/field-F`. The tenant count
//! grows with the subscription count (100 subscriptions per tenant), as real deployments
//! shard by tenant. Each subscription is exact (30%), has one `*` (50%) or two (20%) below the
//! tenant segment: about 20% of all segments are wildcards.

#![allow(dead_code)]

use happn_cluster::path::{EventFilter, Mask};

/// A tiny deterministic PRNG (xorshift) so runs are comparable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const CARDINALITY: [u64; 4] = [1000, 20, 10, 10];
const NAMES: [&str; 4] = ["device", "sensor", "metric", "field"];

pub struct Workload {
    pub tenants: u64,
    pub masks: Vec<(Mask, EventFilter)>,
}

fn segment(rng: &mut Rng, level: usize) -> String {
    format!("{}-{}", NAMES[level], rng.below(CARDINALITY[level]))
}

impl Workload {
    pub fn new(subscriptions: usize, seed: u64) -> Self {
        let tenants = (subscriptions as u64 / 100).max(10);
        let mut rng = Rng::new(seed);
        let masks = (0..subscriptions)
            .map(|_| {
                let stars = match rng.below(10) {
                    0..=2 => 0,
                    3..=7 => 1,
                    _ => 2,
                };
                let mut segs: Vec<String> = (0..4).map(|l| segment(&mut rng, l)).collect();
                for _ in 0..stars {
                    let at = rng.below(4) as usize;
                    segs[at] = "*".into();
                }
                let text = format!("/tenant-{}/{}", rng.below(tenants), segs.join("/"));
                let filter = match rng.below(3) {
                    0 => EventFilter::Set,
                    1 => EventFilter::Remove,
                    _ => EventFilter::All,
                };
                (Mask::parse(&text).expect("valid mask"), filter)
            })
            .collect();
        Workload { tenants, masks }
    }

    /// A concrete path that matches the given mask (its `*` segments filled in).
    pub fn path_for(&self, mask: &Mask, rng: &mut Rng) -> String {
        mask.as_str()
            .split('/')
            .enumerate()
            .map(|(i, seg)| {
                if seg == "*" {
                    segment(rng, i - 2)
                } else {
                    seg.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A random path inside a random tenant.
    pub fn random_path(&self, rng: &mut Rng) -> String {
        let segs: Vec<String> = (0..4).map(|l| segment(rng, l)).collect();
        format!("/tenant-{}/{}", rng.below(self.tenants), segs.join("/"))
    }
}

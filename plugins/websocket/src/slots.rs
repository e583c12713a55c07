//! Connection slots of one listener: at most `max_connections` at once, and at most
//! `max_connections_per_address` from any one remote address, so a single address cannot
//! take every slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The listener is at its connection limit.
    Full,
    /// The connection's address holds its share already.
    AddressFull,
}

/// The slots of one listener.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    max_per_address: usize,
    /// Open connections in total and per address (addresses with none are removed).
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Held by a connection's tasks while it lives; gives its slot back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
}

impl Slots {
    /// Slots for `max` connections, `max_per_address` from one address (0: no such limit).
    pub(crate) fn new(max: usize, max_per_address: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            max_per_address: if max_per_address == 0 {
                usize::MAX
            } else {
                max_per_address
            },
            open: Mutex::new((0, HashMap::new())),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<IpAddr, usize>)> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a connection from `address`, if the limits allow one.
    pub(crate) fn take(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Refusal> {
        let mut open = self.lock();
        if open.0 >= self.max {
            return Err(Refusal::Full);
        }
        let from_address = open.1.entry(address).or_insert(0);
        if *from_address >= self.max_per_address {
            return Err(Refusal::AddressFull);
        }
        *from_address += 1;
        open.0 += 1;
        Ok(Slot {
            slots: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_slot() {
        let slots = Slots::new(4, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), Refusal::AddressFull);
        let _b1 = slots.take(b).unwrap();
        let _b2 = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), Refusal::Full);
        drop(first);
        assert!(slots.take(a).is_ok(), "a freed slot is reusable");
    }

    #[test]
    fn an_ipv6_host_counts_as_its_slash_64() {
        use happn_cluster_sdk::address_group;
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_group(a), address_group(b));
        assert_ne!(address_group(a), address_group(other));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(
            address_group(mapped),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let slots = Slots::new(10, 1);
        let _held = slots.take(address_group(a)).unwrap();
        assert_eq!(
            slots.take(address_group(b)).unwrap_err(),
            Refusal::AddressFull
        );
    }
}

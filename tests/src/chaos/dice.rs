//! Seeded decisions. Each decision is a pure function of the seed and the decision's key
//! (what, which payment, which attempt), so a seed replays the same schedule of faults
//! whatever order the threads happen to run in.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dice {
    seed: u64,
}

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A number in [0, 1) for `key`.
    pub fn unit(&self, key: &[u64]) -> f64 {
        let mut hash = splitmix(self.seed);
        for part in key {
            hash = splitmix(hash ^ part);
        }
        (hash >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&self, probability: f64, key: &[u64]) -> bool {
        self.unit(key) < probability
    }

    /// A number in 0..n.
    pub fn below(&self, n: u64, key: &[u64]) -> u64 {
        ((self.unit(key) * n as f64) as u64).min(n.saturating_sub(1))
    }
}

/// A stable number for a name, to use in a key.
pub fn tag(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How many times each (what, payment) decision was taken: the attempt number in a key.
#[derive(Debug, Default)]
pub struct Attempts(Mutex<HashMap<(u64, i64), u64>>);

impl Attempts {
    pub fn next(&self, what: u64, payment_id: i64) -> u64 {
        let mut counts = self.0.lock().unwrap();
        let count = counts.entry((what, payment_id)).or_default();
        *count += 1;
        *count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_key_give_the_same_decision_and_others_differ() {
        let dice = Dice::new(7);
        let rolls: Vec<f64> = (0..1000).map(|i| dice.unit(&[tag("x"), i])).collect();
        assert_eq!(rolls[17], Dice::new(7).unit(&[tag("x"), 17]));
        assert_ne!(rolls[17], Dice::new(8).unit(&[tag("x"), 17]));
        let mean = rolls.iter().sum::<f64>() / rolls.len() as f64;
        assert!((0.45..0.55).contains(&mean), "roughly uniform, got {mean}");
        assert!(rolls.iter().all(|r| (0.0..1.0).contains(r)));
    }
}

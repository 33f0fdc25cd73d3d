//! Which live node runs which plugin: rendezvous (highest random weight) hashing, so that a
//! node joining or leaving moves only the plugins it gains or held.

/// The node, of `nodes`, that runs the plugin `key`; `None` when no node is live.
///
/// Every node computes the same answer from the same list, whatever its order.
pub fn owner<'a>(key: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|node| (weight(node, key), node.as_str()))
        .map(String::as_str)
}

/// The weight of (node, key): a separator byte no UTF-8 text holds keeps ("ab", "c") and
/// ("a", "bc") apart.
fn weight(node: &str, key: &str) -> u64 {
    hash_bytes(node.bytes().chain([0xff]).chain(key.bytes()))
}

/// A stable 64-bit hash of `text`, the same on every node and build.
pub(crate) fn stable_hash(text: &str) -> u64 {
    hash_bytes(text.bytes())
}

/// FNV-1a, then a final mix: written here because the standard library's hasher may change
/// between Rust releases, and nodes of one cluster may run different builds; the hash needs no
/// cryptographic strength.
fn hash_bytes(bytes: impl Iterator<Item = u8>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    // splitmix64's finaliser spreads FNV's weak low bits.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn no_nodes_no_owner() {
        assert_eq!(owner("plugins/a", &[]), None);
    }

    #[test]
    fn order_of_the_list_does_not_matter() {
        let a = nodes(&["n1", "n2", "n3"]);
        let b = nodes(&["n3", "n1", "n2"]);
        for i in 0..200 {
            let key = format!("plugins/p{i}");
            assert_eq!(owner(&key, &a), owner(&key, &b));
        }
    }

    #[test]
    fn a_leaving_node_moves_only_its_own_plugins_and_load_spreads() {
        let three = nodes(&["n1", "n2", "n3"]);
        let two = nodes(&["n1", "n3"]);
        let mut counts = [0usize; 3];
        for i in 0..300 {
            let key = format!("plugins/p{i}");
            let before = owner(&key, &three);
            let after = owner(&key, &two);
            if before != Some("n2") {
                assert_eq!(before, after, "{key} moved although its node stayed");
            }
            let idx = match before {
                Some("n1") => 0,
                Some("n2") => 1,
                _ => 2,
            };
            counts[idx] += 1;
        }
        for count in counts {
            assert!(count > 60, "uneven spread: {counts:?}");
        }
    }
}

//! Keys made of a vendor prefix and a name read from the line (`dogtag.OP`,
//! `keycloak.details.redirect_uri`), kept once for the life of the process so that an event
//! carries them as constants, as it does the keys a parser knows: no scratch buffer for the key
//! (an allocation per event, freed on a sink's thread), and the writer's plan cache knows the
//! key by its address instead of hashing and comparing its text (`encode::ecs::plan`).
//!
//! The names come from the input, so the table is bounded: at most [`MAX_KEYS`] keys of at
//! most [`MAX_KEY_BYTES`] bytes each (under 400 KB in all). Past either bound a key is built in
//! the event's scratch buffer as before ([`interned`] returns `None`): a stream of ever new
//! names costs speed, never memory. Each thread looks its keys up in its own set first, so the
//! shared table's lock is taken once per key and thread.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

/// Keys kept at most, over all threads.
pub const MAX_KEYS: usize = 4096;

/// The longest key kept, prefix and dot included.
pub const MAX_KEY_BYTES: usize = 96;

type Set = HashSet<&'static str, foldhash::fast::FixedState>;

/// Every key kept so far: each is leaked once and never freed.
static SHARED: LazyLock<Mutex<Set>> = LazyLock::new(Mutex::default);

thread_local! {
    /// This thread's copy of the keys it has used, and a buffer to spell a key in.
    static SEEN: RefCell<(String, Set)> = RefCell::new((String::with_capacity(MAX_KEY_BYTES), Set::default()));
}

/// The key `prefix.name` as a constant, `None` when it is too long or the table is full.
#[must_use]
pub fn interned(prefix: &'static str, name: &str) -> Option<&'static str> {
    interned_within(prefix, name, MAX_KEYS)
}

fn interned_within(prefix: &'static str, name: &str, max_keys: usize) -> Option<&'static str> {
    if prefix.len() + 1 + name.len() > MAX_KEY_BYTES {
        return None;
    }
    SEEN.with(|seen| {
        let (spelt, set) = &mut *seen.borrow_mut();
        spelt.clear();
        spelt.push_str(prefix);
        spelt.push('.');
        spelt.push_str(name);
        if let Some(key) = set.get(spelt.as_str()) {
            return Some(*key);
        }
        let key = {
            let mut shared = SHARED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match shared.get(spelt.as_str()) {
                Some(key) => *key,
                None if shared.len() < max_keys => {
                    let key: &'static str = Box::leak(spelt.as_str().into());
                    shared.insert(key);
                    key
                }
                None => return None,
            }
        };
        set.insert(key);
        Some(key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_kept_once_and_is_the_same_constant_on_every_thread() {
        let here = interned("test.keys", "same").expect("kept");
        assert_eq!(here, "test.keys.same");
        assert!(std::ptr::eq(here, interned("test.keys", "same").unwrap()));
        let there = std::thread::spawn(|| interned("test.keys", "same").unwrap())
            .join()
            .unwrap();
        assert!(std::ptr::eq(here, there));
        assert_ne!(interned("test.keys", "other"), Some(here));
    }

    #[test]
    fn a_key_too_long_or_past_the_table_bound_is_not_kept() {
        let long = "n".repeat(MAX_KEY_BYTES);
        assert_eq!(interned("test.keys", &long), None);
        let fits = "n".repeat(MAX_KEY_BYTES - "test.keys.".len());
        assert_eq!(
            interned("test.keys", &fits).map(str::len),
            Some(MAX_KEY_BYTES)
        );
        // On a fresh thread (its own set empty), with a bound the table has already reached: a
        // key kept before is still found, a new one is refused.
        std::thread::spawn(|| {
            let kept = interned("test.keys", "same").unwrap();
            let full = SHARED.lock().unwrap().len();
            assert_eq!(interned_within("test.keys", "same", full), Some(kept));
            assert_eq!(interned_within("test.keys", "never-kept", full), None);
            assert_eq!(interned_within("test.keys", "never-kept", full), None);
            assert!(!SHARED.lock().unwrap().contains("test.keys.never-kept"));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_drafts_vendor_key_is_a_kept_constant_and_one_too_long_is_spelt_in_scratch() {
        let long = "L".repeat(MAX_KEY_BYTES);
        let line = format!("[Short=one][{long}=two]");
        let mut draft = crate::parse::draft::Draft::new();
        draft.dynamic("dogtag", &line, "Short", &line[7..10]);
        draft.dynamic(
            "dogtag",
            &line,
            &line[12..12 + long.len()],
            &line[13 + long.len()..16 + long.len()],
        );
        let event = draft.finish(line.clone(), crate::event::Origin::default(), 0);
        assert_eq!(event.scratch, format!("dogtag.{long}"));
        let json: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(json["dogtag"]["Short"], "one");
        assert_eq!(json["dogtag"][&long], "two");
    }
}

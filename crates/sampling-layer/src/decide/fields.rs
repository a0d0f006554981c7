//! Finding and hashing the key field and the consistent field of an event or
//! span, without allocating.

use std::fmt;

use tracing_core::field::{Field, Visit};
use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

/// Finds the key field and the consistent field among an event's (or span's)
/// fields and hashes their text with xxh3, without allocating.
pub(crate) struct FieldHashes<'a> {
    pub(crate) key: Option<&'a Field>,
    pub(crate) value: Option<&'a Field>,
    pub(crate) key_hash: Option<u64>,
    pub(crate) value_hash: Option<u64>,
}

impl FieldHashes<'_> {
    fn put(&mut self, field: &Field, hash: impl Fn() -> u64) {
        if self.key == Some(field) {
            self.key_hash = Some(hash());
        }
        if self.value == Some(field) {
            self.value_hash = Some(hash());
        }
    }
}

impl Visit for FieldHashes<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, || xxh3_64(value.as_bytes()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key == Some(field) || self.value == Some(field) {
            let h = hash_debug(value);
            self.put(field, || h);
        }
    }
}

/// xxh3 of `value`'s `Debug` text, formatted into a stack buffer (streaming
/// into the hasher only for text longer than the buffer). Numbers hash as
/// their decimal text, `%x` values as their `Display` text.
pub(crate) fn hash_debug(value: &dyn fmt::Debug) -> u64 {
    struct StackHash {
        buf: [u8; 128],
        len: usize,
        spill: Option<Box<Xxh3Default>>,
    }
    impl fmt::Write for StackHash {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let bytes = s.as_bytes();
            if self.spill.is_none() && self.len + bytes.len() <= self.buf.len() {
                self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
                self.len += bytes.len();
                return Ok(());
            }
            let h = self.spill.get_or_insert_with(|| {
                let mut h = Box::new(Xxh3Default::new());
                h.update(&self.buf[..self.len]);
                h
            });
            h.update(bytes);
            Ok(())
        }
    }
    let mut w = StackHash {
        buf: [0; 128],
        len: 0,
        spill: None,
    };
    let _ = fmt::write(&mut w, format_args!("{value:?}"));
    match w.spill {
        Some(h) => h.digest(),
        None => xxh3_64(&w.buf[..w.len]),
    }
}

#[cfg(all(test, not(sampling_layer_loom)))]
mod tests {
    use super::*;

    #[test]
    fn debug_hash_matches_plain_hash_of_the_text() {
        assert_eq!(hash_debug(&format_args!("req-42")), xxh3_64(b"req-42"));
        assert_eq!(hash_debug(&12345u64), xxh3_64(b"12345"));
        let long = "x".repeat(1000);
        assert_eq!(
            hash_debug(&format_args!("{long}")),
            xxh3_64(long.as_bytes())
        );
    }
}

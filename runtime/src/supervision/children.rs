//! A supervisor's children in start order, found by id: a vector of (id, record) and a
//! 4-byte-a-child hash index over it. An `IndexMap` kept the same order but stored each
//! entry's hash beside it and its index in a table of 8-byte slots.

use std::hash::BuildHasher;
use std::ops::{Index, IndexMut};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::FastHash;

/// Children of type `C` keyed by their id, in insertion (start) order.
pub(super) struct Children<C> {
    list: Vec<(Arc<str>, C)>,
    by_id: HashTable<u32>,
    hasher: FastHash,
}

impl<C> Children<C> {
    /// An empty collection with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            list: Vec::with_capacity(n),
            by_id: HashTable::with_capacity(n),
            hasher: FastHash::default(),
        }
    }

    /// How many children.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Room for `n` more.
    pub fn reserve(&mut self, n: usize) {
        self.list.reserve(n);
        let (list, hasher) = (&self.list, &self.hasher);
        self.by_id
            .reserve(n, |&i| hasher.hash_one(&*list[i as usize].0));
    }

    /// The position of child `id`.
    pub fn get_index_of(&self, id: &str) -> Option<usize> {
        let list = &self.list;
        self.by_id
            .find(self.hasher.hash_one(id), |&i| &*list[i as usize].0 == id)
            .map(|&i| i as usize)
    }

    /// Whether a child has id `id`.
    pub fn contains_key(&self, id: &str) -> bool {
        self.get_index_of(id).is_some()
    }

    /// Appends `child` under `id`, unless that id is taken: then gives `id` back.
    pub fn insert_new(&mut self, id: Arc<str>, child: C) -> Result<(), Arc<str>> {
        if self.contains_key(&id) {
            return Err(id);
        }
        let (list, hasher) = (&self.list, &self.hasher);
        let idx = u32::try_from(list.len()).expect("fewer than 2^32 children");
        self.by_id.insert_unique(hasher.hash_one(&*id), idx, |&i| {
            hasher.hash_one(&*list[i as usize].0)
        });
        self.list.push((id, child));
        Ok(())
    }

    /// The id and record at `idx`.
    pub fn get_index(&self, idx: usize) -> Option<(&Arc<str>, &C)> {
        self.list.get(idx).map(|(id, c)| (id, c))
    }

    /// The id and mutable record at `idx`.
    pub fn get_index_mut(&mut self, idx: usize) -> Option<(&Arc<str>, &mut C)> {
        self.list.get_mut(idx).map(|(id, c)| (&*id, c))
    }

    /// Every child in order, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Arc<str>, &mut C)> {
        self.list.iter_mut().map(|(id, c)| (&*id, c))
    }

    /// Every child in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &C)> {
        self.list.iter().map(|(id, c)| (id, c))
    }

    /// Every record in order.
    pub fn values(&self) -> impl Iterator<Item = &C> {
        self.list.iter().map(|(_, c)| c)
    }

    /// Drops every child from position `len` on.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.list.len() {
            return;
        }
        self.list.truncate(len);
        self.by_id.retain(|&mut i| (i as usize) < len);
    }

    /// Removes the child at `idx`, shifting the later ones down (O(children)).
    pub fn shift_remove_index(&mut self, idx: usize) -> Option<(Arc<str>, C)> {
        if idx >= self.list.len() {
            return None;
        }
        let removed = self.list.remove(idx);
        self.by_id.retain(|i| {
            let keep = *i as usize != idx;
            if *i as usize > idx {
                *i -= 1;
            }
            keep
        });
        Some(removed)
    }
}

impl<C> Index<usize> for Children<C> {
    type Output = C;
    fn index(&self, idx: usize) -> &C {
        &self.list[idx].1
    }
}

impl<C> IndexMut<usize> for Children<C> {
    fn index_mut(&mut self, idx: usize) -> &mut C {
        &mut self.list[idx].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(c: &Children<u8>) -> Vec<String> {
        (0..c.len())
            .map(|i| c.get_index(i).unwrap().0.to_string())
            .collect()
    }

    #[test]
    fn keeps_order_and_finds_by_id_after_removals() {
        let mut c = Children::with_capacity(2);
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            c.insert_new(Arc::from(*id), i as u8).unwrap();
        }
        assert_eq!(c.insert_new(Arc::from("b"), 9).unwrap_err().as_ref(), "b");
        assert_eq!(c.shift_remove_index(1).unwrap().1, 1);
        assert_eq!(ids(&c), ["a", "c", "d"]);
        assert_eq!(c.get_index_of("d"), Some(2));
        assert_eq!(c.get_index_of("b"), None);
        c.truncate(1);
        assert_eq!(ids(&c), ["a"]);
        assert!(!c.contains_key("c"));
        c.insert_new(Arc::from("c"), 7).unwrap();
        assert_eq!(c.get_index_of("c"), Some(1));
        assert_eq!(c[1], 7);
    }
}

//! [`Shared`]: an array owned, or read in place from bytes another owner keeps (a model
//! file mapped read-only), so that every process mapping the same file shares its pages.

use std::sync::Arc;

/// Bytes an in-place array reads from: a mapped file (or any buffer) that lives as long as
/// the arrays made from it.
pub type Backing = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Values of type `T`: owned, or read in place from a [`Backing`]. Dereferences to `[T]`.
#[derive(Clone)]
pub struct Shared<T: bytemuck::Pod>(Inner<T>);

#[derive(Clone)]
enum Inner<T> {
    Owned(Vec<T>),
    /// `len` values from byte `start` of `bytes`, aligned for `T` there.
    InPlace {
        bytes: Backing,
        start: usize,
        len: usize,
    },
}

impl<T: bytemuck::Pod> Shared<T> {
    /// The values at byte `start.. start + len · size_of::<T>()` of `bytes`, read in place:
    /// `None` unless they lie inside it, aligned for `T`, on a little-endian host (the byte
    /// order recs writes).
    pub fn in_place(bytes: Backing, start: usize, len: usize) -> Option<Self> {
        if !cfg!(target_endian = "little") {
            return None;
        }
        let end = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|n| n.checked_add(start))?;
        let b = (*bytes).as_ref().get(start..end)?;
        bytemuck::try_cast_slice::<u8, T>(b).ok()?;
        Some(Self(Inner::InPlace { bytes, start, len }))
    }

    /// Whether the values are read in place (from a mapped file).
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Inner::InPlace { .. })
    }

    /// The values as a vector of their own (a copy when in place).
    pub fn into_vec(self) -> Vec<T> {
        match self.0 {
            Inner::Owned(v) => v,
            Inner::InPlace { .. } => self.to_vec(),
        }
    }
}

impl<T: bytemuck::Pod> std::ops::Deref for Shared<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.0 {
            Inner::Owned(v) => v,
            Inner::InPlace { bytes, start, len } => {
                // Checked when made: in range and aligned for `T`.
                bytemuck::cast_slice(
                    &(**bytes).as_ref()[*start..*start + *len * std::mem::size_of::<T>()],
                )
            }
        }
    }
}

impl<'a, T: bytemuck::Pod> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: bytemuck::Pod> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Self {
        Shared(Inner::Owned(v))
    }
}

impl<T: bytemuck::Pod> Default for Shared<T> {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl<T: bytemuck::Pod> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl<T: bytemuck::Pod + PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_values_are_checked_for_range_and_alignment() {
        let words: Vec<u32> = (0..8).collect();
        let bytes: Backing = Arc::new(bytemuck::cast_slice::<u32, u8>(&words).to_vec());
        let v = Shared::<u32>::in_place(Arc::clone(&bytes), 8, 3).unwrap();
        assert!(v.is_mapped());
        assert_eq!(&*v, &[2, 3, 4]);
        // The values point into the bytes: nothing was copied.
        assert_eq!(
            v.as_ptr() as usize,
            (*bytes).as_ref()[8..].as_ptr() as usize
        );
        assert_eq!(v.clone().into_vec(), vec![2, 3, 4]);
        assert!(Shared::<u32>::in_place(Arc::clone(&bytes), 30, 1).is_none());
        assert!(Shared::<u32>::in_place(Arc::clone(&bytes), 0, usize::MAX).is_none());
        // A Vec<u8> is 4-aligned only by chance: an offset of 1 never is.
        assert!(Shared::<u32>::in_place(bytes, 1, 1).is_none());
        let owned: Shared<u32> = vec![1, 2].into();
        assert!(!owned.is_mapped());
        assert_eq!(owned, Shared::from(vec![1, 2]));
    }
}

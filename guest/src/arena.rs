//! The policy's allocator: a bump arena for what one evaluation allocates, on top of
//! the standard allocator for everything else.
//!
//! An evaluation allocates dozens of short-lived blocks (the document's tape, nodes'
//! pointers, messages, the findings) and frees all of them by the time the host has
//! taken its result. The standard allocator (dlmalloc on wasm) spends two to four
//! hundred units of fuel on each allocation and its free; the arena spends a few
//! dozen, and forgets them all at once.
//!
//! The rules that keep it sound:
//! - The arena is only used between [`begin`] and [`end`], which the SDK calls
//!   around the policy's `evaluate` (after its settings are cached, which outlive it).
//!   Everything else, including what the host allocates for the call's arguments,
//!   comes from the standard allocator.
//! - A block is freed to wherever it came from: its address says which.
//! - The arena starts again from its beginning only when every block it handed out
//!   has been freed (a count of live blocks). Whatever a policy keeps from one
//!   evaluation to the next (a cache in a `static`, say) stays valid: the arena then
//!   simply carries on after it, and once full, hands every request to the standard
//!   allocator. Such a policy is as fast as without the arena, never wrong.

// Natively (a policy's unit tests) the standard allocator stays, and only the tests
// below use the arena.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code, unused_imports))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The arena's size. An evaluation of an 11 KB snapshot needs a few tens of KiB;
/// a request that does not fit goes to the standard allocator.
const SIZE: usize = 256 * 1024;

/// A bump region: `[start, end)`, the next free byte at `top`, and how many of the
/// blocks it handed out are not freed yet.
pub(crate) struct Arena {
    start: Cell<usize>,
    end: Cell<usize>,
    top: Cell<usize>,
    live: Cell<usize>,
    /// Between `begin` and `end`.
    on: Cell<bool>,
}

// SAFETY: a policy is a single-threaded wasm module (no threads, no shared memory);
// natively the arena is only used by its unit tests, each on its own value.
unsafe impl Sync for Arena {}

impl Arena {
    pub(crate) const fn new() -> Arena {
        Arena {
            start: Cell::new(0),
            end: Cell::new(0),
            top: Cell::new(0),
            live: Cell::new(0),
            on: Cell::new(false),
        }
    }

    /// Gives the arena its region (once); `false` if it has none.
    fn ensure_region(&self, region: impl FnOnce() -> Option<(usize, usize)>) -> bool {
        if self.end.get() == 0 {
            let Some((start, len)) = region() else {
                return false;
            };
            self.start.set(start);
            self.top.set(start);
            self.end.set(start + len);
        }
        true
    }

    /// Starts an evaluation: from the beginning again if nothing is live.
    pub(crate) fn begin(&self, region: impl FnOnce() -> Option<(usize, usize)>) {
        if !self.ensure_region(region) {
            return;
        }
        if self.live.get() == 0 {
            self.top.set(self.start.get());
        }
        self.on.set(true);
    }

    pub(crate) fn end(&self) {
        self.on.set(false);
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let at = ptr as usize;
        self.start.get() <= at && at < self.end.get()
    }

    /// A block from the arena, or null when it is off or full.
    fn take(&self, layout: Layout) -> *mut u8 {
        if !self.on.get() {
            return std::ptr::null_mut();
        }
        let at = self.top.get().next_multiple_of(layout.align());
        match at.checked_add(layout.size()) {
            Some(next) if next <= self.end.get() => {
                self.top.set(next);
                self.live.set(self.live.get() + 1);
                at as *mut u8
            }
            _ => std::ptr::null_mut(),
        }
    }

    /// Frees an arena block: the last one handed out gives its room back.
    fn give(&self, ptr: *mut u8, layout: Layout) {
        self.live.set(self.live.get() - 1);
        if ptr as usize + layout.size() == self.top.get() {
            self.top.set(ptr as usize);
        }
    }

    /// Grows or shrinks the last block in place, if there is room.
    fn resize_in_place(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> bool {
        let at = ptr as usize;
        if !self.on.get() || at + layout.size() != self.top.get() {
            return false;
        }
        match at.checked_add(new_size) {
            Some(next) if next <= self.end.get() => {
                self.top.set(next);
                true
            }
            _ => false,
        }
    }

    /// # Safety
    /// As [`GlobalAlloc::alloc`], with `fallback` a sound allocator.
    pub(crate) unsafe fn alloc(&self, layout: Layout, fallback: &impl GlobalAlloc) -> *mut u8 {
        let ptr = self.take(layout);
        if ptr.is_null() {
            // SAFETY: the caller's contract.
            unsafe { fallback.alloc(layout) }
        } else {
            ptr
        }
    }

    /// # Safety
    /// As [`GlobalAlloc::dealloc`]: `ptr` came from this arena or from `fallback`.
    pub(crate) unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout, fallback: &impl GlobalAlloc) {
        if self.owns(ptr) {
            self.give(ptr, layout);
        } else {
            // SAFETY: not the arena's, so `fallback`'s (the caller's contract).
            unsafe { fallback.dealloc(ptr, layout) }
        }
    }

    /// # Safety
    /// As [`GlobalAlloc::realloc`]: `ptr` came from this arena or from `fallback`.
    pub(crate) unsafe fn realloc(
        &self,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
        fallback: &impl GlobalAlloc,
    ) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: not the arena's, so `fallback`'s (the caller's contract).
            return unsafe { fallback.realloc(ptr, layout, new_size) };
        }
        if self.resize_in_place(ptr, layout, new_size) {
            return ptr;
        }
        // SAFETY: `new_size` with the old alignment is valid (the caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: the caller's contract; the copy stays within both blocks.
        unsafe {
            let new = self.alloc(new_layout, fallback);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.give(ptr, layout);
            }
            new
        }
    }
}

/// The global allocator of a policy built for wasm.
#[cfg(target_arch = "wasm32")]
pub(crate) struct PolicyAllocator;

#[cfg(target_arch = "wasm32")]
static ARENA: Arena = Arena::new();

#[cfg(target_arch = "wasm32")]
// SAFETY: every block comes from `System` or from the arena, which hands out
// disjoint, aligned blocks of its own region and takes each back once.
unsafe impl GlobalAlloc for PolicyAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        unsafe { ARENA.alloc(layout, &System) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract.
        unsafe { ARENA.dealloc(ptr, layout, &System) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract.
        unsafe { ARENA.realloc(ptr, layout, new_size, &System) }
    }
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static GLOBAL: PolicyAllocator = PolicyAllocator;

/// Starts using the arena for the evaluation that begins (see the module's rules).
/// Natively (a policy's unit tests) it does nothing.
pub(crate) fn begin() {
    #[cfg(target_arch = "wasm32")]
    ARENA.begin(|| {
        let layout = Layout::from_size_align(SIZE, 16).ok()?;
        // SAFETY: a non-zero size; the region is never freed.
        let start = unsafe { System.alloc(layout) };
        (!start.is_null()).then_some((start as usize, SIZE))
    });
}

/// Stops using the arena: what follows (the host taking the result) is not part of
/// the evaluation.
pub(crate) fn end() {
    #[cfg(target_arch = "wasm32")]
    ARENA.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fallback that counts what reaches it.
    struct Counting {
        calls: Cell<usize>,
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.calls.set(self.calls.get() + 1);
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            self.calls.set(self.calls.get() + 1);
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// An arena over a region of `size` bytes (kept alive beside it), and a
    /// counting fallback.
    fn arena(size: usize) -> (Vec<u8>, Arena, Counting) {
        let mut region = vec![0u8; size];
        let arena = Arena::new();
        let (start, len) = (region.as_mut_ptr() as usize, region.len());
        arena.begin(|| Some((start, len)));
        arena.end();
        let system = Counting {
            calls: Cell::new(0),
        };
        (region, arena, system)
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_disjoint_and_aligned_and_reused_when_all_are_freed() {
        let (_region, arena, system) = arena(4096);
        arena.begin(|| None);
        let blocks: Vec<(*mut u8, Layout)> = [(3, 1), (8, 8), (1, 1), (24, 16), (5, 4)]
            .into_iter()
            .map(|(size, align)| {
                let l = layout(size, align);
                (unsafe { arena.alloc(l, &system) }, l)
            })
            .collect();
        for (i, &(ptr, l)) in blocks.iter().enumerate() {
            assert!(arena.owns(ptr));
            assert_eq!(ptr as usize % l.align(), 0);
            unsafe { ptr.write_bytes(i as u8 + 1, l.size()) };
        }
        for (i, &(ptr, l)) in blocks.iter().enumerate() {
            let bytes = unsafe { std::slice::from_raw_parts(ptr, l.size()) };
            assert!(
                bytes.iter().all(|&b| b == i as u8 + 1),
                "block {i} overwritten"
            );
        }
        arena.end();
        let first = blocks[0].0;
        for (ptr, l) in blocks {
            unsafe { arena.dealloc(ptr, l, &system) };
        }
        assert_eq!(system.calls.get(), 0);
        arena.begin(|| None);
        assert_eq!(unsafe { arena.alloc(layout(3, 1), &system) }, first);
    }

    #[test]
    fn a_block_kept_past_an_evaluation_is_never_handed_out_again() {
        let (_region, arena, system) = arena(4096);
        arena.begin(|| None);
        let kept = unsafe { arena.alloc(layout(64, 8), &system) };
        unsafe { kept.write_bytes(0xab, 64) };
        let freed = unsafe { arena.alloc(layout(64, 8), &system) };
        unsafe { arena.dealloc(freed, layout(64, 8), &system) };
        arena.end();
        // The next evaluation does not start over: `kept` is live.
        arena.begin(|| None);
        let next = unsafe { arena.alloc(layout(64, 8), &system) };
        assert!(next as usize >= kept as usize + 64);
        unsafe { next.write_bytes(0, 64) };
        let kept_bytes = unsafe { std::slice::from_raw_parts(kept, 64) };
        assert!(kept_bytes.iter().all(|&b| b == 0xab));
        unsafe { arena.dealloc(next, layout(64, 8), &system) };
        unsafe { arena.dealloc(kept, layout(64, 8), &system) };
        arena.end();
    }

    #[test]
    fn what_does_not_fit_or_comes_outside_an_evaluation_goes_to_the_fallback() {
        let (_region, arena, system) = arena(256);
        // Off: the fallback.
        let outside = unsafe { arena.alloc(layout(16, 8), &system) };
        assert!(!arena.owns(outside));
        arena.begin(|| None);
        let big = unsafe { arena.alloc(layout(1024, 8), &system) };
        assert!(!arena.owns(big));
        assert_eq!(system.calls.get(), 2);
        // Freed where they came from, also while the arena is on.
        unsafe { arena.dealloc(outside, layout(16, 8), &system) };
        unsafe { arena.dealloc(big, layout(1024, 8), &system) };
        assert_eq!(system.calls.get(), 4);
        arena.end();
    }

    #[test]
    fn the_last_block_grows_in_place_and_others_move_with_their_bytes() {
        let (_region, arena, system) = arena(4096);
        arena.begin(|| None);
        let a = unsafe { arena.alloc(layout(8, 1), &system) };
        unsafe { a.copy_from(b"abcdefgh".as_ptr(), 8) };
        let grown = unsafe { arena.realloc(a, layout(8, 1), 100, &system) };
        assert_eq!(grown, a, "the last block grows where it is");
        let b = unsafe { arena.alloc(layout(4, 1), &system) };
        let moved = unsafe { arena.realloc(a, layout(100, 1), 200, &system) };
        assert_ne!(moved, a);
        assert!(arena.owns(moved));
        assert_eq!(unsafe { std::slice::from_raw_parts(moved, 8) }, b"abcdefgh");
        // Past the region: into the fallback, bytes and all.
        let out = unsafe { arena.realloc(moved, layout(200, 1), 8192, &system) };
        assert!(!arena.owns(out));
        assert_eq!(unsafe { std::slice::from_raw_parts(out, 8) }, b"abcdefgh");
        unsafe { arena.dealloc(out, layout(8192, 1), &system) };
        unsafe { arena.dealloc(b, layout(4, 1), &system) };
        arena.end();
        assert_eq!(arena.live.get(), 0);
    }
}

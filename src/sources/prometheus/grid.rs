//! medic's evaluation grid: the instants every source answers on.

use crate::model::Millis;

/// The evaluation instants medic reads: `start, start + step, …` (`len` of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// First instant.
    pub start: Millis,
    /// Distance between instants, > 0.
    pub step: Millis,
    /// How many instants.
    pub len: usize,
}

impl Grid {
    /// The grid covering `(now - lookback, now]`, aligned to multiples of
    /// `step` (as the demo aligns it, so every source has the same grid).
    pub fn window(now: Millis, lookback: Millis, step: Millis) -> Grid {
        let end = now.div_euclid(step) * step;
        let len = (lookback / step).max(1) as usize;
        Grid {
            start: end - (len as Millis - 1) * step,
            step,
            len,
        }
    }

    /// The grid `start, …, ≤ end`, with `start` aligned down to a multiple of `step`.
    pub fn range(start: Millis, end: Millis, step: Millis) -> Grid {
        let start = start.div_euclid(step) * step;
        Grid {
            start,
            step,
            len: ((end - start) / step + 1).max(0) as usize,
        }
    }

    /// The last instant.
    pub fn end(&self) -> Millis {
        self.start + (self.len.max(1) as Millis - 1) * self.step
    }

    /// Sub-grids of at most `n` instants, in order.
    pub fn chunks(&self, n: usize) -> impl Iterator<Item = Grid> + '_ {
        (0..self.len).step_by(n.max(1)).map(move |i| Grid {
            start: self.start + i as Millis * self.step,
            step: self.step,
            len: n.min(self.len - i),
        })
    }

    /// The grid index of timestamp `t` (nearest instant), if on the grid.
    #[inline]
    pub fn index(&self, t: Millis) -> Option<usize> {
        // Checked: a hostile body can carry any timestamp.
        let off = t.checked_sub(self.start)?.checked_add(self.step / 2)?;
        let i = off.div_euclid(self.step);
        (0..self.len as Millis).contains(&i).then_some(i as usize)
    }
}

//! One stream in sequence order out of several: a derived fact may sit in
//! memory ([`super::recent`]), in a packed sled row or in a row of its own
//! ([`super::blocks`]), and a reader wants each once, in order.

use super::StoreError;

/// Items of one source, in ascending sequence order.
pub(super) type Source<'a, T> = Box<dyn Iterator<Item = Result<(u64, T), StoreError>> + Send + 'a>;

/// Streams each in ascending sequence order, merged; an item whose
/// sequence was just yielded is dropped (the same fact twice). An error
/// is yielded where it occurs.
pub(super) struct Merged<'a, T> {
    streams: Vec<std::iter::Peekable<Source<'a, T>>>,
    last: Option<u64>,
}

impl<'a, T> Merged<'a, T> {
    pub fn new(streams: Vec<Source<'a, T>>) -> Self {
        Self {
            streams: streams.into_iter().map(Iterator::peekable).collect(),
            last: None,
        }
    }
}

impl<T> Iterator for Merged<'_, T> {
    type Item = Result<(u64, T), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut best: Option<(usize, u64)> = None;
            for (i, s) in self.streams.iter_mut().enumerate() {
                match s.peek() {
                    None => {}
                    Some(Err(_)) => return s.next(),
                    Some(Ok((seq, _))) if best.is_none_or(|(_, b)| *seq < b) => {
                        best = Some((i, *seq));
                    }
                    Some(Ok(_)) => {}
                }
            }
            let (i, seq) = best?;
            let item = self.streams.get_mut(i)?.next()?;
            if self.last == Some(seq) {
                continue;
            }
            self.last = Some(seq);
            return Some(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(v: Vec<u64>) -> Source<'static, ()> {
        Box::new(v.into_iter().map(|s| Ok((s, ()))))
    }

    #[test]
    fn merges_in_order_and_drops_repeats() {
        let m = Merged::new(vec![
            stream(vec![1, 4, 9]),
            stream(vec![2, 4, 5]),
            stream(vec![]),
            stream(vec![3, 10]),
        ]);
        let got: Vec<u64> = m.map(|r| r.unwrap().0).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 5, 9, 10]);
    }

    #[test]
    fn an_error_is_yielded() {
        let bad: Source<'static, ()> =
            Box::new(std::iter::once(Err(StoreError::Corrupt("x".into()))));
        let mut m = Merged::new(vec![stream(vec![1]), bad]);
        assert!(m.any(|r| r.is_err()));
    }
}

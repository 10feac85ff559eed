//! A party's hatch: lines drawn over its bars and its legend swatch, so
//! that the timeline's parties differ without colour too (for readers who
//! do not tell the palette's colours apart, and on a greyscale print).
//! Chosen from the same hash as the colour but from its next bits, so two
//! parties that share a colour most likely differ in hatch.

/// The lines over a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hatch {
    /// None: the colour alone.
    Solid,
    /// Horizontal lines.
    Rows,
    /// Vertical lines.
    Columns,
    /// Both.
    Grid,
}

const HATCHES: [Hatch; 4] = [Hatch::Solid, Hatch::Rows, Hatch::Columns, Hatch::Grid];

/// FNV-1a of a party code: the colour takes it modulo the palette, the
/// hatch the bits above.
pub(crate) fn party_hash(party: &str) -> u32 {
    party.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A party's hatch, the same in every chart.
pub fn hatch_of(party: &str, palette_len: usize) -> Hatch {
    let above = party_hash(party) as usize / palette_len.max(1);
    HATCHES[above % HATCHES.len()]
}

impl Hatch {
    /// The segments that draw it over the box `[x0, x1] × [y0, y1]`:
    /// three lines each way, at the quarters.
    pub fn lines(self, (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> Vec<[(f64, f64); 2]> {
        let quarters = |a: f64, b: f64| [1.0, 2.0, 3.0].map(|k| a + (b - a) * k / 4.0);
        let rows = || quarters(y0, y1).map(|y| [(x0, y), (x1, y)]);
        let columns = || quarters(x0, x1).map(|x| [(x, y0), (x, y1)]);
        match self {
            Hatch::Solid => Vec::new(),
            Hatch::Rows => rows().to_vec(),
            Hatch::Columns => columns().to_vec(),
            Hatch::Grid => rows().into_iter().chain(columns()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parties_that_share_a_colour_mostly_differ_in_hatch() {
        let parties = ["RU", "UA", "US", "IL", "IR", "LB", "SY", "PS", "YE", "SD"];
        let palette = crate::timeline::PALETTE.len();
        let mut same_colour = 0;
        let mut same_both = 0;
        for (i, a) in parties.iter().enumerate() {
            for b in &parties[i + 1..] {
                if party_hash(a) as usize % palette == party_hash(b) as usize % palette {
                    same_colour += 1;
                    if hatch_of(a, palette) == hatch_of(b, palette) {
                        same_both += 1;
                    }
                }
            }
        }
        // Five pairs share a colour (RU and IL, US, PS and YE, IR and LB);
        // only RU and IL share the hatch too.
        assert_eq!((same_colour, same_both), (5, 1));
    }

    #[test]
    fn hatches_draw_inside_their_box() {
        for hatch in HATCHES {
            let lines = hatch.lines((1.0, 2.0), (0.0, 4.0));
            let expected = match hatch {
                Hatch::Solid => 0,
                Hatch::Rows | Hatch::Columns => 3,
                Hatch::Grid => 6,
            };
            assert_eq!(lines.len(), expected, "{hatch:?}");
            for [(ax, ay), (bx, by)] in lines {
                for (x, y) in [(ax, ay), (bx, by)] {
                    assert!((1.0..=2.0).contains(&x) && (0.0..=4.0).contains(&y));
                }
            }
        }
    }
}

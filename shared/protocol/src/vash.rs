//! The visual hash of a server (v2.2 getServerVash): a picture the enrolment page and the
//! phone both compute from the server's identity, so the user can see that the phone is
//! enrolling with the server the website meant. docs/phone-protocol.md, "Visual hash",
//! specifies it so that any app can compute it.
//!
//! 1. `d = SHA-256("nsauth-vash-v1" 0x00 serverid 0x00 api)`: `serverid` as in the
//!    enrolment link, `api` the API base URL of the enrolment link, decoded, ending in `/`.
//! 2. The pattern is 8 × 8 cells, mirrored left to right: for row `r` (0..8) and column
//!    `c` (0..4), the cell is filled when bit `c` (least significant first) of `d[r]` is 1;
//!    column `7 - c` is the same cell mirrored.
//! 3. The colour of the filled cells is `(40 + d[8] % 160, 40 + d[9] % 160, 40 + d[10] % 160)`
//!    (dark enough on white); the other cells are white.
//! 4. The picture has a margin of one white cell on each side: 10 × 10 cells of
//!    [`CELL`] pixels, 160 × 160 pixels.
//!
//! [`png`] encodes it as 8-bit RGB without interlacing, with the `png` crate's default
//! compression: what the server answers. Another encoder gives other bytes for the same
//! pixels; compare the pixels ([`Vash::rgb`]), not the file.

use sha2::{Digest, Sha256};

/// Pixels per cell.
pub const CELL: u32 = 16;
/// Cells per side, with the margin.
pub const SIDE_CELLS: u32 = 10;
/// Pixels per side.
pub const SIDE: u32 = CELL * SIDE_CELLS;

/// A server's visual hash: which cells are filled, and their colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vash {
    /// `cells[row][column]`, 8 × 8, without the margin.
    pub cells: [[bool; 8]; 8],
    pub colour: [u8; 3],
}

impl Vash {
    pub fn new(serverid: &str, api: &str) -> Vash {
        let mut h = Sha256::new();
        h.update(b"nsauth-vash-v1\0");
        h.update(serverid.as_bytes());
        h.update(b"\0");
        h.update(api.as_bytes());
        let d = h.finalize();
        let mut cells = [[false; 8]; 8];
        for (r, row) in cells.iter_mut().enumerate() {
            for c in 0..4 {
                let on = d[r] >> c & 1 == 1;
                row[c] = on;
                row[7 - c] = on;
            }
        }
        let tone = |b: u8| 40 + b % 160;
        Vash {
            cells,
            colour: [tone(d[8]), tone(d[9]), tone(d[10])],
        }
    }

    /// The picture as RGB rows, [`SIDE`] × [`SIDE`] pixels of 3 bytes.
    pub fn rgb(&self) -> Vec<u8> {
        let side = SIDE as usize;
        let mut px = vec![255u8; side * side * 3];
        for y in 0..side {
            for x in 0..side {
                let (cy, cx) = (y / CELL as usize, x / CELL as usize);
                let filled =
                    (1..=8).contains(&cy) && (1..=8).contains(&cx) && self.cells[cy - 1][cx - 1];
                if filled {
                    px[(y * side + x) * 3..][..3].copy_from_slice(&self.colour);
                }
            }
        }
        px
    }

    /// The picture as the server's PNG.
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, SIDE, SIDE);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Writing into a Vec cannot fail, and the header and data sizes agree by
        // construction.
        let mut w = enc.write_header().expect("PNG header into memory");
        w.write_image_data(&self.rgb())
            .expect("PNG data into memory");
        w.finish().expect("PNG end into memory");
        out
    }

    /// The pattern as text, two characters per cell (`##` filled), for a terminal.
    pub fn text(&self) -> String {
        self.cells
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&on| if on { "##" } else { ".." })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The colour as `#rrggbb`.
    pub fn hex_colour(&self) -> String {
        format!(
            "#{:02x}{:02x}{:02x}",
            self.colour[0], self.colour[1], self.colour[2]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_mirrored_and_per_server() {
        let a = Vash::new("7k3Jm1xQYh0", "https://api.example/");
        assert_eq!(a, Vash::new("7k3Jm1xQYh0", "https://api.example/"));
        for row in a.cells {
            for c in 0..4 {
                assert_eq!(row[c], row[7 - c]);
            }
        }
        assert!(a.colour.iter().all(|&t| (40..200).contains(&t)));
        assert_ne!(a, Vash::new("7k3Jm1xQYh1", "https://api.example/"));
        assert_ne!(a, Vash::new("7k3Jm1xQYh0", "https://other.example/"));
        assert_eq!(a.png(), a.png());
        assert_eq!(&a.png()[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(a.rgb().len(), (SIDE * SIDE * 3) as usize);
        assert_eq!(a.text().lines().count(), 8);
    }

    #[test]
    fn the_documented_test_vector() {
        // docs/phone-protocol.md, "Visual hash": computed from the written steps in Python.
        let v = Vash::new("AAAAAAAAAAAAAAAAAAAAAA", "https://a.example/");
        assert_eq!(v.hex_colour(), "#705b65");
        assert_eq!(
            v.text(),
            "....########....\n##....####....##\n..####....####..\n################\n\
             ......####......\n..############..\n################\n######....######"
        );
    }

    #[test]
    fn a_known_derivation() {
        // Pinned so that a change of the derivation is seen: apps compute the same.
        let v = Vash::new("AAAAAAAAAAA", "https://a.example/");
        let d = Sha256::digest(b"nsauth-vash-v1\0AAAAAAAAAAA\0https://a.example/");
        assert_eq!(v.cells[0][0], d[0] & 1 == 1);
        assert_eq!(v.cells[3][2], d[3] >> 2 & 1 == 1);
        assert_eq!(v.cells[3][5], d[3] >> 2 & 1 == 1);
        assert_eq!(v.colour[1], 40 + d[9] % 160);
        let px = v.rgb();
        let at = |x: usize, y: usize| &px[(y * SIDE as usize + x) * 3..][..3];
        assert_eq!(at(0, 0), [255, 255, 255], "the margin is white");
        let filled = v.cells[0][0];
        let first = at(CELL as usize + 3, CELL as usize + 3);
        assert_eq!(first == v.colour, filled);
    }
}

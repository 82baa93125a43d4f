//! QR images of links (getQrLogin, getQrEnrol): SVG or PNG of `s` pixels square.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

use crate::error::ApiError;

pub const DEFAULT_SIZE: u32 = 500;
pub const MIN_SIZE: u32 = 100;
pub const MAX_SIZE: u32 = 2000;
/// The quiet zone scanners need around the code, in modules.
const QUIET: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrFormat {
    Png,
    Svg,
}

impl QrFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            QrFormat::Png => "image/png",
            QrFormat::Svg => "image/svg+xml",
        }
    }
}

/// Reads `img` and `s`: `None` when no image is asked for (the raw link instead).
pub fn image_params(
    img: Option<&str>,
    s: Option<&str>,
) -> Result<Option<(QrFormat, u32)>, ApiError> {
    // v2.2 clients send `s` without `img` (the size is then meaningless: ignored) and sizes
    // outside our range (clamped to it); an `img` we cannot draw, or an `s` that is not a
    // number, is still refused.
    let format = match img {
        None | Some("") => return Ok(None),
        Some("png") => QrFormat::Png,
        Some("svg") => QrFormat::Svg,
        Some(_) => return Err(ApiError::invalid_field("img", "must be png or svg")),
    };
    let size = match s.map(str::trim).filter(|v| !v.is_empty()) {
        None => DEFAULT_SIZE,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n.clamp(i64::from(MIN_SIZE), i64::from(MAX_SIZE)) as u32,
            Err(_) => {
                return Err(ApiError::invalid_field(
                    "s",
                    format!("must be a whole number of pixels ({MIN_SIZE} to {MAX_SIZE})"),
                ));
            }
        },
    };
    Ok(Some((format, size)))
}

fn code(data: &str) -> Result<QrCode, ApiError> {
    // Medium error correction: robust on screens, small enough for long https link bases.
    QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| {
        tracing::error!(error = %e, "link too long for a QR code");
        ApiError::Internal
    })
}

/// An SVG drawn in module units and shown at `size` pixels: the viewBox is the code,
/// width and height are the size asked for, so it scales without blurring.
pub fn svg(data: &str, size: u32) -> Result<String, ApiError> {
    let code = code(data)?;
    let side = code.width() + 2 * QUIET;
    let drawn = code
        .render::<svg::Color<'_>>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .build();
    let dims = format!(r#"width="{side}" height="{side}""#);
    Ok(drawn.replacen(&dims, &format!(r#"width="{size}" height="{size}""#), 1))
}

/// A grayscale PNG of exactly `size` x `size` pixels, the code centred on white.
pub fn png(data: &str, size: u32) -> Result<Vec<u8>, ApiError> {
    let code = code(data)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = size as usize;
    let total = modules + 2 * QUIET;
    let scale = (side / total).max(1);
    let offset = side.saturating_sub(total * scale) / 2 + QUIET * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules, i / modules);
        for dy in 0..scale {
            let y = offset + my * scale + dy;
            let row = y * side;
            for dx in 0..scale {
                let x = offset + mx * scale + dx;
                if x < side && y < side {
                    pixels[row + x] = 0;
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size, size);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|_| ApiError::Internal)?;
        w.write_image_data(&pixels)
            .map_err(|_| ApiError::Internal)?;
        w.finish().map_err(|_| ApiError::Internal)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(image_params(None, None).unwrap(), None);
        assert_eq!(
            image_params(Some("png"), None).unwrap(),
            Some((QrFormat::Png, 500))
        );
        assert_eq!(
            image_params(Some("svg"), Some("100")).unwrap(),
            Some((QrFormat::Svg, 100))
        );
        // v2.2 leniency: out of range is clamped, `s` alone is ignored.
        assert_eq!(
            image_params(Some("png"), Some("99")).unwrap(),
            Some((QrFormat::Png, 100))
        );
        assert_eq!(
            image_params(Some("png"), Some("5000")).unwrap(),
            Some((QrFormat::Png, 2000))
        );
        assert_eq!(image_params(None, Some("200")).unwrap(), None);
        assert_eq!(image_params(None, Some("x")).unwrap(), None);
        for (img, s) in [(Some("gif"), None), (Some("png"), Some("x"))] {
            assert_eq!(
                image_params(img, s).unwrap_err().code(),
                "invalid_field",
                "{img:?} {s:?}"
            );
        }
    }

    #[test]
    fn png_has_the_asked_size_and_svg_is_svg() {
        let p = png(
            "nsauth://login/AAECAwQFBgcICQoLDA0ODw/5KvIv6Y0y8IgLQULP8ZR_Q",
            300,
        )
        .unwrap();
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(u32::from_be_bytes(p[16..20].try_into().unwrap()), 300);
        assert_eq!(u32::from_be_bytes(p[20..24].try_into().unwrap()), 300);
        let s = svg("nsauth://x", 200).unwrap();
        assert!(s.contains(r#"width="200" height="200""#), "{s}");
        assert!(s.contains(r#"viewBox="0 0 29 29""#), "{s}");
    }
}

//! The demo pages' static files: the phone simulator (`/phone`, its script), the demo
//! website's script (its transfers) and the stylesheet of the landing, simulator and admin
//! pages. Embedded in the binary.

use bytes::Bytes;
use http_body_util::Full;

use super::response;

const PHONE_HTML: &str = include_str!("../../assets/phone.html");
const PHONE_JS: &str = include_str!("../../assets/phone.js");
const SITE_CSS: &str = include_str!("../../assets/site.css");
const DEMO_JS: &str = include_str!("../../assets/demo.js");

pub(super) const SITE_CSS_PATH: &str = "/local/site.css";
const PHONE_JS_PATH: &str = "/local/phone.js";
pub(super) const DEMO_JS_PATH: &str = "/local/demo.js";

/// The window (tab) name the pages open the simulator in, so that one tab is reused.
pub(super) const PHONE_WINDOW: &str = "nsauth-phone";

pub(super) fn serves(path: &str) -> bool {
    path == SITE_CSS_PATH || path == PHONE_JS_PATH || path == DEMO_JS_PATH
}

/// The stylesheet or a script, for their paths.
pub(super) fn handle(path: &str) -> Option<hyper::Response<Full<Bytes>>> {
    match path {
        SITE_CSS_PATH => Some(response(
            200,
            "text/css; charset=utf-8",
            Bytes::from_static(SITE_CSS.as_bytes()),
            None,
        )),
        PHONE_JS_PATH => Some(response(
            200,
            "text/javascript; charset=utf-8",
            Bytes::from_static(PHONE_JS.as_bytes()),
            None,
        )),
        DEMO_JS_PATH => Some(response(
            200,
            "text/javascript; charset=utf-8",
            Bytes::from_static(DEMO_JS.as_bytes()),
            None,
        )),
        _ => None,
    }
}

/// `GET /phone`: the simulator's page (everything happens in its script).
pub(super) fn phone_page() -> hyper::Response<Full<Bytes>> {
    response(
        200,
        "text/html; charset=utf-8",
        Bytes::from_static(PHONE_HTML.as_bytes()),
        None,
    )
}

//! The live view of a session in the browser (SPEC section 8): WebSocket frames, the
//! subscriptions of connections, the stream notifier and the website events.

pub mod connections;
pub mod events;
pub mod frames;
pub mod notifier;
pub mod websocket;

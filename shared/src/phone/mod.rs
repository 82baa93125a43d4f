//! The phone side (SPEC section 5): request signing and the enrolment token.

pub mod enrol;
pub mod signing;

//! Store faults injected in-process: an observer around the memory store that fails a
//! named store call once, before it reaches the store or after it was applied (a write
//! whose answer is lost).

use std::sync::{Arc, Mutex};

use nsauth::store::{MemoryStore, Observed, Observer, StoreError};

use crate::Stack;

/// Fails the named store call once: before it reaches the store, or after it was applied.
#[derive(Default)]
pub struct FaultOnce {
    pub before: Mutex<Option<&'static str>>,
    pub after: Mutex<Option<&'static str>>,
}

impl FaultOnce {
    /// The next call of `method` fails before it reaches the store.
    pub fn fail_before(&self, method: &'static str) {
        *self.before.lock().unwrap() = Some(method);
    }

    /// The next call of `method` is applied, and its answer is an error.
    pub fn fail_after(&self, method: &'static str) {
        *self.after.lock().unwrap() = Some(method);
    }

    /// Whether the armed faults have all fired.
    pub fn fired(&self) -> bool {
        self.before.lock().unwrap().is_none() && self.after.lock().unwrap().is_none()
    }
}

/// The observer the store holds; the test keeps the other handle to arm faults.
struct Faults(Arc<FaultOnce>);

impl Observer for Faults {
    fn call(&self, _: &'static str) {}

    fn fail_before(&self, method: &'static str) -> Option<StoreError> {
        let mut b = self.0.before.lock().unwrap();
        (*b == Some(method)).then(|| {
            *b = None;
            StoreError::Unavailable("injected".into())
        })
    }

    fn fail_after(&self, method: &'static str) -> Option<StoreError> {
        let mut a = self.0.after.lock().unwrap();
        (*a == Some(method)).then(|| {
            *a = None;
            StoreError::Unavailable("injected after the write".into())
        })
    }
}

/// An in-memory stack whose store calls the returned handle can make fail.
pub async fn stack_with_faults() -> (Stack, Arc<FaultOnce>) {
    let faults = Arc::new(FaultOnce::default());
    let store = Observed::new(Arc::new(MemoryStore::new()), Faults(faults.clone()));
    (Stack::over(Arc::new(store)).await, faults)
}

//! tokio glue for async transports (feature `reqwest`): spawning background
//! tasks, and closures as async transports, so a test can answer requests with
//! canned responses and no network:
//!
//! ```
//! use etcd_v2::{Client, TransportError};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let transport = |request: http::Request<Vec<u8>>| async move {
//!     assert_eq!(request.uri().path(), "/v2/keys/greeting");
//!     Ok::<_, TransportError>(http::Response::builder()
//!         .status(200)
//!         .body(br#"{"action":"get","node":{"key":"/greeting","value":"hi","modifiedIndex":3,"createdIndex":3}}"#.to_vec())
//!         .unwrap())
//! };
//! let client = Client::builder().build_async_with(transport).unwrap();
//! assert_eq!(client.node().get("/greeting", false).await.unwrap().value(), Some("hi"));
//! # });
//! ```

use std::future::Future;
use std::time::Duration;

use crate::error::TransportError;
use crate::transport::{AsyncTransport, HttpRequest, HttpResult, Task};

/// The current time on tokio's clock: the system's, or while tokio's clock is
/// paused (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`, with
/// tokio's `test-util` feature) the paused clock's. The tokio transports tell
/// the client this time, so its deadlines, backoffs and renewals follow the
/// clock their sleeps do: on a paused clock they pass at once, not in a busy
/// loop that waits for the system's clock.
pub fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Run `task` on the current tokio runtime, or, outside any runtime, on a
/// small runtime of its own in a background thread.
pub fn spawn(task: Task) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(task);
        }
        Err(_) => {
            std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(task),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start a runtime for a background task")
                    }
                }
            });
        }
    }
}

impl<F, Fut> AsyncTransport for F
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send,
{
    fn send(
        &self,
        request: HttpRequest,
        _timeout: Option<Duration>,
    ) -> impl Future<Output = HttpResult> + Send {
        self(request)
    }

    fn now(&self) -> std::time::Instant {
        now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }

    fn spawn(&self, task: Task) {
        spawn(task);
    }
}

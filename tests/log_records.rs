//! A program that uses only the `log` facade (no tracing subscriber) still gets
//! the client's records, through tracing's log compatibility.

use std::sync::Mutex;

use etcd_v2::{Client, TransportError};

struct Collect(Mutex<Vec<(log::Level, String, String)>>);

impl log::Log for Collect {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

static LOGGER: Collect = Collect(Mutex::new(Vec::new()));

#[test]
fn a_log_logger_receives_the_records() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let client = Client::builder()
        .build_with(
            |_req: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, TransportError> {
                Ok(http::Response::builder()
                    .status(404)
                    .header("X-Etcd-Index", "3")
                    .body(
                        br#"{"errorCode":100,"message":"Key not found","cause":"/k","index":3}"#
                            .to_vec(),
                    )
                    .unwrap())
            },
        )
        .unwrap();
    let err = client.node().get("/k", false).unwrap_err();
    assert!(err.is_key_not_found());
    let records = LOGGER.0.lock().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|(level, target, text)| *level == log::Level::Debug
                && target.starts_with("etcd_v2")
                && text.contains("done")
                && text.contains("key_not_found")),
        "{records:#?}"
    );
}

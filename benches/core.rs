//! The sans-IO core alone: building and parsing a GET, and parsing a
//! 10,000-key recursive listing beside `serde_json::Value` parsing the same
//! bytes (the baseline). `cargo bench --bench core`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etcd_v2::ops::keys::Get;
use etcd_v2::{Endpoint, Operation};

/// A listing shaped like etcd's: ten directories of 1,000 keys, 100-byte values.
fn listing() -> Vec<u8> {
    let value = "v".repeat(100);
    let mut dirs = Vec::new();
    for d in 0..10 {
        let nodes: Vec<String> = (0..1000)
            .map(|i| {
                let k = d * 1000 + i;
                format!(
                    r#"{{"key":"/bench/big/d{d}/k{k:05}","value":"{value}","modifiedIndex":{},"createdIndex":{}}}"#,
                    k + 10,
                    k + 10
                )
            })
            .collect();
        dirs.push(format!(
            r#"{{"key":"/bench/big/d{d}","dir":true,"nodes":[{}],"modifiedIndex":{d},"createdIndex":{d}}}"#,
            nodes.join(",")
        ));
    }
    format!(
        r#"{{"action":"get","node":{{"key":"/bench/big","dir":true,"nodes":[{}],"modifiedIndex":3,"createdIndex":3}}}}"#,
        dirs.join(",")
    )
    .into_bytes()
}

fn response(body: &[u8]) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .header("X-Etcd-Cluster-Id", "cc87f0f7eb420e9b")
        .header("X-Etcd-Index", "10010")
        .header("X-Raft-Index", "12000")
        .header("X-Raft-Term", "2")
        .body(body.to_vec())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let endpoint = Endpoint::parse("http://127.0.0.1:2379").unwrap();
    let small = br#"{"action":"get","node":{"key":"/bench/k","value":"a-small-value","modifiedIndex":7,"createdIndex":7}}"#;
    c.bench_function("get: build the request", |b| {
        b.iter(|| Get::new(black_box("/bench/k")).build(&endpoint).unwrap())
    });
    c.bench_function("get: parse the response", |b| {
        b.iter_batched(
            || response(small),
            |r| Get::new("/bench/k").parse(r).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("get: build + parse", |b| {
        b.iter_batched(
            || response(small),
            |r| {
                let op = Get::new(black_box("/bench/k"));
                black_box(op.build(&endpoint).unwrap());
                op.parse(r).unwrap()
            },
            criterion::BatchSize::SmallInput,
        )
    });

    let body = listing();
    let mut group = c.benchmark_group("10,000-key recursive listing");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(30);
    group.bench_function("Get::parse (typed nodes)", |b| {
        b.iter_batched(
            || response(&body),
            |r| {
                let parsed = Get::new("/bench/big").recursive(true).parse(r).unwrap();
                assert_eq!(parsed.children().len(), 10);
                parsed
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.bench_function("serde_json::Value (baseline)", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

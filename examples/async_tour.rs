//! The async client (reqwest, tokio): the same API as the blocking client, with
//! `.await`, plus a watch stream, a lock and a leader campaign running as tasks.
//!
//! `bash scripts/demo.sh` runs it after the blocking tour. Against your own
//! etcd: `cargo run --features reqwest --example async_tour -- http://127.0.0.1:2379`
//! (it writes under `/async-demo`).

use std::time::Duration;

use etcd_v2::client::LeaderEvent;
use etcd_v2::watch::WatchEvent;
use etcd_v2::{AsyncClient, Client, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let endpoints = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:2379".into());
    let client: AsyncClient = Client::builder()
        .endpoints(endpoints.split(','))
        .build_async()?;
    println!("\n== async tour against {endpoints} ==");
    let _ = client
        .directory()
        .delete_recursive("/async-demo", None)
        .await;

    // The same calls as the blocking client, awaited.
    let set = client
        .node()
        .set("/async-demo/greeting", "hello", None)
        .await?;
    println!(
        "  set    {} = {:?} @{} (answered by {})",
        set.node.key,
        set.value().unwrap_or(""),
        set.node.modified_index,
        client.prefix()
    );
    let got = client.node().get("/async-demo/greeting", false).await?;
    println!(
        "  get    {} = {:?}",
        got.node.key,
        got.value().unwrap_or("")
    );
    if let Err(e) = client
        .node()
        .create_only("/async-demo/greeting", "again", None)
        .await
    {
        println!("  create_only refused: {e}");
    }

    // A watch stream, fed by a writer task. It starts right after the greeting's
    // index, so it cannot miss what the task writes, however fast.
    let mut watch = client
        .watch("/async-demo/jobs")
        .recursive(true)
        .from_index(set.node.modified_index + 1)
        .start()
        .await?;
    let writer = client.clone();
    let producer = tokio::spawn(async move {
        let queue = writer.inorder().get_inorder("/async-demo/jobs");
        for job in ["compile", "test", "ship"] {
            queue.add(job, None).await?;
        }
        Ok::<(), Error>(())
    });
    for _ in 0..3 {
        match watch.next().await {
            Some(Ok(WatchEvent::Change(c))) => {
                println!(
                    "  watched {} {} = {:?}",
                    c.action,
                    c.node.key,
                    c.value().unwrap_or("")
                )
            }
            Some(Ok(WatchEvent::Resync { index, .. })) => println!("  resynced at {index}"),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    producer.await.expect("the producer task")?;

    // A lock: eight tasks increment a counter under it.
    client.node().set("/async-demo/counter", "0", None).await?;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut lock = c.module().lock().get_lock("async-demo-counter", 10);
            for _ in 0..5 {
                lock.acquire().await?;
                let n: u64 = c
                    .node()
                    .get("/async-demo/counter", false)
                    .await?
                    .value()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0);
                c.node()
                    .set("/async-demo/counter", &(n + 1).to_string(), None)
                    .await?;
                lock.release().await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await.expect("a lock task")?;
    }
    let counter = client.node().get("/async-demo/counter", false).await?;
    println!(
        "  8 tasks x 5 locked increments = {}",
        counter.value().unwrap_or("?")
    );

    // A campaign: elected, renewed in the background, resigned.
    let campaign = client
        .module()
        .leader()
        .campaign("/async-demo/leader", "tour", 8)?;
    if let Some(LeaderEvent::Elected) = campaign.next_event(Duration::from_secs(10)).await {
        println!("  elected leader of /async-demo/leader");
    }
    tokio::time::sleep(Duration::from_secs(9)).await;
    println!(
        "  still leader after 9 s (TTL 8 s, renewed in the background): {}",
        client
            .module()
            .leader()
            .get("/async-demo/leader")
            .await?
            .as_deref()
            == Some("tour")
    );
    campaign.resign().await;
    println!(
        "  resigned; leader now {:?}",
        client.module().leader().get("/async-demo/leader").await?
    );

    client
        .directory()
        .delete_recursive("/async-demo", None)
        .await?;
    println!("  done: /async-demo removed");
    Ok(())
}

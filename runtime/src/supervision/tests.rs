//! Supervision semantics on paused tokio time: no real sleeps.

use std::time::Duration;

use super::*;
use crate::testkit::{settle, worker, Journal, WorkerMsg};
use crate::{Clock, Runtime, ShardKey};

fn rt() -> Runtime {
    Runtime::new(Clock::tokio(1_700_000_000_000))
}

fn ship() -> ShardKey {
    ShardKey::new("aurora")
}

/// Three workers a, b, c under one supervisor with `strategy`.
async fn three(
    strategy: Strategy,
    journal: &Journal,
    runtime: &Runtime,
) -> (SupervisorHandle, Vec<Addr<WorkerMsg>>) {
    let mut spec = SupervisorSpec::new("test", ship())
        .strategy(strategy)
        .backoff(Backoff::none());
    let mut addrs = Vec::new();
    for id in ["a", "b", "c"] {
        let (child, addr) = worker(id, "worker", journal);
        spec = spec.child(child);
        addrs.push(addr);
    }
    let (handle, _join) = start_root(spec, runtime.clone())
        .await
        .expect("root starts");
    (handle, addrs)
}

fn ids(children: &[ChildInfo]) -> Vec<Option<ractor::ActorId>> {
    children.iter().map(|c| c.actor_id).collect()
}

#[tokio::test(start_paused = true)]
async fn children_start_in_order_and_stop_in_reverse() {
    let journal = Journal::new();
    let runtime = rt();
    let (sup, _) = three(Strategy::OneForOne, &journal, &runtime).await;
    assert_eq!(journal.take(), ["start:a", "start:b", "start:c"]);
    sup.shutdown().await;
    assert_eq!(journal.take(), ["stop:c", "stop:b", "stop:a"]);
    assert!(
        runtime.registry().is_empty(),
        "registry cleaned on shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let journal = Journal::new();
    let runtime = rt();
    let (sup, addrs) = three(Strategy::OneForOne, &journal, &runtime).await;
    let before = ids(&sup.children().await.unwrap());
    journal.take();
    addrs[1].send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(10)).await;
    assert_eq!(
        journal.take(),
        ["start:b"],
        "panicked child has no post_stop"
    );
    let after = ids(&sup.children().await.unwrap());
    assert_eq!(before[0], after[0]);
    assert_ne!(before[1], after[1]);
    assert_eq!(before[2], after[2]);
    let stats = runtime.metrics().actors().kind("worker", "aurora");
    assert_eq!(stats.restarts(), 1);
    assert_eq!(stats.panics(), 1);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_restarts_everyone_in_order() {
    let journal = Journal::new();
    let runtime = rt();
    let (sup, addrs) = three(Strategy::OneForAll, &journal, &runtime).await;
    let before = ids(&sup.children().await.unwrap());
    journal.take();
    addrs[1].send(WorkerMsg::Fail).unwrap();
    settle(Duration::from_millis(10)).await;
    assert_eq!(
        journal.take(),
        ["stop:c", "stop:a", "start:a", "start:b", "start:c"]
    );
    let after = ids(&sup.children().await.unwrap());
    assert!(before.iter().zip(&after).all(|(x, y)| x != y));
    assert_eq!(
        runtime
            .metrics()
            .actors()
            .kind("worker", "aurora")
            .restarts(),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let journal = Journal::new();
    let runtime = rt();
    let (sup, addrs) = three(Strategy::RestForOne, &journal, &runtime).await;
    let before = ids(&sup.children().await.unwrap());
    journal.take();
    addrs[1].send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(10)).await;
    assert_eq!(journal.take(), ["stop:c", "start:b", "start:c"]);
    let after = ids(&sup.children().await.unwrap());
    assert_eq!(before[0], after[0]);
    assert_ne!(before[1], after[1]);
    assert_ne!(before[2], after[2]);
}

#[tokio::test(start_paused = true)]
async fn restart_types_decide_what_comes_back() {
    let journal = Journal::new();
    let runtime = rt();
    let (perm, perm_addr) = worker("perm", "worker", &journal);
    let (tr_ok, tr_ok_addr) = worker("tr_ok", "worker", &journal);
    let (tr_bad, tr_bad_addr) = worker("tr_bad", "worker", &journal);
    let (temp, temp_addr) = worker("temp", "worker", &journal);
    let spec = SupervisorSpec::new("types", ship())
        .backoff(Backoff::none())
        .child(perm)
        .child(tr_ok.restart(Restart::Transient))
        .child(tr_bad.restart(Restart::Transient))
        .child(temp.restart(Restart::Temporary));
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    journal.take();
    perm_addr.send(WorkerMsg::Stop).unwrap();
    tr_ok_addr.send(WorkerMsg::Stop).unwrap();
    tr_bad_addr.send(WorkerMsg::Panic).unwrap();
    temp_addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(10)).await;
    let mut got = journal.take();
    got.sort();
    assert_eq!(
        got,
        ["start:perm", "start:tr_bad", "stop:perm", "stop:tr_ok"],
        "permanent comes back after a normal stop, transient only after failure, temporary never"
    );
    let children: Vec<String> = sup
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(children, ["perm", "tr_bad"]);
    assert!(!tr_ok_addr.is_running());
    assert!(!temp_addr.is_running());
    assert!(matches!(
        temp_addr.send(WorkerMsg::Ping),
        Err(NotDelivered(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn stable_address_and_registry_follow_restarts() {
    let journal = Journal::new();
    let runtime = rt();
    let (sup, addrs) = three(Strategy::OneForOne, &journal, &runtime).await;
    let key = crate::ActorKey::new(ship(), "worker", "b");
    let first = runtime.registry().get(&key).unwrap().get_id();
    addrs[1].send(WorkerMsg::Ping).unwrap();
    addrs[1].send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(10)).await;
    let second = runtime.registry().get(&key).unwrap().get_id();
    assert_ne!(first, second, "registry re-pointed");
    for _ in 0..5 {
        addrs[1].send(WorkerMsg::Ping).unwrap();
    }
    let count = addrs[1]
        .call(WorkerMsg::Count, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(count, 5, "the same Addr reaches the new incarnation");
    assert!(runtime.registry().dead_entries().is_empty());
    sup.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_repeated_restarts_and_resets_after_quiet() {
    let journal = Journal::new();
    let runtime = rt();
    let (child, addr) = worker("w", "worker", &journal);
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(250),
        multiplier: 2.0,
        jitter: 0.0,
        reset_after: Duration::from_secs(5),
    };
    let spec = SupervisorSpec::new("backoff", ship())
        .backoff(backoff)
        .intensity(100, Duration::from_secs(60))
        .child(child);
    let (_sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    journal.take();
    // First restart: immediate.
    addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(2)).await;
    assert!(addr.is_running(), "first restart is immediate");
    // Second: 100 ms.
    addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(60)).await;
    assert!(!addr.is_running(), "second restart waits");
    settle(Duration::from_millis(60)).await;
    assert!(addr.is_running(), "second restart after 100 ms");
    // Third: 200 ms.
    addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(180)).await;
    assert!(!addr.is_running());
    settle(Duration::from_millis(40)).await;
    assert!(addr.is_running(), "third restart after 200 ms");
    // Fourth: capped at 250 ms.
    addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(240)).await;
    assert!(!addr.is_running());
    settle(Duration::from_millis(20)).await;
    assert!(addr.is_running(), "capped at 250 ms");
    // After a quiet period the next restart is immediate again.
    settle(Duration::from_secs(6)).await;
    addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(2)).await;
    assert!(addr.is_running(), "reset after quiet period");
}

#[tokio::test(start_paused = true)]
async fn a_pending_restart_rescheduled_by_a_group_restart_counts_once() {
    let journal = Journal::new();
    let runtime = rt();
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: 0.0,
        reset_after: Duration::from_secs(10),
    };
    let mut spec = SupervisorSpec::new("rest", ship())
        .strategy(Strategy::RestForOne)
        .intensity(100, Duration::from_secs(10))
        .backoff(backoff);
    let mut addrs = Vec::new();
    for id in ["a", "b", "c"] {
        let (child, addr) = worker(id, "worker", &journal);
        spec = spec.child(child);
        addrs.push(addr);
    }
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    journal.take();
    // b fails twice: the first restart (b, c) is immediate, the second waits 100 ms.
    addrs[1].send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(5)).await;
    addrs[1].send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(5)).await;
    // a fails meanwhile: a, b and c restart together, b and c once more, not twice.
    addrs[0].send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(500)).await;
    assert_eq!(
        journal.take(),
        ["stop:c", "start:b", "start:c", "stop:c", "start:a", "start:b", "start:c"]
    );
    let restarts: Vec<(String, u64)> = sup
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.restarts))
        .collect();
    let want = [("a", 1), ("b", 2), ("c", 2)].map(|(id, n)| (id.to_string(), n));
    assert_eq!(restarts, want);
    assert_eq!(runtime.metrics().actors().total_restarts(), 5);
}

#[tokio::test(start_paused = true)]
async fn intensity_escalates_through_three_levels() {
    let journal = Journal::new();
    let runtime = rt();
    let (w, waddr) = worker("w", "worker", &journal);
    let leaf_spec = move || {
        SupervisorSpec::new("leaf", ShardKey::new("aurora"))
            .backoff(Backoff::none())
            .intensity(1, Duration::from_secs(10))
            .child(w.clone())
    };
    let (leaf, leaf_addr) = ChildSpec::supervisor("leaf", leaf_spec);
    let mid_spec = move || {
        SupervisorSpec::new("mid", ShardKey::new("aurora"))
            .backoff(Backoff::none())
            .intensity(1, Duration::from_secs(10))
            .child(leaf.clone())
    };
    let (mid, mid_addr) = ChildSpec::supervisor("mid", mid_spec);
    let root = SupervisorSpec::new("root", ship())
        .backoff(Backoff::none())
        .intensity(0, Duration::from_secs(10))
        .child(mid);
    let (_root, join) = start_root(root, runtime.clone()).await.unwrap();

    let first_leaf = leaf_addr.current().unwrap().get_id();
    // Two panics: the leaf restarts w once, then gives up; mid restarts the leaf.
    for _ in 0..2 {
        waddr.send(WorkerMsg::Panic).unwrap();
        settle(Duration::from_millis(5)).await;
    }
    let second_leaf = leaf_addr.current().expect("leaf restarted by mid").get_id();
    assert_ne!(first_leaf, second_leaf);
    assert!(mid_addr.is_running());
    assert!(!join.is_finished());
    // Two more: the leaf gives up again, mid exceeds its intensity and fails, and the root
    // (which tolerates no restart) gives up too.
    for _ in 0..2 {
        waddr.send(WorkerMsg::Panic).unwrap();
        settle(Duration::from_millis(5)).await;
    }
    settle(Duration::from_millis(20)).await;
    assert!(join.is_finished(), "root gave up and stopped");
    assert!(!mid_addr.is_running());
    assert!(!waddr.is_running());
    assert!(
        runtime.registry().is_empty(),
        "{:?}",
        runtime.registry().shard_keys(ship())
    );
    let sup_restarts = runtime
        .metrics()
        .actors()
        .kind("supervisor", "aurora")
        .restarts();
    assert_eq!(sup_restarts, 1, "mid restarted the leaf once");
}

#[tokio::test(start_paused = true)]
async fn a_killed_supervisor_leaves_no_stale_registry_entries_or_addresses() {
    let journal = Journal::new();
    let runtime = rt();
    let (w, waddr) = worker("w", "worker", &journal);
    let (inner, inner_addr) = ChildSpec::supervisor("inner", move || {
        SupervisorSpec::new("inner", ShardKey::new("aurora")).child(w.clone())
    });
    // Temporary: once killed, the inner supervisor is not restarted, so nothing
    // re-registers its child and only the killed supervisor's cleanup can undo it.
    let root = SupervisorSpec::new("root", ship())
        .backoff(Backoff::none())
        .child(inner.restart(Restart::Temporary));
    let (_root, _j) = start_root(root, runtime.clone()).await.unwrap();
    assert_eq!(runtime.registry().len(), 2);
    inner_addr.current().unwrap().get_cell().kill();
    settle(Duration::from_millis(10)).await;
    assert!(!inner_addr.is_running());
    assert!(
        !waddr.is_running(),
        "the killed supervisor's child address is cleared"
    );
    assert!(
        runtime.registry().dead_entries().is_empty(),
        "{:?}",
        runtime.registry().dead_entries()
    );
    assert!(runtime.registry().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dynamic_children_come_and_go_by_message() {
    let journal = Journal::new();
    let runtime = rt();
    let spec = SupervisorSpec::new("devices", ship());
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    let mut addrs = Vec::new();
    for i in 0..20 {
        let (child, addr) = worker(&format!("dev-{i}"), "device", &journal);
        sup.add_child(child).await.unwrap();
        addrs.push(addr);
    }
    let (dup, _) = worker("dev-3", "device", &journal);
    assert!(matches!(
        sup.add_child(dup).await,
        Err(crate::RuntimeError::DuplicateChild(_))
    ));
    assert_eq!(runtime.registry().shard_keys(ship()).len(), 20);
    sup.remove_child("dev-7").await.unwrap();
    assert!(matches!(
        sup.remove_child("dev-7").await,
        Err(crate::RuntimeError::NoSuchChild(_))
    ));
    assert!(!addrs[7].is_running());
    assert_eq!(runtime.registry().shard_keys(ship()).len(), 19);
    assert!(journal.entries().contains(&"stop:dev-7".to_string()));
    let live = runtime
        .metrics()
        .actors()
        .kind("device", "aurora")
        .snapshot()
        .live;
    assert_eq!(live, 19);
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_children_starts_in_order_with_one_message() {
    let journal = Journal::new();
    let runtime = rt();
    let (first, _) = worker("gw", "device", &journal);
    let spec = SupervisorSpec::new("devices", ship()).child(first);
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    journal.take();
    let mut specs = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..50 {
        let (child, addr) = worker(&format!("dev-{i}"), "device", &journal);
        specs.push(child);
        addrs.push(addr);
    }
    sup.add_children(specs).await.unwrap();
    let expected: Vec<String> = (0..50).map(|i| format!("start:dev-{i}")).collect();
    assert_eq!(journal.take(), expected, "started in batch order");
    let children: Vec<String> = sup
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(children.len(), 51);
    assert_eq!(children[0], "gw");
    assert_eq!(children[1], "dev-0");
    assert_eq!(children[50], "dev-49");
    assert!(addrs.iter().all(|a| a.is_running()));
    assert_eq!(runtime.registry().shard_keys(ship()).len(), 51);
    // Children of a batch are restarted like any other.
    addrs[10].send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(10)).await;
    assert_eq!(journal.take(), ["start:dev-10"]);
    sup.shutdown().await;
    let stops = journal.take();
    assert_eq!(stops.first().map(String::as_str), Some("stop:dev-49"));
    assert_eq!(stops.last().map(String::as_str), Some("stop:gw"));
}

#[tokio::test(start_paused = true)]
async fn a_batch_with_a_duplicate_id_adds_nothing() {
    let journal = Journal::new();
    let runtime = rt();
    let (first, _) = worker("dev-0", "device", &journal);
    let spec = SupervisorSpec::new("devices", ship()).child(first);
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    journal.take();
    // A duplicate inside the batch.
    let batch: Vec<ChildSpec> = ["dev-1", "dev-2", "dev-1"]
        .into_iter()
        .map(|id| worker(id, "device", &journal).0)
        .collect();
    let err = sup.add_children(batch).await.unwrap_err();
    assert!(
        matches!(&err, crate::RuntimeError::DuplicateChild(id) if id == "dev-1"),
        "{err}"
    );
    // A duplicate of an existing child.
    let batch: Vec<ChildSpec> = ["dev-5", "dev-0"]
        .into_iter()
        .map(|id| worker(id, "device", &journal).0)
        .collect();
    let err = sup.add_children(batch).await.unwrap_err();
    assert!(
        matches!(&err, crate::RuntimeError::DuplicateChild(id) if id == "dev-0"),
        "{err}"
    );
    assert!(journal.take().is_empty(), "nothing started");
    assert_eq!(sup.children().await.unwrap().len(), 1, "nothing added");
    assert_eq!(runtime.registry().shard_keys(ship()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_batch_whose_child_fails_to_start_is_undone() {
    let journal = Journal::new();
    let runtime = rt();
    let (first, _) = worker("gw", "device", &journal);
    let spec = SupervisorSpec::new("devices", ship()).child(first);
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    journal.take();
    let (a, addr_a) = worker("dev-a", "device", &journal);
    let (b, _) = worker("dev-b", "device", &journal);
    let bad = ChildSpec::custom("bad", "device", |_ctx| {
        Box::pin(async { Err(ractor::SpawnErr::StartupFailed("no config".into())) })
    });
    let (c, _) = worker("dev-c", "device", &journal);
    let err = sup.add_children(vec![a, b, bad, c]).await.unwrap_err();
    assert!(err.to_string().contains("no config"), "{err}");
    assert_eq!(
        journal.take(),
        ["start:dev-a", "start:dev-b", "stop:dev-b", "stop:dev-a"],
        "the batch's started children stopped, last first; the rest never started"
    );
    let children = sup.children().await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].id, "gw");
    assert!(
        children[0].running,
        "children from before the batch untouched"
    );
    assert!(!addr_a.is_running());
    assert_eq!(runtime.registry().shard_keys(ship()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_child_is_killed_after_its_shutdown_timeout() {
    let journal = Journal::new();
    let runtime = rt();
    let (a, _) = worker("a", "worker", &journal);
    let (b, baddr) = worker("b", "worker", &journal);
    let spec = SupervisorSpec::new("s", ship())
        .child(a)
        .child(b.shutdown(Shutdown::Timeout(Duration::from_secs(2))));
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    journal.take();
    baddr.send(WorkerMsg::Hang).unwrap();
    settle(Duration::from_millis(5)).await;
    let started = tokio::time::Instant::now();
    sup.shutdown().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "waited for the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "then killed: {took:?}");
    assert_eq!(journal.take(), ["stop:a"], "b was killed, not stopped");
}

#[tokio::test(start_paused = true)]
async fn a_frozen_actor_is_reported_and_restarted() {
    let journal = Journal::new();
    let runtime = rt();
    let (w, addr) = worker("w", "detector", &journal);
    let spec = SupervisorSpec::new("s", ship())
        .backoff(Backoff::none())
        .child(w.frozen_after(Duration::from_secs(1)));
    let (sup, _j) = start_root(spec, runtime.clone()).await.unwrap();
    let first = addr.current().unwrap().get_id();
    addr.send(WorkerMsg::Ping).unwrap();
    settle(Duration::from_secs(3)).await;
    assert_eq!(
        addr.current().unwrap().get_id(),
        first,
        "busy-free actor left alone"
    );
    addr.send(WorkerMsg::Hang).unwrap();
    settle(Duration::from_millis(900)).await;
    assert_eq!(
        addr.current().unwrap().get_id(),
        first,
        "not yet past the deadline"
    );
    settle(Duration::from_secs(2)).await;
    let second = addr.current().expect("restarted").get_id();
    assert_ne!(first, second);
    let history = sup.history().await.unwrap();
    assert!(
        history.contains(&ExitRecord::Frozen("w".into())),
        "{history:?}"
    );
    let stats = runtime
        .metrics()
        .actors()
        .kind("detector", "aurora")
        .snapshot();
    assert_eq!(stats.frozen, 1);
    assert_eq!(stats.restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_child_that_fails_to_start_fails_the_supervisor_start() {
    let journal = Journal::new();
    let runtime = rt();
    let (a, _) = worker("a", "worker", &journal);
    let bad = ChildSpec::custom("bad", "worker", |_ctx| {
        Box::pin(async { Err(ractor::SpawnErr::StartupFailed("no config".into())) })
    });
    let spec = SupervisorSpec::new("s", ship()).child(a).child(bad);
    let err = start_root(spec, runtime.clone()).await.unwrap_err();
    assert!(err.to_string().contains("no config"), "{err}");
    assert_eq!(
        journal.take(),
        ["start:a", "stop:a"],
        "started children undone"
    );
}

#[tokio::test(start_paused = true)]
async fn tree_spec_from_toml_builds_nested_supervisors() {
    use super::tree::{Catalog, NodeSpec, TreeSpec};
    use std::sync::Arc;
    struct Workers(Journal);
    impl Catalog for Workers {
        fn child(
            &self,
            node: &NodeSpec,
            _shard: &ShardKey,
        ) -> Result<ChildSpec, crate::RuntimeError> {
            match node.kind.as_str() {
                "worker" => Ok(worker(&node.id, "worker", &self.0).0),
                other => Err(crate::RuntimeError::InvalidSpec(format!(
                    "unknown kind `{other}`"
                ))),
            }
        }
    }
    let text = r#"
        name = "ship"
        strategy = "rest_for_one"
        [[children]]
        id = "bus"
        kind = "worker"
        [[children]]
        id = "devices"
        kind = "supervisor"
        [children.tree]
        name = "devices"
        strategy = "one_for_one"
        intensity = { max_restarts = 50, within = 10000 }
        [[children.tree.children]]
        id = "sw-1"
        kind = "worker"
        restart = "transient"
        frozen_after_ms = 5000
    "#;
    let tree: TreeSpec = toml::from_str(text).unwrap();
    let journal = Journal::new();
    let catalog: Arc<dyn Catalog> = Arc::new(Workers(journal.clone()));
    let spec = tree.build(&ship(), &catalog).unwrap();
    let (sup, _j) = start_root(spec, rt()).await.unwrap();
    assert_eq!(journal.take(), ["start:bus", "start:sw-1"]);
    sup.shutdown().await;
    assert_eq!(journal.take(), ["stop:sw-1", "stop:bus"]);

    let bad: TreeSpec =
        toml::from_str("name = \"x\"\n[[children]]\nid = \"a\"\nkind = \"pump\"\n").unwrap();
    let err = bad.build(&ship(), &catalog).unwrap_err();
    assert!(err.to_string().contains("unknown kind `pump`"));
    let unknown_key = toml::from_str::<TreeSpec>("name = \"x\"\nstrategy_typo = 1\n");
    assert!(unknown_key.is_err(), "unknown keys are rejected");
}

/// A task child that counts its incarnations, ends with `Err` when told to (over a
/// channel shared by every incarnation), and stops when asked.
fn counting_task(
    starts: &std::sync::Arc<std::sync::atomic::AtomicU32>,
    stopped: &std::sync::Arc<std::sync::atomic::AtomicU32>,
    fail: &std::sync::Arc<tokio::sync::Notify>,
) -> ChildSpec {
    let (starts, stopped, fail) = (starts.clone(), stopped.clone(), fail.clone());
    ChildSpec::task("ticker", "task", move |mut stop: TaskStop| {
        let (stopped, fail) = (stopped.clone(), fail.clone());
        starts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            tokio::select! {
                _ = stop.stopped() => {
                    stopped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }
                _ = fail.notified() => Err("told to fail".to_string()),
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_task_child_is_restarted_when_it_fails_and_stopped_on_shutdown() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let runtime = rt();
    let (starts, stopped) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let fail = Arc::new(tokio::sync::Notify::new());
    let spec = SupervisorSpec::new("test", ship())
        .backoff(Backoff::none())
        .child(counting_task(&starts, &stopped, &fail));
    let (sup, _join) = start_root(spec, runtime.clone()).await.unwrap();
    settle(Duration::from_millis(10)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    fail.notify_one();
    settle(Duration::from_millis(10)).await;
    assert_eq!(starts.load(Ordering::SeqCst), 2, "restarted after failing");
    assert_eq!(sup.children().await.unwrap()[0].restarts, 1);
    assert_eq!(runtime.children_down(), 0, "running again");
    sup.shutdown().await;
    assert_eq!(
        stopped.load(Ordering::SeqCst),
        1,
        "asked to stop, and it did"
    );
    assert_eq!(
        starts.load(Ordering::SeqCst),
        2,
        "not restarted on shutdown"
    );
    assert!(runtime.registry().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_killed_task_child_leaves_no_task_behind() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let runtime = rt();
    let alive = Arc::new(AtomicU32::new(0));
    let spec = SupervisorSpec::new("test", ship()).child(ChildSpec::task("loop", "task", {
        let alive = alive.clone();
        move |_stop| {
            let alive = alive.clone();
            async move {
                // ignores its stop signal: only an abort ends it
                struct Alive(Arc<AtomicU32>);
                impl Drop for Alive {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                alive.fetch_add(1, Ordering::SeqCst);
                let _guard = Alive(alive);
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    }));
    let (sup, _join) = start_root(spec, runtime.clone()).await.unwrap();
    settle(Duration::from_millis(10)).await;
    assert_eq!(alive.load(Ordering::SeqCst), 1);
    let key = crate::ActorKey::new(ship(), "task", "loop");
    runtime.registry().get(&key).unwrap().kill();
    settle(Duration::from_millis(10)).await;
    assert_eq!(
        alive.load(Ordering::SeqCst),
        1,
        "the old task aborted, a new one runs"
    );
    assert_eq!(sup.children().await.unwrap()[0].restarts, 1);
    sup.shutdown().await;
    settle(Duration::from_millis(10)).await;
    assert_eq!(
        alive.load(Ordering::SeqCst),
        0,
        "aborted after the shutdown timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn health_of_the_tree_is_down_while_a_permanent_child_waits_for_its_restart() {
    let journal = Journal::new();
    let runtime = rt();
    let (a, a_addr) = worker("a", "worker", &journal);
    let backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(1),
        multiplier: 1.0,
        jitter: 0.0,
        reset_after: Duration::from_secs(60),
    };
    let spec = SupervisorSpec::new("test", ship())
        .backoff(backoff)
        .child(a);
    let (sup, _join) = start_root(spec, runtime.clone()).await.unwrap();
    let health = crate::http::Health::of_tree(&runtime);
    assert!(!health.is_up(), "not up before the node says so");
    health.set(true);
    assert!(health.is_up());
    // first restart: immediate
    a_addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(10)).await;
    assert!(health.is_up(), "restarted at once");
    // second restart in a row: after the 1 s backoff, down meanwhile
    a_addr.send(WorkerMsg::Panic).unwrap();
    settle(Duration::from_millis(10)).await;
    assert_eq!(runtime.children_down(), 1);
    assert!(
        !health.is_up(),
        "a permanent child is waiting for its restart"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    settle(Duration::from_millis(10)).await;
    assert_eq!(runtime.children_down(), 0);
    assert!(health.is_up(), "healed");
    sup.shutdown().await;
    assert_eq!(runtime.children_down(), 0, "a shutdown is not a child down");
}

//! A ship node's remediation surface (contracts §2, §7): the catalogue, a proposal that
//! the policy denies (403 with reasons) or admits (201 with its dry run), approval by
//! someone other than the requester, the supervised executor taking the approved
//! execution to an end state, every step in the hash-chained audit log.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn req(addr: SocketAddr, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (out[9..12].parse().unwrap(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_approve_execute_and_audit_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let node = support::remediation::node(
        dir.path(),
        &[],
        r#"[{"id":"bridge-sw-1","kind":"switch","zone":"bridge"}]"#,
    )
    .await;
    let addr = node.http_addr;
    let alice = node.auth.issue("alice", seawatch_console::Role::Operator);
    let bob = node.auth.issue("bob", seawatch_console::Role::Operator);
    let viewer = node.auth.issue("deck", seawatch_console::Role::Viewer);
    let admin = node.auth.issue("root", seawatch_console::Role::Admin);
    let audit = node.remediation.audit_path();
    let audit_recs: Vec<serde_json::Value> = tokio::task::spawn_blocking(move || {
        let (code, body) = req(addr, "GET", "/api/runbooks", &viewer, "");
        assert_eq!(code, 200, "{body}");
        // every starter runbook file is in the catalogue
        let files = std::fs::read_dir(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/runbooks"),
        )
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
        assert_eq!(
            serde_json::from_str::<Vec<serde_json::Value>>(&body)
                .unwrap()
                .len(),
            files
        );

        let path = "/api/runbooks/bounce-access-port/executions";
        let bridge = r#"{"targets":["bridge-sw-1"],"params":{"interface":"Gi1/0/7"}}"#;
        assert_eq!(
            req(addr, "POST", path, &viewer, bridge).0,
            403,
            "viewers may not propose"
        );
        let (code, body) = req(addr, "POST", path, &alice, bridge);
        assert_eq!(code, 403, "{body}");
        assert!(body.contains("zone bridge"), "{body}");
        let (code, body) = req(
            addr,
            "POST",
            path,
            &alice,
            r#"{"targets":["acc-sw-1"],"params":{"interface":"Gi1/0/7; reload"}}"#,
        );
        assert_eq!(code, 400, "{body}");

        let (code, body) = req(
            addr,
            "POST",
            path,
            &alice,
            r#"{"targets":["acc-sw-1"],"params":{"interface":"Gi1/0/7"}}"#,
        );
        assert_eq!(code, 201, "{body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["state"], "awaiting_approval");
        assert_eq!(e["policy"]["allow"], true);
        assert_eq!(e["plan"][1]["command"], "interface Gi1/0/7\nshutdown");
        let id = e["id"].as_str().unwrap().to_string();
        let approve = format!("/api/runbooks/executions/{id}/approve");
        assert_eq!(
            req(addr, "POST", &approve, &alice, "").0,
            403,
            "own request"
        );
        let (code, body) = req(addr, "POST", &approve, &bob, "");
        assert_eq!(code, 200, "{body}");
        assert_eq!(req(addr, "POST", &approve, &bob, "").0, 409);
        assert_eq!(
            req(
                addr,
                "POST",
                &format!("/api/runbooks/executions/{id}/reject"),
                &bob,
                ""
            )
            .0,
            409
        );

        // acc-sw-1 has no address in targets.json: the ssh driver refuses the precheck,
        // the execution fails before any action
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let e = loop {
            let (code, body) = req(
                addr,
                "GET",
                &format!("/api/runbooks/executions/{id}"),
                &alice,
                "",
            );
            assert_eq!(code, 200, "{body}");
            let e: serde_json::Value = serde_json::from_str(&body).unwrap();
            if e["state"] == "failed" {
                break e;
            }
            assert!(std::time::Instant::now() < deadline, "still {}", e["state"]);
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            e["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["phase"] == "precheck"),
            "{e}"
        );
        assert!(
            e["steps"][1]["output"]
                .as_str()
                .unwrap()
                .contains("no address"),
            "{e}"
        );

        let (code, body) = req(addr, "GET", "/api/audit?since=0", &admin, "");
        assert_eq!(code, 200, "{body}");
        let recs: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        let kinds: Vec<&str> = recs.iter().map(|r| r["kind"].as_str().unwrap()).collect();
        assert!(
            kinds.contains(&"policy.decision") && kinds.contains(&"execution.approval"),
            "{kinds:?}"
        );
        let rep = seawatch_actors::runbook::audit::verify(&audit).unwrap();
        assert!(rep.ok(), "{rep:?}");
        recs
    })
    .await
    .unwrap();
    // every audit record reaches the event log (Control events, the urgent lane to
    // shore), each once, in order
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let shipped: Vec<serde_json::Value> = node
            .log
            .read_from(1, 100_000)
            .unwrap()
            .iter()
            .filter(|e| {
                e.kind == seawatch_runtime::event_log::EventKind::Control && e.source == "runbook"
            })
            .map(|e| serde_json::from_str(&e.body).unwrap())
            .collect();
        let seqs: Vec<u64> = shipped.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
        let want: Vec<u64> = audit_recs
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect();
        if seqs.len() >= want.len() {
            assert_eq!(&seqs[..want.len()], &want[..], "in order, each once");
            assert_eq!(shipped[0]["hash"], audit_recs[0]["hash"]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} audit records in the event log",
            seqs.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.shutdown().await;
}

/// An open incident suggests the runbooks that apply to its root cause
/// (`GET /api/incidents/{id}/runbooks`); the automatic one with every parameter known is
/// proposed by the node itself (as `seawatch`, role `system`), allowed by the shipped
/// policy and run by the executor, and the suggestion then names that execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_suggest_runbooks_and_automatic_ones_run_under_policy() {
    use seawatch_model::AlertClass;
    use support::remediation::incident;
    let dir = tempfile::tempdir().unwrap();
    let node = support::remediation::node(
        dir.path(),
        &[],
        r#"[{"id":"srv-3","kind":"server","zone":"it"},{"id":"acc-sw-1","kind":"switch","zone":"it"}]"#,
    )
    .await;
    node.incidents
        .upsert(&incident("aurora-1", "acc-sw-1", AlertClass::Flapping));
    node.incidents
        .upsert(&incident("aurora-2", "srv-3", AlertClass::Capacity));
    let addr = node.http_addr;
    let viewer = node.auth.issue("deck", seawatch_console::Role::Viewer);
    tokio::task::spawn_blocking(move || {
        let (code, body) = req(addr, "GET", "/api/incidents/aurora-1/runbooks", &viewer, "");
        assert_eq!(code, 200, "{body}");
        let s: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(s.len(), 2, "{body}");
        assert_eq!(s[0]["runbook"], "bounce-access-port");
        assert_eq!(s[1]["runbook"], "silence-device-mail");
        assert_eq!(s[0]["targets"][0], "acc-sw-1");
        assert_eq!(s[0]["missing"][0], "interface");
        assert_eq!(
            req(addr, "GET", "/api/incidents/aurora-9/runbooks", &viewer, "").0,
            404
        );
        assert_eq!(
            req(
                addr,
                "GET",
                "/api/incidents/aurora-1/runbooks",
                "sw_bogus",
                ""
            )
            .0,
            401
        );
        // the automatic proposer's pass (every 10 s) proposes clear-full-disk for srv-3;
        // srv-3 has no address, so the executor's first precheck fails it: nothing ran
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let id = loop {
            let (code, body) = req(addr, "GET", "/api/incidents/aurora-2/runbooks", &viewer, "");
            assert_eq!(code, 200, "{body}");
            let s: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
            assert_eq!(s[0]["runbook"], "clear-full-disk", "{body}");
            if let Some(id) = s[0]["executions"][0].as_str() {
                break id.to_string();
            }
            assert!(std::time::Instant::now() < deadline, "not proposed: {body}");
            std::thread::sleep(Duration::from_millis(200));
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (code, body) = req(
                addr,
                "GET",
                &format!("/api/runbooks/executions/{id}"),
                &viewer,
                "",
            );
            assert_eq!(code, 200, "{body}");
            let e: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(e["requester"], "seawatch");
            assert_eq!(e["incident"], "aurora-2");
            assert_eq!(e["policy"]["allow"], true, "{e}");
            if e["state"] == "failed" {
                assert!(
                    e["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|s| s["phase"] == "precheck"),
                    "{e}"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still {}", e["state"]);
            std::thread::sleep(Duration::from_millis(50));
        }
        // the flapping switch's runbook needs an interface: never proposed automatically
        let (_, body) = req(addr, "GET", "/api/incidents/aurora-1/runbooks", &viewer, "");
        let s: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert!(s[0]["executions"].as_array().unwrap().is_empty(), "{body}");
    })
    .await
    .unwrap();
    node.shutdown().await;
}

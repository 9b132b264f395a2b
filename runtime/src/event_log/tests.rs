use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

fn cfg() -> EventLogConfig {
    EventLogConfig {
        fsync: FsyncPolicy::EveryBatch,
        ..EventLogConfig::new("ms-test")
    }
}

fn ev(ts_ms: i64, body: &str) -> NewEvent {
    NewEvent {
        ts_ms,
        kind: EventKind::Log,
        source: "bridge-sw1".into(),
        severity: 6,
        body: body.into(),
    }
}

fn batch(start: usize, n: usize, ts_ms: i64) -> Vec<NewEvent> {
    (start..start + n)
        .map(|i| {
            ev(
                ts_ms,
                &format!("<134>sshd[{i}]: accepted publickey for crew{i}"),
            )
        })
        .collect()
}

fn seg_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

fn read_all(log: &EventLog) -> Vec<Event> {
    log.read_from(log.first_seq(), usize::MAX).unwrap()
}

#[test]
fn append_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.first_seq(), 1);
    assert_eq!(log.next_seq(), 1);
    assert!(log.read_from(1, 10).unwrap().is_empty());

    assert_eq!(log.append_batch(batch(0, 3, 1_000)).unwrap(), 1..4);
    assert_eq!(log.append_batch(vec![]).unwrap(), 4..4);
    let mut special = ev(2_000, "ünïcödé ✓ {\"json\":true}");
    special.kind = EventKind::Incident;
    special.severity = 2;
    assert_eq!(log.append_batch(vec![special.clone()]).unwrap(), 4..5);

    let all = read_all(&log);
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(all[3].body, special.body);
    assert_eq!(all[3].kind, EventKind::Incident);
    assert_eq!(all[3].severity, 2);
    assert_eq!(all[0].source, "bridge-sw1");
    assert_eq!(
        all[0].id(log.ship_id()),
        EventId {
            ship: "ms-test".into(),
            seq: 1
        }
    );
    assert_eq!(log.event_id(4).to_string(), "ms-test:4");

    // Partial reads from the middle of a frame.
    let mid = log.read_from(2, 2).unwrap();
    assert_eq!(mid.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert!(log.read_from(5, 10).unwrap().is_empty());
    assert!(matches!(
        log.read_from(6, 10),
        Err(EventLogError::BeyondEnd {
            requested: 6,
            next_seq: 5
        })
    ));

    // JSON round trip of the record type.
    let json = serde_json::to_string(&all[3]).unwrap();
    assert!(json.contains("\"kind\":\"incident\""));
    let back: Event = serde_json::from_str(&json).unwrap();
    assert_eq!(back, all[3]);

    let st = log.stats();
    assert_eq!(
        (st.first_seq, st.next_seq, st.events, st.segments),
        (1, 5, 4, 1)
    );
    assert_eq!(st.batches_appended, 2);
    assert!(st.fsyncs >= 2);
}

#[test]
fn cursor_polls_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    let mut cur = LogCursor::at_start(&log);
    assert!(cur.poll(&log, 10).unwrap().is_empty());
    log.append_batch(batch(0, 5, 1)).unwrap();
    assert_eq!(cur.poll(&log, 3).unwrap().len(), 3);
    assert_eq!(cur.position(), 4);
    assert_eq!(cur.poll(&log, 10).unwrap().len(), 2);
    assert!(cur.poll(&log, 10).unwrap().is_empty());
    log.append_batch(batch(5, 1, 1)).unwrap();
    let got = cur.poll(&log, 10).unwrap();
    assert_eq!(got[0].seq, 6);
}

#[test]
fn interval_policy_hides_unsynced_events_from_readers() {
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
        ..cfg()
    };
    let mut log = EventLog::open(dir.path(), config).unwrap();
    // Fresh log: the interval has not elapsed since open, so nothing is synced.
    log.append_batch(batch(0, 4, 1)).unwrap();
    assert_eq!(log.durable_next_seq(), 1);
    assert!(log.read_from(1, 10).unwrap().is_empty());
    assert!(!log.flush_if_due().unwrap());
    log.sync().unwrap();
    assert_eq!(log.durable_next_seq(), 5);
    assert_eq!(log.read_from(1, 10).unwrap().len(), 4);
}

#[test]
fn sequence_continues_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = EventLog::open(dir.path(), cfg()).unwrap();
        log.append_batch(batch(0, 10, 1)).unwrap();
    }
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.next_seq(), 11);
    assert_eq!(log.stats().torn_tails_truncated, 0);
    assert_eq!(log.append_batch(batch(10, 5, 2)).unwrap(), 11..16);
    drop(log);
    let log = EventLog::open(dir.path(), cfg()).unwrap();
    let all = read_all(&log);
    assert_eq!(all.len(), 15);
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
}

#[test]
fn ship_id_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    drop(EventLog::open(dir.path(), cfg()).unwrap());
    let err = EventLog::open(dir.path(), EventLogConfig::new("ms-other")).unwrap_err();
    assert!(matches!(err, EventLogError::ShipMismatch { .. }), "{err}");
    let err = EventLog::open(dir.path(), EventLogConfig::new("bad ship")).unwrap_err();
    assert!(matches!(err, EventLogError::InvalidConfig(_)), "{err}");
}

#[test]
fn torn_tail_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    log.append_batch(batch(0, 10, 1)).unwrap();
    log.append_batch(batch(10, 10, 2)).unwrap();
    let good_len = log.stats().bytes;
    log.append_batch(batch(20, 10, 3)).unwrap();
    let full_len = log.stats().bytes;
    drop(log);
    let seg = seg_files(dir.path()).pop().unwrap();

    // Chop bytes off the last frame at several points, including inside the
    // header.
    for cut in [1, 10, (full_len - good_len) - 50, full_len - good_len - 1] {
        let bytes = fs::read(&seg).unwrap();
        let mut torn = bytes[..(full_len - cut) as usize].to_vec();
        fs::write(&seg, &torn).unwrap();
        let mut log = EventLog::open(dir.path(), cfg()).unwrap();
        let st = log.stats();
        assert_eq!(st.torn_tails_truncated, 1, "cut {cut}");
        assert_eq!(st.truncated_bytes, full_len - good_len - cut);
        assert_eq!(st.bytes, good_len);
        assert_eq!(log.next_seq(), 21);
        assert_eq!(read_all(&log).len(), 20);
        // Restore the third batch for the next round.
        assert_eq!(log.append_batch(batch(20, 10, 3)).unwrap(), 21..31);
        assert_eq!(log.stats().bytes, full_len);
        drop(log);
        torn.clear();
    }

    // Garbage after the last frame (e.g. a header whose payload never made it).
    let mut bytes = fs::read(&seg).unwrap();
    bytes.extend_from_slice(&frame::MAGIC.to_le_bytes());
    bytes.extend_from_slice(&[0xAB; 100]);
    fs::write(&seg, &bytes).unwrap();
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.stats().truncated_bytes, 104);
    assert_eq!(log.next_seq(), 31);
    assert_eq!(log.append_batch(batch(30, 1, 4)).unwrap(), 31..32);
    assert_eq!(read_all(&log).len(), 31);
    drop(log);

    // Zeroed tail (a filesystem extended the file but the data never landed).
    let mut bytes = fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    fs::write(&seg, &bytes).unwrap();
    let log = EventLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.stats().truncated_bytes, 4096);
    assert_eq!(log.next_seq(), 32);
    assert_eq!(fs::metadata(&seg).unwrap().len(), bytes.len() as u64 - 4096);
}

#[test]
fn crc_corruption_in_middle_of_last_segment_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    log.append_batch(batch(0, 10, 1)).unwrap();
    let first_len = log.stats().bytes;
    log.append_batch(batch(10, 10, 2)).unwrap();
    let second_end = log.stats().bytes;
    log.append_batch(batch(20, 10, 3)).unwrap();
    drop(log);
    let seg = seg_files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    // Flip a payload byte of the second frame.
    let at = ((first_len + second_end) / 2) as usize;
    bytes[at] ^= 0x40;
    fs::write(&seg, &bytes).unwrap();

    let err = EventLog::open(dir.path(), cfg()).unwrap_err();
    match err {
        EventLogError::Corrupt { offset, reason, .. } => {
            assert_eq!(offset, first_len);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    // Nothing was truncated.
    assert_eq!(fs::read(&seg).unwrap(), bytes);
}

#[test]
fn crc_corruption_in_sealed_segment_fails_reads() {
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        segment_max_bytes: 1,
        ..cfg()
    };
    let mut log = EventLog::open(dir.path(), config.clone()).unwrap();
    for i in 0..3 {
        log.append_batch(batch(i * 5, 5, 1)).unwrap();
    }
    drop(log);
    let first = seg_files(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xFF;
    fs::write(&first, &bytes).unwrap();
    let log = EventLog::open(dir.path(), config).unwrap();
    assert!(matches!(
        log.read_from(1, 100),
        Err(EventLogError::Corrupt { .. })
    ));
    // Later segments are still readable.
    assert_eq!(log.read_from(6, 100).unwrap().len(), 10);
}

#[test]
fn segments_roll_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        segment_max_bytes: 2_000,
        ..cfg()
    };
    let mut log = EventLog::open(dir.path(), config.clone()).unwrap();
    let mut n = 0;
    for b in 0..40 {
        let r = log.append_batch(batch(n, 7, b)).unwrap();
        assert_eq!(r, n as u64 + 1..n as u64 + 8);
        n += 7;
    }
    let st = log.stats();
    assert!(st.segments > 3, "{st:?}");
    let files = seg_files(dir.path());
    assert_eq!(files.len(), st.segments);
    assert_eq!(
        files[0].file_name().unwrap().to_str().unwrap(),
        "00000000000000000001.seg"
    );
    for f in &files[..files.len() - 1] {
        assert!(fs::metadata(f).unwrap().len() <= 2_000);
    }
    let all = read_all(&log);
    assert_eq!(all.len(), 280);
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    // Reads starting anywhere, of any length, see the right events.
    for start in [1u64, 7, 8, 50, 99, 279, 280] {
        let got = log.read_from(start, 33).unwrap();
        let expect = (280 - start + 1).min(33) as usize;
        assert_eq!(got.len(), expect, "start {start}");
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == start + i as u64));
        assert_eq!(got[0].body, all[start as usize - 1].body);
    }
    drop(log);
    // Reopen: lazily rebuilt indexes give the same answers.
    let log = EventLog::open(dir.path(), config).unwrap();
    assert_eq!(log.next_seq(), 281);
    assert_eq!(read_all(&log), all);
}

#[test]
fn chunked_reads_decode_each_frame_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        segment_max_bytes: 1_500,
        ..cfg()
    };
    let mut log = EventLog::open(dir.path(), config.clone()).unwrap();
    for b in 0..12 {
        log.append_batch(batch(b * 100, 100, b as i64)).unwrap();
    }
    assert!(log.stats().segments > 1, "reads cross segments");
    // A reader following the tail finds the appended batches decoded.
    let tail = read_all(&log);
    assert_eq!(tail.len(), 1_200);
    assert_eq!(log.read_cache.lock().decoded, 0, "appends fill the cache");
    // Reopened, the log decodes from disk: the same events.
    drop(log);
    let log = EventLog::open(dir.path(), config).unwrap();
    let all = read_all(&log);
    assert_eq!(all, tail);
    let whole = log.read_cache.lock().decoded;
    assert_eq!(whole, 12, "one decode per frame");
    // Sequential chunks smaller than a frame (as sync reads): same events, and each
    // frame is decoded at most once more (the cache holds the last few).
    let mut got = Vec::new();
    let mut seq = log.first_seq();
    loop {
        let ev = log.read_from(seq, 7).unwrap();
        if ev.is_empty() {
            break;
        }
        seq = ev.last().unwrap().seq + 1;
        got.extend(ev);
    }
    assert_eq!(got, all);
    assert_eq!(
        log.read_cache.lock().decoded,
        whole,
        "all 12 frames fit the cache"
    );
    // Reading the same range again is served from the cache.
    let before = log.read_cache.lock().decoded;
    assert_eq!(
        log.read_from(1_150, 30).unwrap(),
        all[1_149..1_179].to_vec()
    );
    assert_eq!(
        log.read_from(1_150, 30).unwrap(),
        all[1_149..1_179].to_vec()
    );
    assert_eq!(log.read_cache.lock().decoded, before);
}

#[test]
fn large_batches_use_sparse_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    // Incompressible-ish bodies so frames are big and the index sparse.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut n = 0;
    for _ in 0..30 {
        let events: Vec<_> = (0..50)
            .map(|_| {
                let body: String = (0..200)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        char::from(b'!' + (x % 90) as u8)
                    })
                    .collect();
                ev(1, &body)
            })
            .collect();
        log.append_batch(events).unwrap();
        n += 50;
    }
    assert!(log.active_meta.index.len() < 30, "index should be sparse");
    for start in [1u64, 51, 777, 1_499, 1_500] {
        let got = log.read_from(start, 10).unwrap();
        assert_eq!(got[0].seq, start);
    }
    assert_eq!(read_all(&log).len(), n);
}

#[test]
fn retention_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        segment_max_bytes: 1_000,
        retention: RetentionPolicy {
            max_bytes: Some(3_000),
            max_age: None,
        },
        ..cfg()
    };
    let mut log = EventLog::open(dir.path(), config).unwrap();
    for b in 0..30 {
        log.append_batch(batch(b * 5, 5, 0)).unwrap();
    }
    let before = log.stats();
    assert!(before.bytes > 3_000);
    let rep = log.apply_retention(0).unwrap();
    let after = log.stats();
    assert!(rep.segments_removed > 0);
    assert!(after.bytes <= 3_000, "{after:?}");
    assert_eq!(after.bytes, before.bytes - rep.bytes_removed);
    assert_eq!(after.first_seq, 1 + rep.events_removed);
    assert_eq!(rep.first_seq, after.first_seq);
    assert_eq!(after.events, 150 - rep.events_removed);
    assert_eq!(seg_files(dir.path()).len(), after.segments);
    assert!(matches!(
        log.read_from(1, 1),
        Err(EventLogError::Evicted { requested: 1, first_available }) if first_available == after.first_seq
    ));
    let rest = read_all(&log);
    assert_eq!(rest.len() as u64, after.events);
    assert_eq!(rest.last().unwrap().seq, 150);
    // Idempotent.
    assert_eq!(log.apply_retention(0).unwrap().segments_removed, 0);
}

#[test]
fn retention_by_age_and_never_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        segment_max_bytes: 1,
        retention: RetentionPolicy {
            max_bytes: None,
            max_age: Some(Duration::from_secs(3600)),
        },
        ..cfg()
    };
    let hour = 3_600_000i64;
    let mut log = EventLog::open(dir.path(), config.clone()).unwrap();
    // One batch per segment, timestamps 0h, 1h, ..., 4h.
    for h in 0..5 {
        log.append_batch(batch(h as usize * 2, 2, h * hour))
            .unwrap();
    }
    assert_eq!(log.stats().segments, 5);
    // At 3.5h, segments whose newest event is older than 2.5h go: 0h, 1h, 2h.
    let rep = log.apply_retention(3 * hour + hour / 2).unwrap();
    assert_eq!(rep.segments_removed, 3);
    assert_eq!(rep.events_removed, 6);
    assert_eq!(log.first_seq(), 7);
    drop(log);
    // Reopen (ages come from a lazy header scan now) and go far in the future:
    // everything but the active segment goes.
    let mut log = EventLog::open(dir.path(), config).unwrap();
    assert_eq!(log.first_seq(), 7);
    let rep = log.apply_retention(100 * hour).unwrap();
    assert_eq!(rep.segments_removed, 1);
    assert_eq!(log.stats().segments, 1);
    assert_eq!(log.first_seq(), 9);
    assert_eq!(read_all(&log).len(), 2);
    assert_eq!(log.append_batch(batch(10, 1, 5 * hour)).unwrap(), 11..12);
}

#[test]
fn garbage_never_panics() {
    // Arbitrary bytes as a segment: open either recovers or errors.
    let mut x: u32 = 12345;
    for round in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        drop(EventLog::open(dir.path(), cfg()).unwrap());
        let mut bytes = Vec::new();
        for _ in 0..(round * 37) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes.push((x >> 16) as u8);
        }
        if round % 2 == 0 && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&frame::MAGIC.to_le_bytes());
        }
        fs::write(segment_path(dir.path(), 1), &bytes).unwrap();
        if let Ok(log) = EventLog::open(dir.path(), cfg()) {
            assert_eq!(log.next_seq(), 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random batches, random crash point: recovery always yields exactly the
    /// whole batches that were completely written, nothing else.
    #[test]
    fn truncation_recovers_prefix_of_whole_batches(
        sizes in prop::collection::vec(1usize..20, 1..12),
        seg_max in prop_oneof![Just(1u64), Just(600), Just(1u64 << 20)],
        cut_frac in 0.0f64..=1.0,
        garbage in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = EventLogConfig { segment_max_bytes: seg_max, fsync: FsyncPolicy::Never, ..cfg() };
        let mut log = EventLog::open(dir.path(), config.clone()).unwrap();
        let mut originals = Vec::new();
        let mut boundaries = vec![1u64];
        for (b, &n) in sizes.iter().enumerate() {
            let events = batch(originals.len(), n, b as i64);
            originals.extend(events.clone());
            let r = log.append_batch(events).unwrap();
            boundaries.push(r.end);
        }
        drop(log);

        let seg = seg_files(dir.path()).pop().unwrap();
        let seg_first = parse_segment_name(seg.file_name().unwrap().to_str().unwrap()).unwrap();
        let bytes = fs::read(&seg).unwrap();
        let cut = (bytes.len() as f64 * cut_frac) as usize;
        let mut torn = bytes[..cut].to_vec();
        torn.extend_from_slice(&garbage);
        fs::write(&seg, &torn).unwrap();

        let mut log = EventLog::open(dir.path(), config).unwrap();
        let next = log.next_seq();
        prop_assert!(boundaries.contains(&next), "next_seq {} not a batch boundary {:?}", next, boundaries);
        prop_assert!(next >= seg_first);
        let got = read_all(&log);
        prop_assert_eq!(got.len() as u64, next - 1);
        for (e, o) in got.iter().zip(&originals) {
            prop_assert_eq!(&e.body, &o.body);
            prop_assert_eq!(e.ts_ms, o.ts_ms);
        }
        // Appending after recovery continues densely.
        let r = log.append_batch(batch(0, 3, 0)).unwrap();
        prop_assert_eq!(r, next..next + 3);
        prop_assert_eq!(read_all(&log).len() as u64, next + 2);
    }
}

/// `visit` hands out exactly the events `read_from` returns for the same seqs, across
/// frames and segments, from the read cache or decoded in place, and refuses evicted
/// seqs.
#[test]
fn visit_matches_read_from_across_frames_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = EventLogConfig {
        segment_max_bytes: 1_500,
        retention: RetentionPolicy {
            max_bytes: Some(6_000),
            max_age: None,
        },
        ..cfg()
    };
    let mut log = EventLog::open(dir.path(), config).unwrap();
    for b in 0..40 {
        log.append_batch(batch(b * 7, 7, b as i64)).unwrap();
    }
    assert!(seg_files(dir.path()).len() > 3);
    let all = read_all(&log);
    let seen = |log: &EventLog, ranges: &[Range<u64>]| {
        let mut got = Vec::new();
        let n = log.visit(ranges, &mut |e| got.push(e.to_event())).unwrap();
        assert_eq!(n as usize, got.len());
        got
    };
    // Whole log, single seqs, runs crossing frames, an empty range, a range past the end.
    assert_eq!(seen(&log, std::slice::from_ref(&(1..1_000))), all);
    let ranges = [2..3, 5..5, 6..20, 33..34, 34..35, 90..130, 275..400];
    let want: Vec<Event> = all
        .iter()
        .filter(|e| ranges.iter().any(|r| r.contains(&e.seq)))
        .cloned()
        .collect();
    assert_eq!(want.len(), 1 + 14 + 2 + 40 + 6);
    assert_eq!(seen(&log, &ranges), want);
    // From disk rather than the cache: a fresh handle on the same directory.
    drop(log);
    let mut log = EventLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(seen(&log, &ranges), want);
    log.config.retention.max_bytes = Some(6_000);
    let rep = log.apply_retention(0).unwrap();
    assert!(rep.segments_removed > 0);
    assert!(matches!(
        log.visit(std::slice::from_ref(&(1..2)), &mut |_| {}),
        Err(EventLogError::Evicted { requested: 1, .. })
    ));
    let first = log.first_seq();
    assert_eq!(
        seen(&log, std::slice::from_ref(&(first..1_000))),
        read_all(&log)
    );
}
